"""Fast tier: render the covering set and check every generated file statically."""

from __future__ import annotations

import configparser
import json
import re
import stat
import sys
import tomllib
from pathlib import Path

import pytest
import yaml

import manifests
import typecheck
from adoption import FACTORY_SECTION
from helpers import (
    DEVCONTAINER_CLI,
    container_static_checks,
    first_block,
    lint_python,
    run,
    text_files,
)
from manifests import kubernetes_files
from matrix import (
    COMBOS,
    DERIVED_TABLES,
    EXCLUDED,
    TABLES,
    choices,
    combo_id,
    default,
    fill,
    holds,
    job_backend,
    option_words,
    table,
)

# Questions every project answers (ocr_languages is asked only with ocr, admin_ui only with a
# database server).
RECORDED_QUESTIONS = (
    "python_version",
    "package_manager",
    "wsgi_server",
    "database",
    "redis",
    "worker",
    "ocr",
    "reverse_proxy",
    "http_port",
    "examples",
    "metrics",
    "kubernetes",
    "registry",
    "ci",
)


def answers_of(combo: dict) -> dict:
    merged = {name: default(name) for name in RECORDED_QUESTIONS}
    merged.update({"admin_ui": False, "ocr_languages": ["eng"]})
    merged.update(combo)
    merged["job_backend"] = job_backend(merged)
    return merged


def expected_paths(a: dict, slug: str) -> tuple[set[str], set[str]]:
    """(paths that must exist, paths that must not) for answers `a`."""
    pkg = f"src/{slug}"
    has_db = a["database"] != "none"
    wanted = {
        ".copier-answers.yml": True,
        ".env": True,
        ".env.example": True,
        ".gitignore": True,
        "README.md": True,
        "docs/docker.md": True,
        "docs/dockerfile.md": True,
        "docs/quick-reference.md": True,
        "docs/existing-app.md": True,
        "docs/adr/0001-containerization.md": True,
        "pyproject.toml": True,
        "src/app.py": True,
        "tests/conftest.py": True,
        "tests/test_health.py": True,
        "uv.lock": a["package_manager"] == "uv",
        "requirements.txt": a["package_manager"] == "pip",
        "requirements-dev.txt": a["package_manager"] == "pip",
        f"{pkg}/migrations/env.py": has_db,
        f"{pkg}/migrations/script.py.mako": has_db,
        f"{pkg}/migrations/versions/0001_create_notes.py": has_db and a["examples"],
        f"{pkg}/migrations/versions/.gitkeep": has_db and not a["examples"],
        "tests/test_notes.py": has_db and a["examples"],
        "tests/test_migrations.py": has_db,
        "tests/test_jobs.py": a["worker"],
        # The app's static files, which the proxy serves itself.
        f"{pkg}/static/.gitkeep": a["reverse_proxy"] != "none",
        "tests/test_metrics.py": a["metrics"],
        "tests/test_ocr.py": a["ocr"],
        "Dockerfile": True,
        "compose.yaml": True,
        "compose.watch.yaml": True,
        ".dockerignore": True,
        ".pre-commit-config.yaml": True,
        ".devcontainer/devcontainer.json": True,
        ".devcontainer/compose.yaml": True,
        ".devcontainer/Dockerfile": True,
        ".python-version": a["package_manager"] == "uv",
        "compose.local.yaml": bool(table("database")[a["database"]]["service"]) or a["redis"],
        ".hadolint.yaml": a["ocr"],  # only the OCR stage installs apt packages (DL3008)
        "docs/kubernetes.md": a["kubernetes"],
        ".github/workflows/ci.yml": a["ci"] == "github",
        ".github/workflows/release.yml": a["ci"] == "github",
        ".github/workflows/template-update.yml": a["ci"] == "github",
        ".github/dependabot.yml": a["ci"] == "github",
        ".gitlab-ci.yml": a["ci"] == "gitlab",
        "docs/ci.md": a["ci"] != "none",
    }
    wanted.update(dict.fromkeys(kubernetes_files(a), a["kubernetes"]))
    # The package's modules: tables/modules.yml (a folder's files are listed above).
    for module, facts in default("own_modules").items():
        if not module.endswith("/"):
            wanted[f"{pkg}/{module}"] = holds(facts.get("when"), a)
    # Each server's own settings file (serve.py is shared by two of them), each proxy's.
    for server, facts in table("wsgi_server").items():
        path = fill(facts["settings_file"], package=slug)
        wanted[path] = wanted.get(path, False) or a["wsgi_server"] == server
    for proxy, facts in table("reverse_proxy").items():
        if facts["settings_file"]:
            wanted[facts["settings_file"]] = a["reverse_proxy"] == proxy
    return {p for p, w in wanted.items() if w}, {p for p, w in wanted.items() if not w}


# Words that may only appear when the option they belong to was chosen.
UNCHOSEN_WORDS = {
    **{
        (question, answer): option_words(question, answer)
        for question in (*TABLES, *DERIVED_TABLES)
        for answer in table(question)
        if answer != "none"
    },
    ("redis", True): r"redis",
    ("worker", True): r"JOB_QUEUE|worker\.py|background worker",
    ("ocr", True): r"tesseract|\bocr\b|\buploads\b",
    ("admin_ui", True): r"adminer|ADMIN_UI|admin UI|--profile tools",
    ("metrics", True): r"prometheus|METRICS_PORT|/metrics|metrics\.py",
    ("examples", True): r"/api/(notes|jobs|ocr)|note_model|word_count|word.count",
    ("kubernetes", True): r"deploy/kubernetes|kubernetes\.md|kustomiz|kubectl|^deploy$",
    ("ci", "github"): r"\.github|GitHub Actions|dependabot",
    ("ci", "gitlab"): r"\.gitlab-ci|GitLab",
}


@pytest.fixture(scope="module", params=COMBOS, ids=combo_id)
def project(request, render) -> tuple[Path, dict]:
    return render(**request.param), answers_of(request.param)


def test_expected_files_present_and_absent(project):
    path, answers = project
    slug = answers_of_slug(path)
    present, absent = expected_paths(answers, slug)
    files = {p.relative_to(path).as_posix() for p in path.rglob("*") if p.is_file()}
    assert present <= files, f"missing: {sorted(present - files)}"
    assert not (absent & files), f"unexpected for these answers: {sorted(absent & files)}"
    # Nothing else either: a template helper or a stray file would land in every project.
    assert files == present, f"not part of the project: {sorted(files - present)}"


def test_the_adoption_guide_names_the_packages_modules(project):
    """docs/existing-app.md lists the names the package takes, and mypy's strict modules: the
    package's modules and folders as rendered (the app's static files apart)."""
    path, _ = project
    slug = answers_of_slug(path)
    package = path / "src" / slug
    rendered = {
        p.name + ("/" if p.is_dir() else "")
        for p in package.iterdir()
        if p.name not in ("static", "__pycache__")
    }
    guide = (path / "docs" / "existing-app.md").read_text()
    names = re.search(
        r"Names this project uses in\s+`src/[^`]+/`: (.*?)\.\s+Its\s+plumbing", guide, re.S
    )
    assert names, "the guide no longer lists the package's names"
    assert set(re.findall(r"`([^`]+)`", names[1])) == rendered
    strict = re.search(r"module = \[\n((?:    \"[^\"]+\",\n)+)\]", guide)
    assert strict, "the guide's strict mypy modules"
    # A folder: its modules; but of migrations/ only env.py (an adopted app's revisions are its).
    expected = {
        f"{slug}.migrations.env"
        if name == "migrations/"
        else f"{slug}.{name.rstrip('/')}" + (".*" if name.endswith("/") else "")
        for name in rendered
    }
    expected = {name.removesuffix(".py") for name in expected} - {f"{slug}.__init__"}
    assert set(re.findall(r'"([^"]+)"', strict[1])) == expected


# Module names apps commonly give their own code (issue 22): none is the project's.
USUAL_APP_MODULES = (
    "api",
    "auth",
    "cli",
    "config",
    "db",
    "email",
    "errors",
    "extensions",
    "forms",
    "main",
    "models",
    "tasks",
)


def test_the_packages_top_level_leaves_the_usual_app_module_names_free(project):
    """An app brought in keeps its own `config.py`, `cli.py`, `models.py`, ...: the project's
    plumbing lives in the package's `berth/` subpackage."""
    path, _ = project
    package = path / "src" / answers_of_slug(path)
    taken = sorted(
        name
        for name in USUAL_APP_MODULES
        if (package / f"{name}.py").exists() or (package / name).is_dir()
    )
    assert taken == [], f"the project takes {taken} at the top of its package"
    assert (package / "berth" / "__init__.py").is_file()


def answers_of_slug(path: Path) -> str:
    return yaml.safe_load((path / ".copier-answers.yml").read_text())["project_slug"]


def test_no_leftover_jinja_and_no_unchosen_option(project):
    path, answers = project
    for file, text in text_files(path):
        if file.name in (
            "uv.lock",
            "requirements.txt",
            "requirements-dev.txt",
            ".copier-answers.yml",
        ):
            continue
        # Not Jinja: docker's --format '{{json .X}}', and in GitHub workflows their own
        # expressions (${{ github.ref }}) and docker/metadata-action's patterns ({{version}}).
        own_syntax = re.sub(r"\{\{(json )?\.[\w.]+\}\}", "", text)
        # Not Jinja either: the end of a JSON object in an object (the proxies' 413 body).
        own_syntax = own_syntax.replace('"}}', "")
        if ".github" in file.parts:
            own_syntax = re.sub(r"\$\{\{ [^}]+ \}\}|\{\{version\}\}", "", own_syntax)
        assert not re.search(r"\{\{|\}\}|\{%|%\}", own_syntax), f"Jinja left in {file}"
        # Which documented commands berth's tests run is theirs to know, not the docs' to mark.
        assert "<!-- berth" not in text, f"a marker of berth's tests left in {file}"
        if file.parent.name == "adr":  # an ADR may name the options it did not choose ...
            text = text.split("## Alternatives considered")[0]  # ... in that section only
        # The guide's worked example is a third-party app's code, whatever the answers.
        if file.name == "existing-app.md":
            text = text.replace(first_block(text, FACTORY_SECTION, "python"), "")
        for (question, value), pattern in UNCHOSEN_WORDS.items():
            if answers[question] == value:
                continue
            found = re.search(pattern, text, re.IGNORECASE | re.MULTILINE)
            assert not found, (
                f"{file.relative_to(path)} mentions {found[0]!r} ({question}={answers[question]!r})"
            )


def test_structured_files_parse(project):
    path, _ = project
    for file, text in text_files(path):
        if file.suffix in (".yml", ".yaml"):
            list(yaml.safe_load_all(text))  # manifests hold several documents
        elif file.suffix == ".toml" or file.name == "uv.lock":
            tomllib.loads(text)
        elif file.suffix == ".json":
            json.loads(text)
        elif file.suffix == ".ini":
            configparser.ConfigParser(strict=False, interpolation=None).read_string(text)


def test_python_compiles_and_ruff_is_clean(project):
    path, answers = project
    lint_python(path)


@pytest.fixture(scope="session")
def typing_environment(render, tmp_path_factory):
    """One environment with what every project of the covering set depends on."""
    projects = [render(**combo) for combo in COMBOS]
    return typecheck.environment(projects, tmp_path_factory.mktemp("typing") / "venv")


def test_python_type_checks_with_the_projects_own_mypy_settings(
    project, typing_environment, tmp_path_factory
):
    path, _ = project
    typecheck.check(path, typing_environment, tmp_path_factory.getbasetemp() / "mypy-cache")


def test_the_devcontainer_configuration_reads(project):
    """The Dev Containers CLI reads .devcontainer: a dev service beside the project's own
    services (the docker tier starts it)."""
    path, answers = project
    assert DEVCONTAINER_CLI.exists(), f"{DEVCONTAINER_CLI} is missing: run .ci/setup"
    result = run([str(DEVCONTAINER_CLI), "read-configuration", "--workspace-folder", str(path)])
    config = json.loads(result.stdout)["configuration"]
    assert (config["service"], config["workspaceFolder"]) == ("dev", "/workspace")
    service = table("database")[answers["database"]]["service"]
    services = ([service["name"]] if service else []) + (["redis"] if answers["redis"] else [])
    assert config["runServices"] == ["dev", *services]
    assert config["dockerComposeFile"] == ["../compose.yaml", "compose.yaml"]


def test_dockerfile_hadolint_and_compose_config_are_clean(project):
    path, _ = project
    container_static_checks(path)


def test_lock_is_complete_and_pinned(project):
    path, answers = project
    pyproject = tomllib.loads((path / "pyproject.toml").read_text())
    assert pyproject["project"]["requires-python"] == f">={answers['python_version']}"
    direct = {re.split(r"[<>=\[ ]", d)[0].lower() for d in pyproject["project"]["dependencies"]}
    if answers["package_manager"] == "uv":
        lock = tomllib.loads((path / "uv.lock").read_text())
        locked = {p["name"] for p in lock["package"]}
        assert lock["requires-python"] == f">={answers['python_version']}"
        assert direct <= locked
        assert {"pytest", "ruff"} <= locked
    else:
        for name, extra in (
            ("requirements.txt", set()),
            ("requirements-dev.txt", {"pytest", "ruff"}),
        ):
            text = (path / name).read_text()
            entries = re.findall(
                r"^([A-Za-z0-9_.\-\[\]]+)==(\S+)(?: ; [^\\\n]+)? \\\n"  # name==version ; marker \
                r"((?:\s+--hash=sha256:\w+(?: \\)?\n)+)",  # --hash=sha256:... \
                text,
                re.MULTILINE,
            )
            names = {e[0].lower().split("[")[0] for e in entries}
            requirement_lines = [
                line for line in text.splitlines() if line and not line.startswith((" ", "#"))
            ]
            assert len(requirement_lines) == len(entries), f"unpinned or unhashed lines in {name}"
            assert direct | extra <= names, f"{name} lacks {sorted(direct | extra - names)}"
            assert f"--python-version {answers['python_version']}" in text


def test_env_has_generated_secrets_and_is_private(project):
    path, answers = project
    env = dict(
        line.split("=", 1)
        for line in (path / ".env").read_text().splitlines()
        if line and not line.startswith("#")
    )
    assert len(env["SECRET_KEY"]) >= 40 and env["SECRET_KEY"] != "change-me"
    service = table("database")[answers["database"]]["service"]
    if service:
        assert len(env[service["password_variable"]]) >= 40
    assert stat.S_IMODE((path / ".env").stat().st_mode) == 0o600
    assert ".env\n" in (path / ".gitignore").read_text()


def test_every_variable_read_is_documented_and_vice_versa(project):
    path, _ = project
    read = set()
    for file in path.rglob("*.py"):
        read |= set(re.findall(r"""(?:environ|env)\.get\(\s*["']([A-Z_]+)["']""", file.read_text()))
        read |= set(re.findall(r"""_(?:int|bool)\(env, ["']([A-Z_]+)["']""", file.read_text()))
    ini = path / "uwsgi.ini"
    if ini.exists():
        read |= set(re.findall(r"if-(?:not-)?env = (\w+)", ini.read_text()))
    # compose.yaml's own variables (${NAME}, ${NAME:-default}, ${NAME:?error}).
    read |= set(re.findall(r"\$\{([A-Z_]+)[:}]", (path / "compose.yaml").read_text()))
    documented = set(re.findall(r"^([A-Z][A-Z0-9_]*)=", (path / ".env.example").read_text(), re.M))
    # Variables only for the test suite, documented in the generated README instead; the one
    # Flask's command line sets for the app.
    for_tests = {name for name in read if name.startswith("TEST_")}
    named = set(re.findall(r"`(TEST_[A-Z_]+)`", (path / "README.md").read_text()))
    assert named == for_tests, f"README names {sorted(named)}; the tests read {sorted(for_tests)}"
    read -= for_tests | {"PYENV_ROOT", "FLASK_RUN_FROM_CLI"}
    assert read == documented, f"undocumented: {read - documented}; unused: {documented - read}"


def test_each_settings_default_is_the_settings_tables(project):
    """tables/settings.yml holds each setting's default once: .env.example lists its rows in the
    table's order (besides compose's own variables), and .env.example, config.py, the servers'
    settings, the image and the Kubernetes ConfigMap write the values the table gives."""
    path, _ = project
    settings = default("settings")

    def literal(value: object) -> str | None:
        """A default as an env file writes it; None for a placeholder or no default."""
        if value is None or "{" in str(value):
            return None
        return str(value).lower() if isinstance(value, bool) else str(value)

    example = manifests.env_file(path / ".env.example")
    compose = (path / "compose.yaml").read_text()
    listed = [name for name in example if name in settings]
    assert listed == [name for name in settings if name in listed], "not in the table's order"
    for name in set(example) - set(settings):
        assert f"${{{name}" in compose, f"{name}: neither a setting nor a compose variable"
    for name in listed:
        if literal(settings[name]["default"]) is not None:
            assert example[name] == literal(settings[name]["default"]), name
    # The code's fallbacks: config.py's, the servers' and the dev server's.
    code = "\n".join(p.read_text() for p in path.rglob("*.py"))
    get = r"""(?:env|environ)\.get\(\s*["']([A-Z_]+)["'],\s*["']([^"']*)["']"""
    typed = r"""_(?:int|bool)\(env, "([A-Z_]+)", (\w+)\)"""
    fallbacks = re.findall(get, code) + re.findall(typed, code)
    assert fallbacks
    for name, value in fallbacks:
        row = settings[name]
        allowed = {literal(row["default"]), literal(row.get("container"))} - {None}
        value = value.replace("_", "") if value.replace("_", "").isdigit() else value
        if allowed:
            assert value.lower() in {v.lower() for v in allowed}, f"{name}: {value} not {allowed}"
    image = (path / "Dockerfile").read_text()
    for name, row in settings.items():
        if literal(row.get("container")) and f"\n    {name}=" in image:
            assert f"\n    {name}={literal(row['container'])}" in image, name
    config = path / manifests.KUBERNETES / "base" / "config.env"
    for name, value in manifests.env_file(config).items() if config.exists() else ():
        row = settings[name]
        expected = next(
            literal(row[key]) for key in ("cluster", "container", "default") if key in row
        )
        assert expected is None or value == expected, f"config.env {name}: {value}, not {expected}"


def test_answers_file_records_the_answers(project):
    path, answers = project
    recorded = yaml.safe_load((path / ".copier-answers.yml").read_text())
    for key in RECORDED_QUESTIONS:
        assert recorded[key] == answers[key]
    assert recorded["_src_path"]
    assert not {"python_keywords", "reserved_module_names"} & set(recorded)


def test_secrets_differ_between_projects(render):
    a = (render(project_name="One") / ".env").read_text()
    b = (render(project_name="Two") / ".env").read_text()
    key = re.compile(r"^SECRET_KEY=(.*)$", re.M)
    assert key.search(a)[1] != key.search(b)[1]


def test_covering_set_covers_every_value_and_pair():
    from matrix import all_pairs, factors

    rows = all_pairs(factors(), EXCLUDED)
    for name, values in factors().items():
        assert {r[name] for r in rows} == set(values)
    names = list(factors())
    for i, a in enumerate(names):
        for b in names[i + 1 :]:
            for va in factors()[a]:
                for vb in factors()[b]:
                    pair = frozenset({(a, va), (b, vb)})
                    assert pair in EXCLUDED or any(r[a] == va and r[b] == vb for r in rows), pair
    languages = {lang for c in COMBOS if c.get("ocr") for lang in c["ocr_languages"]}
    assert languages == set(choices("ocr_languages"))


def test_reserved_names_cover_the_running_standard_library():
    from matrix import questions

    reserved = set(questions()["reserved_module_names"]["default"])
    stdlib = {n for n in sys.stdlib_module_names if not n.startswith("_") and n.islower()}
    assert stdlib <= reserved, sorted(stdlib - reserved)
