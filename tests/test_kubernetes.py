"""Kubernetes manifests (kubernetes=true) for every covering-set combination that has them:
each overlay builds with kustomize, validates against the newest and the oldest supported
Kubernetes API (unknown fields refused), passes checkov except the rules its docs list with a
reason (each of which it really breaks), meets the restricted Pod Security Standard, and
matches what its docs and .env.example say. The docker tier runs the pod specs with Podman.
"""

from __future__ import annotations

import re
from pathlib import Path

import pytest
import yaml

import manifests
from matrix import COMBOS, combo_id, default, row

KUBERNETES_COMBOS = [combo for combo in COMBOS if combo.get("kubernetes")]


@pytest.fixture(scope="module", params=KUBERNETES_COMBOS, ids=combo_id)
def built(request, render, tmp_path_factory) -> tuple[Path, dict, dict[str, list[dict]]]:
    """(project, answers, {overlay: objects}) of one combination."""
    project = render(**request.param)
    answers = yaml.safe_load((project / ".copier-answers.yml").read_text())
    buildable = manifests.with_production_secrets(project)
    return project, answers, {o: manifests.build(buildable, o) for o in manifests.OVERLAYS}


def test_the_combinations_cover_every_answer_with_kubernetes():
    for question in ("database", "wsgi_server", "package_manager"):
        chosen = {combo.get(question) for combo in KUBERNETES_COMBOS}
        assert len(chosen - {None}) >= 2, f"kubernetes=true combinations vary {question} too little"
    assert any(c.get("worker") for c in KUBERNETES_COMBOS)
    assert any(c.get("ocr") for c in KUBERNETES_COMBOS)


@pytest.mark.parametrize("overlay", manifests.OVERLAYS)
def test_overlays_validate_against_the_api_schemas(built, overlay, tmp_path):
    _, _, objects = built
    manifest = tmp_path / f"{overlay}.yaml"
    manifest.write_text(yaml.safe_dump_all(objects[overlay]))
    for version in manifests.schema_versions():
        manifests.validate(manifest, version)


@pytest.mark.parametrize("overlay", manifests.OVERLAYS)
def test_checkov_passes_but_for_the_documented_rules(built, overlay, tmp_path):
    project, _, objects = built
    manifest = tmp_path / f"{overlay}.yaml"
    manifest.write_text(yaml.safe_dump_all(objects[overlay]))
    failed = manifests.checkov_failures(manifest)
    documented = manifests.documented_skips(project)
    assert set(failed) <= documented, {rule: failed[rule] for rule in set(failed) - documented}


def test_every_documented_checkov_exception_is_needed(built, tmp_path):
    project, _, objects = built
    failed: set[str] = set()
    for overlay in manifests.OVERLAYS:
        manifest = tmp_path / f"{overlay}.yaml"
        manifest.write_text(yaml.safe_dump_all(objects[overlay]))
        failed |= set(manifests.checkov_failures(manifest))
    assert manifests.documented_skips(project) <= failed, "docs list a rule nothing breaks"


def pod_specs(objects: list[dict]) -> list[tuple[str, dict]]:
    return [
        (f"{obj['kind']}/{obj['metadata']['name']}", obj["spec"]["template"]["spec"])
        for obj in objects
        if obj["kind"] in ("Deployment", "StatefulSet", "Job")
    ]


@pytest.mark.parametrize("overlay", manifests.OVERLAYS)
def test_every_pod_meets_the_restricted_pod_security_standard(built, overlay):
    _, _, objects = built
    for name, spec in pod_specs(objects[overlay]):
        pod = spec["securityContext"]
        assert pod["runAsNonRoot"] is True and pod["runAsUser"] > 0, name
        assert pod["seccompProfile"]["type"] == "RuntimeDefault", name
        assert spec["automountServiceAccountToken"] is False, name
        for container in spec["containers"] + spec.get("initContainers", []):
            security = container["securityContext"]
            assert security["allowPrivilegeEscalation"] is False, name
            assert security["readOnlyRootFilesystem"] is True, name
            assert security["capabilities"]["drop"] == ["ALL"], name
            assert container["resources"]["limits"]["memory"], name
    namespace = next(obj for obj in objects[overlay] if obj["kind"] == "Namespace")
    assert namespace["metadata"]["labels"]["pod-security.kubernetes.io/enforce"] == "restricted"


def test_app_pods_run_the_image_as_its_user_with_its_probes_and_stop_in_time(built):
    project, answers, objects = built
    dockerfile = (project / "Dockerfile").read_text()
    assert "USER 10001:10001" in dockerfile
    for name, spec in pod_specs(objects["production"]):
        assert spec["securityContext"]["runAsUser"] == 10001, name
    web = next(
        o
        for o in objects["production"]
        if o["metadata"]["name"] == "web" and "template" in o.get("spec", {})
    )
    pod = web["spec"]["template"]["spec"]
    server = pod["containers"][0]
    assert server["livenessProbe"]["httpGet"]["path"] == "/health"
    assert server["startupProbe"]["httpGet"]["path"] == "/health"
    assert server["readinessProbe"]["httpGet"]["path"] == "/health/ready"
    assert server["ports"][0]["containerPort"] == int(answers["http_port"])
    pause = int(server["lifecycle"]["preStop"]["exec"]["command"][1])
    graceful = default("settings")["GRACEFUL_TIMEOUT"]["default"]
    assert pod["terminationGracePeriodSeconds"] > pause + graceful
    if answers["database"] == "sqlite":
        assert web["kind"] == "StatefulSet" and web["spec"]["replicas"] == 1
        assert pod["initContainers"][0]["command"][-3:] == ["db", "upgrade", "head"]
    else:
        assert web["kind"] == "Deployment" and web["spec"]["replicas"] >= 2
        assert pod["topologySpreadConstraints"]


def test_one_migration_job_per_release_named_after_the_image_tag(built):
    _, answers, objects = built
    for overlay in manifests.OVERLAYS:
        jobs = [o for o in objects[overlay] if o["kind"] == "Job"]
        if not row("database", answers["database"])["service"]:
            assert jobs == [], f"{answers['database']}: migrations run in the pod, no Job"
            continue
        (job,) = jobs
        image = job["spec"]["template"]["spec"]["containers"][0]["image"]
        assert job["metadata"]["name"] == "migrate-" + image.rsplit(":", 1)[1]
        assert job["spec"]["ttlSecondsAfterFinished"] > 0
        assert job["spec"]["template"]["spec"]["containers"][0]["command"][-2:] == [
            "upgrade",
            "head",
        ]


def test_the_docs_list_exactly_the_objects_each_overlay_makes(built):
    project, _, objects = built
    documented = manifests.documented_objects(project)
    for overlay in manifests.OVERLAYS:
        assert manifests.object_names(objects[overlay]) == documented[overlay], overlay


def test_settings_match_env_example_and_no_secret_is_committed(built):
    project, answers, objects = built
    example = (project / ".env.example").read_text()
    documented = manifests.env_file(project / ".env.example")
    secret_names = {
        name
        for name in documented
        if f"\n{name}=" in example and _block_of(example, name).count("Secret: yes")
    }
    config = manifests.env_file(project / manifests.KUBERNETES / "base" / "config.env")
    service = row("database", answers["database"])["service"]
    in_secret = {"SECRET_KEY"} | ({"DATABASE_URL"} if service else set())
    in_secret |= {"REDIS_URL"} if answers["redis"] else set()
    # What only compose reads (published ports and addresses, the proxy's and the database
    # service's settings): the variables of compose.yaml that the app's code never reads.
    compose = set(re.findall(r"\$\{([A-Z_]+)[:}]", (project / "compose.yaml").read_text()))
    app_code = "".join(p.read_text() for p in (project / "src").rglob("*.py"))
    compose_only = {name for name in compose if f'"{name}"' not in app_code}
    assert set(config) | in_secret | compose_only == set(documented)
    assert not set(config) & in_secret
    # Container values where compose sets its own too; .env.example's defaults elsewhere.
    container_values = {
        "HOST",
        "DATA_DIR",
        "TRUSTED_PROXIES",
        "DATABASE_URL",
        "UPLOAD_DIR",
        "LOG_FORMAT",
    }
    for name, value in config.items():
        if name not in container_values:
            assert value == documented[name], (
                f"{name}: {value} here, {documented[name]} in .env.example"
            )
    assert secret_names <= in_secret | compose_only
    # Production's Secret comes from a git-ignored file; the local one was generated.
    gitignore = (project / manifests.KUBERNETES / ".gitignore").read_text()
    assert "overlays/*/secrets.env" in gitignore.splitlines()
    local = manifests.env_file(project / manifests.KUBERNETES / "overlays/local/secrets.env")
    assert len(local["SECRET_KEY"]) >= 40 and local["SECRET_KEY"] != "change-me"
    assert not (project / manifests.KUBERNETES / "overlays/production/secrets.env").exists()
    secrets = [o for o in objects["local"] if o["kind"] == "Secret"]
    assert len(secrets) == 1 and set(secrets[0]["data"]) == set(local)


def _block_of(example: str, name: str) -> str:
    """The comment block above NAME= in .env.example."""
    before = example.split(f"\n{name}=", 1)[0]
    return before.rsplit("\n\n", 1)[-1]


def test_the_production_overlay_runs_the_image_from_the_registry_answered(built):
    project, answers, objects = built
    registry = answers["registry"] or "registry.example.com"
    app = answers["project_slug"].replace("_", "-")
    images = {
        container["image"]
        for _, spec in pod_specs(objects["production"])
        for container in spec["containers"] + spec.get("initContainers", [])
    }
    assert images == {f"{registry}/{app}:0.1.0"}
    overlay = (
        project / manifests.KUBERNETES / "overlays/production/kustomization.yaml"
    ).read_text()
    assert ("CHANGE ME: where CI pushes the image" in overlay) == (not answers["registry"])


def test_the_production_docs_name_where_the_generated_ci_pushes_the_image(built):
    project, answers, _ = built
    docs = (project / "docs" / "kubernetes.md").read_text()
    pushed_to = {"github": "`ghcr.io/<owner>/<repository>`", "gitlab": "`$CI_REGISTRY_IMAGE`"}
    for ci, target in pushed_to.items():
        assert (target in docs) == (answers["ci"] == ci), ci
    app = answers["project_slug"].replace("_", "-")
    mismatch_hint = f"if that is not\n   `{answers['registry']}/{app}`"
    assert (mismatch_hint in docs) == bool(answers["registry"] and answers["ci"] != "none")
