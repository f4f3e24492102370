"""Running a generated project's Kubernetes pod specs with Podman (`podman kube play`), the one
consumer of Kubernetes manifests available offline: Debian's podman 4.3.

What podman 4.3 cannot do is done here, the spec itself unchanged: it has no StatefulSet or
Job, so their pod templates are played as Pods (init containers with restartPolicy OnFailure:
4.3 re-runs them under Always); a Secret must be a podman secret (a JSON map of base64 values);
it does not expand `$(NAME)` in env values (the kubelet does, from envFrom's variables); there
is no cluster DNS, so `hostAliases` name the Services' addresses; and its probes become
`curl` healthchecks, which an image without curl cannot run, so the probes are evaluated here
against the pod's address, as the kubelet would.
"""

from __future__ import annotations

import base64
import json
import re
import shutil
import subprocess
import time
import urllib.error
import urllib.request
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml

from dockerenv import Unavailable


def podman(
    *args: str, check: bool = True, timeout: float = 300, **kwargs
) -> subprocess.CompletedProcess:
    result = subprocess.run(
        ["podman", *args], capture_output=True, text=True, timeout=timeout, **kwargs
    )
    assert not check or result.returncode == 0, (
        f"podman {' '.join(args)} failed ({result.returncode}):\n{result.stdout}\n{result.stderr}"
    )
    return result


def require_podman() -> None:
    if not shutil.which("podman"):
        raise Unavailable("podman is not installed (apt-get install podman catatonit; .ci/setup)")
    info = podman("info", "--format", "json", check=False)
    if info.returncode != 0:
        raise Unavailable(f"podman does not run here: {info.stderr.strip()}")


def load_image(docker_cli: str, env: dict[str, str], image: str) -> None:
    """Copy an image from Docker's store into Podman's (`docker save | podman load`)."""
    save = subprocess.Popen([docker_cli, "save", image], env=env, stdout=subprocess.PIPE)
    load = subprocess.run(
        ["podman", "load", "--quiet"], stdin=save.stdout, capture_output=True, timeout=600
    )
    save.stdout.close()
    assert save.wait() == 0 and load.returncode == 0, f"{image}: {load.stderr.decode()}"


@dataclass
class PlayedPod:
    name: str
    spec: dict[str, Any]
    address: str = ""
    containers: list[str] = field(default_factory=list)

    def container(self, name: str) -> str:
        return f"{self.name}-{name}"

    def exec(
        self, container: str, *command: str, check: bool = True
    ) -> subprocess.CompletedProcess:
        return podman("exec", self.container(container), *command, check=check)

    def port(self, container: dict[str, Any], port: int | str) -> int:
        if isinstance(port, int):
            return port
        return next(p["containerPort"] for p in container["ports"] if p["name"] == port)

    def probe(self, container_name: str, kind: str) -> tuple[bool, str]:
        """Run a container's probe of `kind` (startupProbe, livenessProbe, readinessProbe)
        once: (passed, what it got)."""
        container = next(c for c in self.spec["containers"] if c["name"] == container_name)
        probe = container[kind]
        if "httpGet" in probe:
            get = probe["httpGet"]
            url = f"http://{self.address}:{self.port(container, get['port'])}{get['path']}"
            try:
                with urllib.request.urlopen(url, timeout=probe.get("timeoutSeconds", 1)) as r:  # noqa: S310
                    return 200 <= r.status < 400, f"{r.status} {r.read()[:200]!r}"
            except urllib.error.HTTPError as error:
                return False, f"{error.code} {error.read()[:300]!r}"
            except OSError as error:
                return False, str(error)
        if "exec" in probe:
            result = self.exec(container_name, *probe["exec"]["command"], check=False)
            return result.returncode == 0, (result.stdout + result.stderr)[-300:]
        if "tcpSocket" in probe:
            import socket

            port = self.port(container, probe["tcpSocket"]["port"])
            try:
                socket.create_connection((self.address, port), timeout=2).close()
                return True, "connected"
            except OSError as error:
                return False, str(error)
        raise AssertionError(f"unknown probe {probe}")

    def wait_for(self, container_name: str, kind: str, timeout: float = 90) -> str:
        deadline = time.monotonic() + timeout
        got = ""
        while time.monotonic() < deadline:
            passed, got = self.probe(container_name, kind)
            if passed:
                return got
            state = podman(
                "inspect", self.container(container_name), "--format", "{{.State.Status}}"
            )
            if state.stdout.strip() in ("exited", "stopped"):
                break
            time.sleep(1)
        logs = podman("logs", self.container(container_name), check=False)
        raise AssertionError(
            f"{self.name}/{container_name}: {kind} did not pass: {got}\n{logs.stdout}{logs.stderr}"
        )


def as_pod(obj: dict[str, Any], claim_prefix: str) -> dict[str, Any]:
    """A workload's pod template as a Pod (its volume claim templates as named claims)."""
    spec = json.loads(json.dumps(obj["spec"]["template"]["spec"]))
    for claim in obj["spec"].get("volumeClaimTemplates", []):
        name = claim["metadata"]["name"]
        spec.setdefault("volumes", []).append(
            {"name": name, "persistentVolumeClaim": {"claimName": f"{claim_prefix}-{name}"}}
        )
    if spec.get("initContainers"):
        spec["restartPolicy"] = "OnFailure"
    return {
        "apiVersion": "v1",
        "kind": "Pod",
        "metadata": {
            "name": obj["metadata"]["name"],
            "labels": obj["spec"]["template"]["metadata"]["labels"],
        },
        "spec": spec,
    }


class Cluster:
    """The objects of one built overlay, played pod by pod; everything removed on exit."""

    def __init__(self, objects: list[dict[str, Any]], workdir: Path, prefix: str) -> None:
        self.objects = objects
        self.workdir = workdir
        self.prefix = prefix
        self.pods: dict[str, PlayedPod] = {}
        self.hosts: dict[str, str] = {}
        self.secrets: list[str] = []
        self.files: list[Path] = []
        self.containers: list[str] = []

    def find(self, kind: str, name: str) -> dict[str, Any]:
        return next(o for o in self.objects if o["kind"] == kind and o["metadata"]["name"] == name)

    def create_secrets(self) -> None:
        for secret in (o for o in self.objects if o["kind"] == "Secret"):
            name = secret["metadata"]["name"]
            path = self.workdir / f"{name}.json"
            path.write_text(json.dumps(secret.get("data", {})))
            podman("secret", "rm", name, check=False)
            podman("secret", "create", name, str(path))
            self.secrets.append(name)

    def play(self, obj: dict[str, Any], pod_name: str | None = None) -> PlayedPod:
        """Play a workload (Deployment, StatefulSet, Job) as one Pod, with the ConfigMaps and
        the Services' pods it may reach."""
        pod = as_pod(obj, self.prefix)
        pod["metadata"]["name"] = pod_name or pod["metadata"]["name"]
        if obj["kind"] == "Job":
            pod["spec"]["restartPolicy"] = "Never"
        if self.hosts:
            pod["spec"]["hostAliases"] = [
                {"ip": ip, "hostnames": [host]} for host, ip in self.hosts.items()
            ]
        configmaps = [o for o in self.objects if o["kind"] == "ConfigMap"]
        self.expand_env(pod["spec"])
        path = self.workdir / f"{pod['metadata']['name']}.yaml"
        path.write_text(yaml.safe_dump_all([*configmaps, pod]))
        self.files.append(path)
        podman("kube", "play", str(path), timeout=600)
        played = PlayedPod(pod["metadata"]["name"], pod["spec"])
        infra = podman("pod", "inspect", played.name, "--format", "{{.InfraContainerID}}")
        played.address = podman(
            "inspect",
            infra.stdout.strip(),
            "--format",
            "{{range .NetworkSettings.Networks}}{{.IPAddress}}{{end}}",
        ).stdout.strip()
        self.pods[played.name] = played
        return played

    def expand_env(self, spec: dict[str, Any]) -> None:
        """$(NAME) in env values, from the ConfigMaps' and Secrets' variables (the kubelet's
        dependent environment variables)."""
        variables: dict[str, str] = {}
        for obj in self.objects:
            if obj["kind"] == "ConfigMap":
                variables.update(obj.get("data", {}))
            elif obj["kind"] == "Secret":
                decoded = {k: base64.b64decode(v).decode() for k, v in obj.get("data", {}).items()}
                variables.update(decoded)
        for container in spec["containers"] + spec.get("initContainers", []):
            for entry in container.get("env", []):
                if "value" in entry:
                    entry["value"] = re.sub(
                        r"\$\((\w+)\)", lambda m: variables.get(m[1], m[0]), entry["value"]
                    )

    def serve(self, service_name: str, address: str) -> None:
        """What the Service `service_name` resolves to, for the pods played after this."""
        self.hosts[service_name] = address

    def run_service(self, name: str, image: str, env: dict[str, str], ready: list[str]) -> str:
        """A database or Redis as a plain container (as compose runs it): its address, once
        `ready` (a command run inside it) succeeds."""
        container = f"{self.prefix}-{name}"
        podman("rm", "--force", container, check=False)
        args = [arg for key, value in env.items() for arg in ("--env", f"{key}={value}")]
        podman("run", "--detach", "--name", container, *args, image)
        self.containers.append(container)
        deadline = time.monotonic() + 120
        while podman("exec", container, *ready, check=False).returncode != 0:
            assert time.monotonic() < deadline, podman("logs", container, check=False).stderr
            time.sleep(1)
        return podman(
            "inspect",
            container,
            "--format",
            "{{range .NetworkSettings.Networks}}{{.IPAddress}}{{end}}",
        ).stdout.strip()

    def wait_completed(self, pod: PlayedPod, container: str, timeout: float = 180) -> str:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            state = podman(
                "inspect",
                pod.container(container),
                "--format",
                "{{.State.Status}} {{.State.ExitCode}}",
            ).stdout.split()
            if state[0] in ("exited", "stopped"):
                logs = podman("logs", pod.container(container), check=False)
                assert state[1] == "0", f"{pod.name}/{container} exited {state[1]}:\n{logs.stderr}"
                return logs.stdout + logs.stderr
            time.sleep(1)
        raise AssertionError(f"{pod.name}/{container} still running after {timeout} s")

    def stop(self, pod: PlayedPod, grace: int) -> dict[str, tuple[int, float]]:
        """Stop a pod as the kubelet does (preStop, then SIGTERM, SIGKILL after the grace
        period): {container: (exit code, seconds taken)}."""
        started = time.monotonic()
        for container in pod.spec["containers"]:
            hook = container.get("lifecycle", {}).get("preStop", {}).get("exec")
            if hook:
                pod.exec(container["name"], *hook["command"])
        podman("pod", "stop", "--time", str(grace), pod.name, timeout=grace + 60)
        taken = time.monotonic() - started
        codes = {}
        for container in pod.spec["containers"]:
            code = podman(
                "inspect", pod.container(container["name"]), "--format", "{{.State.ExitCode}}"
            )
            codes[container["name"]] = (int(code.stdout.strip()), taken)
        return codes

    def close(self) -> None:
        for path in reversed(self.files):
            podman("kube", "down", str(path), check=False)
        for name in self.secrets:
            podman("secret", "rm", name, check=False)
        for container in self.containers:
            podman("rm", "--force", container, check=False)
        podman("volume", "prune", "--force", check=False)


@contextmanager
def cluster(objects: list[dict[str, Any]], workdir: Path, prefix: str) -> Iterator[Cluster]:
    played = Cluster(objects, workdir, prefix)
    played.create_secrets()
    try:
        yield played
    finally:
        played.close()
