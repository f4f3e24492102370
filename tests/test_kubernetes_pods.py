"""Docker tier: the Kubernetes pod specs of generated projects, run with Podman.

For a SQLite project (web a StatefulSet that migrates in its init container, with the worker
beside it in its pod, its job queue in the database) and projects with
a database server, Redis and a worker (the migrate Job, web and worker Deployments): the image
is built from the project, the local overlay built with kustomize, and each pod played with
`podman kube play` (tests/podplay.py says what podman 4.3 needs done for it). Each pod must pass
its own probes, run as the image's user on a read-only root filesystem, reach its database
(/health/ready 200) and stop cleanly within its grace period. Databases and Redis run as plain
containers from the images compose uses; their StatefulSets are validated statically only.
"""

from __future__ import annotations

import shutil
from typing import Any

import pytest
import yaml

import dockerenv
import manifests
import podplay
from matrix import combo_id, default, fill, row

pytestmark = pytest.mark.docker

POD_COMBOS: list[dict[str, Any]] = [
    # The worker without Redis: huey's queue in SQLite, the worker beside web in its pod.
    {"kubernetes": True, "ocr": True, "worker": True, "http_port": 8000},
    {
        "kubernetes": True,
        "database": "postgresql",
        "redis": True,
        "worker": True,
        "python_version": "3.12",
        "http_port": 8080,
    },
    {
        "kubernetes": True,
        "database": "mysql",
        "wsgi_server": "uwsgi",
        "package_manager": "pip",
        "python_version": "3.11",
        "http_port": 9100,
    },
]


@pytest.fixture(scope="module", params=POD_COMBOS, ids=combo_id)
def played(request, render, docker, tmp_path_factory):
    """(cluster, answers, migration log): the local overlay's app pods running under Podman."""
    try:
        podplay.require_podman()
    except dockerenv.Unavailable as error:
        pytest.fail(f"docker tier cannot run: {error}")
    source = render(project_name=f"Pods {POD_COMBOS.index(request.param)}", **request.param)
    project = tmp_path_factory.mktemp("pods") / source.name
    shutil.copytree(source, project)
    answers = {"worker": False, **yaml.safe_load((project / ".copier-answers.yml").read_text())}
    slug = answers["project_slug"]
    image = yaml.safe_load((project / "compose.yaml").read_text())["x-app"]["image"]
    service = row("database", answers["database"])["service"]
    dockerenv.ensure_images(docker, dockerenv.images_named_by(project))
    docker.run("compose", "--progress", "plain", "build", cwd=project, timeout=1800)
    refs = [image] + ([service["image"]] if service else [])
    for ref in refs + ([default("redis_image")] if answers["redis"] else []):
        podplay.load_image(docker.cli, docker.env, ref)
    objects = manifests.build(project, "local")
    secrets = manifests.env_file(project / manifests.KUBERNETES / "overlays/local/secrets.env")
    with podplay.cluster(
        objects, tmp_path_factory.mktemp("podman"), slug.replace("_", "-")
    ) as cluster:
        # The in-cluster services of the local overlay, as the images compose runs.
        if service:
            password = secrets[service["password_variable"]]
            env = {
                k: fill(v, password=password, database=slug)
                for k, v in service["environment"].items()
            }
            ready = [fill(argument, database=slug) for argument in service["healthcheck"]]
            address = cluster.run_service(service["name"], service["image"], env, ready)
            cluster.serve(service["name"], address)
        if answers["redis"]:
            address = cluster.run_service(
                "redis", default("redis_image"), {}, ["redis-cli", "ping"]
            )
            cluster.serve("redis", address)
        migration_log = ""
        if service:  # the Job of this release, played as its pod, before web
            job = next(o for o in objects if o["kind"] == "Job")
            migration_log = cluster.wait_completed(cluster.play(job, "migrate"), "migrate")
        kind = "StatefulSet" if answers["database"] == "sqlite" else "Deployment"
        cluster.play(cluster.find(kind, "web"))
        if answers["worker"] and worker_pod(answers) == "worker":
            cluster.play(cluster.find("Deployment", "worker"))
        yield cluster, answers, migration_log
    docker.run("image", "rm", "-f", image, check=False)
    podplay.podman("rmi", "--force", image, check=False)


def worker_pod(answers: dict[str, Any]) -> str:
    """The pod the worker container runs in: web's with SQLite (it shares the file's volume)."""
    return "web" if answers["database"] == "sqlite" else "worker"


def test_migrations_ran_before_web(played):
    cluster, answers, log = played
    if answers["database"] == "sqlite":  # web's init container, gone once it succeeded
        body = cluster.pods["web"].wait_for("web", "readinessProbe")
        assert '"schema":"ok"' in body, body
    else:  # the release's Job, played as its pod
        assert "Running upgrade" in log, log  # the examples' first migration (0001)


def test_web_passes_its_probes_and_is_ready_against_its_services(played):
    cluster, answers, _ = played
    web = cluster.pods["web"]
    web.wait_for("web", "startupProbe")
    web.wait_for("web", "livenessProbe")
    body = web.wait_for("web", "readinessProbe")
    expected = ["database", "schema"] * (answers["database"] != "none") + ["redis"] * answers[
        "redis"
    ]
    expected += ["jobs"] * (answers["worker"] and not answers["redis"])  # huey's queue
    expected += ["ocr"] * answers["ocr"]
    for check in expected:
        assert f'"{check}":"ok"' in body, body


def test_pods_run_as_the_image_user_on_a_read_only_root(played):
    cluster, answers, _ = played
    for pod, container in [("web", "web")] + [(worker_pod(answers), "worker")] * answers["worker"]:
        played_pod = cluster.pods[pod]
        assert played_pod.exec(container, "id", "-u").stdout.strip() == "10001"
        denied = played_pod.exec(container, "touch", "/app/written", check=False)
        assert denied.returncode != 0 and "Read-only file system" in denied.stderr
        played_pod.exec(container, "python", "-c", "import tempfile; tempfile.mkstemp()")


def test_the_worker_passes_its_liveness_probe(played):
    cluster, answers, _ = played
    if not answers["worker"]:
        pytest.skip("not applicable: no worker in this project")
    cluster.pods[worker_pod(answers)].wait_for("worker", "livenessProbe", timeout=60)


def test_pods_stop_cleanly_within_their_grace_period(played):
    cluster, answers, _ = played
    for pod in dict.fromkeys([worker_pod(answers)] * answers["worker"] + ["web"]):
        grace = cluster.pods[pod].spec["terminationGracePeriodSeconds"]
        for container, (code, taken) in cluster.stop(cluster.pods[pod], grace).items():
            assert code in (0, 143), f"{pod}/{container} exited {code}"
            assert taken < grace, f"{pod} took {taken:.0f} s of its {grace} s"
