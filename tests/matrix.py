"""The answer space of copier.yml and the combinations the test tiers render.

Values are read from copier.yml itself (one source of truth); only the grouping of related
questions into test factors lives here.
"""

from __future__ import annotations

import itertools
import re
from functools import cache, partial
from pathlib import Path
from typing import Any

from helpers import copier_config, find_python

ROOT = Path(__file__).resolve().parents[1]


@cache
def questions() -> dict[str, Any]:
    data = copier_config()
    return {k: v for k, v in data.items() if not k.startswith("_")}


def choices(name: str) -> list[Any]:
    raw = questions()[name]["choices"]
    return list(raw.values()) if isinstance(raw, dict) else list(raw)


def default(name: str) -> Any:
    return questions()[name]["default"]


# The facts table of each multi-valued question (copier.yml, `when: false`): one row per choice.
TABLES = {
    "package_manager": "package_managers",
    "wsgi_server": "servers",
    "database": "databases",
    "reverse_proxy": "reverse_proxies",
    "ci": "ci_providers",
}


# Answers copier.yml computes from others (never asked) that have a facts table too.
DERIVED_TABLES = {"job_backend": "job_backends"}


def table(question: str) -> dict[str, dict[str, Any]]:
    """The rows of `question`'s facts table, by answer."""
    return default({**TABLES, **DERIVED_TABLES}[question])


def job_backend(answers: dict[str, Any]) -> str:
    """The derived answer `job_backend` of copier.yml for `answers`."""
    if not answers.get("worker"):
        return "none"
    return "rq" if answers.get("redis") else "huey"


# The traits the tables' `when` lists name besides answers (`traits` in _macros.jinja), written
# here from the answers on their own.
TRAITS = {
    "database": lambda a: a["database"] != "none",
    "database_server": lambda a: bool(table("database")[a["database"]]["service"]),
    "huey": lambda a: job_backend(a) == "huey",
    "commands": lambda a: a["database"] != "none" or a["worker"],
    "serve_module": lambda a: table("wsgi_server")[a["wsgi_server"]]["settings_file"].endswith(
        "/serve.py"
    ),
    # compose.watch.yaml runs berth's reloader for the worker, and for a server that does not
    # reload its workers itself.
    "reloader": lambda a: (
        not table("wsgi_server")[a["wsgi_server"]]["reload_environment"]
        or a["metrics"]
        or a["worker"]
    ),
}


def holds(when: list[str] | None, answers: dict[str, Any]) -> bool:
    """Whether every answer or trait of a table's `when` list holds for `answers`."""
    return all(TRAITS[name](answers) if name in TRAITS else answers[name] for name in when or [])


def row(question: str, answer: str) -> dict[str, Any]:
    return table(question)[answer]


def fill(text: str, **values: Any) -> str:
    """A fact with its {placeholders} filled in, as the templates' `fill` macro does."""
    for name, value in values.items():
        text = text.replace("{" + name + "}", str(value))
    return text


def server_command(server: str, package: str) -> list[str]:
    """How the project starts `server` (the Dockerfile's CMD), as arguments."""
    return [fill(argument, package=package) for argument in row("wsgi_server", server)["command"]]


def requirement_name(requirement: str | None) -> str | None:
    """The package a requirement names: psycopg[binary]>=3.2 -> psycopg."""
    return re.match(r"[A-Za-z0-9_.-]+", requirement)[0] if requirement else None


def option_words(question: str, answer: str) -> str:
    """A regex of the words that name `answer` in generated files (its value, label, service,
    package): they may appear only in projects that chose it."""
    facts = row(question, answer)
    if question == "package_manager":  # "uv" and "pip" are words of every project's docs
        words = {*facts["lock_files"], facts["run"].strip()}
    else:
        service = (facts.get("service") or {}).get("name")
        words = {answer, facts["label"], service, requirement_name(facts.get("requirement"))}
    # Whole words only: "rq" is no mention of RQ inside a random secret.
    bounded = (
        ("\\b" if w[0].isalnum() else "") + re.escape(w) + ("\\b" if w[-1].isalnum() else "")
        for w in sorted(filter(None, words), key=len, reverse=True)
    )
    return "|".join(bounded)


# Factors of the pairwise covering set. Redis and worker form one factor: with Redis the
# worker's queue is RQ's, without it huey's in the database.
SERVICES = {
    "none": {"redis": False},
    "redis": {"redis": True, "worker": False},
    "redis+worker": {"redis": True, "worker": True},
    "worker": {"redis": False, "worker": True},
}


def factors() -> dict[str, list[Any]]:
    return {
        "python_version": choices("python_version"),
        "package_manager": choices("package_manager"),
        "wsgi_server": choices("wsgi_server"),
        "database": choices("database"),
        "services": list(SERVICES),
        "ocr": [False, True],
        "admin_ui": [False, True],
        "metrics": [False, True],
        "reverse_proxy": choices("reverse_proxy"),
        "examples": [True, False],
        "kubernetes": [False, True],
        "ci": choices("ci"),
    }


def pairs_gained(row: dict, name: str, uncovered: set, excluded: set, value: Any) -> int:
    """How many uncovered pairs setting `name` to `value` in `row` covers; -1 if it is excluded."""
    pairs = [frozenset({(name, value), (k, v)}) for k, v in row.items() if k != name]
    if any(pair in excluded for pair in pairs):
        return -1
    return sum(pair in uncovered for pair in pairs)


def all_pairs(space: dict[str, list[Any]], excluded: set[frozenset] = frozenset()) -> list[dict]:
    """Greedy all-pairs covering array: every pair of values of two factors occurs in a row.

    `excluded` holds pairs ({(factor, value), (factor, value)}) that must not be generated.
    """
    names = list(space)
    uncovered = {
        frozenset({(a, va), (b, vb)})
        for a, b in itertools.combinations(names, 2)
        for va in space[a]
        for vb in space[b]
    } - set(excluded)
    rows: list[dict] = []
    while uncovered:
        # Seed the row with an uncovered pair, then pick each other value greedily.
        seed = sorted(uncovered, key=lambda p: sorted(map(str, p)))[0]
        row = dict(seed)
        for name in names:
            if name in row:
                continue
            gain = partial(pairs_gained, row, name, uncovered, excluded)
            row[name] = max(space[name], key=gain)
        covered = {
            frozenset({(a, row[a]), (b, row[b])}) for a, b in itertools.combinations(names, 2)
        }
        uncovered -= covered
        rows.append(row)
    return rows


LANGUAGE_SETS = [["eng"], ["eng", "deu"], ["fra", "spa", "ita"], ["por", "nld", "pol"]]
PORTS = ["8000", "8080", "5000", "9100"]


def to_answers(row: dict, index: int, ocr_index: int = 0) -> dict[str, Any]:
    """Turn a factor row into copier answers, varying the free-form answers across rows
    (the OCR languages across the rows with OCR, so that every language is covered)."""
    answers = {k: v for k, v in row.items() if k != "services"}
    answers.update(SERVICES[row["services"]])
    # One long name: generated code must stay lint-clean whatever the slug's length.
    answers["project_name"] = (
        "Acme Document Processing Platform" if index == 0 else f"Service {index:02d}"
    )
    answers["http_port"] = PORTS[index % len(PORTS)]
    if index % 2:  # half the projects name the organisation's registry
        answers["registry"] = "ghcr.io/acme"
    if row["ocr"]:
        answers["ocr_languages"] = LANGUAGE_SETS[ocr_index % len(LANGUAGE_SETS)]
    return answers


def covering_set(excluded: set[frozenset] = frozenset()) -> list[dict[str, Any]]:
    rows = all_pairs(factors(), excluded)
    ocr_rows = [i for i, row in enumerate(rows) if row["ocr"]]
    return [
        to_answers(row, i, ocr_rows.index(i) if row["ocr"] else 0) for i, row in enumerate(rows)
    ]


def combo_id(answers: dict[str, Any]) -> str:
    parts = [
        answers.get("python_version", default("python_version")),
        answers.get("package_manager", default("package_manager")),
        answers.get("wsgi_server", default("wsgi_server")),
        answers.get("database", default("database")),
    ]
    if answers.get("worker"):
        parts.append("worker" if answers.get("redis") else "worker-huey")
    elif answers.get("redis"):
        parts.append("redis")
    if answers.get("ocr"):
        parts.append("ocr-" + "+".join(answers.get("ocr_languages", ["eng"])))
    if answers.get("admin_ui"):
        parts.append("adminer")
    proxy = answers.get("reverse_proxy", default("reverse_proxy"))
    if proxy != default("reverse_proxy"):
        parts.append(f"proxy-{proxy}")
    if answers.get("examples") is False:
        parts.append("no-examples")
    if answers.get("metrics"):
        parts.append("metrics")
    if answers.get("kubernetes"):
        parts.append("k8s")
    if answers.get("ci", default("ci")) != default("ci"):
        parts.append(f"ci-{answers['ci']}")
    return "-".join(str(p) for p in parts)


# Locking a uv project needs an interpreter of its version; none may be installable here.
NO_UV_314 = frozenset({("python_version", "3.14"), ("package_manager", "uv")})
# A worker without Redis keeps its queue in the database: copier.yml refuses it where the
# database has no job queue (its `job_queue` fact).
NO_QUEUE = {
    frozenset({("services", "worker"), ("database", database)})
    for database, facts in default("databases").items()
    if not facts["job_queue"]
}
# The admin UI administers a database server: copier.yml refuses it without one.
NO_ADMIN_UI = {
    frozenset({("admin_ui", True), ("database", database)})
    for database, facts in default("databases").items()
    if not facts["service"]
}
EXCLUDED = NO_QUEUE | NO_ADMIN_UI | (set() if find_python("3.14") else {NO_UV_314})
# The fast tier's covering set: every pair of answer values, each project rendered and checked.
COMBOS = covering_set(EXCLUDED)


# Quotes of every kind, backslashes (also last), Jinja and shell syntax, Markdown and HTML,
# look-alike and non-ASCII characters; the description and author run past 200 characters.
HOSTILE_NAME = "Ünïcode \"Q\" 'S' \\ {{ x }} {% y %} Bob’s – <b>*N*</b> & $HOME `c` #1 \\"
HOSTILE = {
    "project_name": HOSTILE_NAME,
    "description": (
        'A "hostile" \\ description {{ jinja }} ${SHELL} `rm -rf /` <script>x</script> '
        "*bold* _u_ [link](http://x) | pipe & amp; naïve café – ‘quoted’ 中文 😀 "
        + "long " * 30
        + "\\"
    ),
    "author_name": 'O’Brien "Q" \\ {{ team }} ' + "x" * 200,
}


def with_every_answer(
    combos: list[dict[str, Any]], questions: tuple[str, ...] = tuple(TABLES)
) -> list[dict[str, Any]]:
    """`combos`, plus one project (defaults otherwise) for each answer of a facts table that
    none of them chose: a choice added to copier.yml is run for real without a test edit."""
    missing = [
        {question: answer}
        for question in questions
        for answer in table(question)
        if all(combo.get(question, default(question)) != answer for combo in combos)
    ]
    return combos + missing


# The docker tier's covering set: every Python version, both package managers, every server
# and database, redis with and without a worker, a worker without redis (huey on SQLite and on
# PostgreSQL), OCR with two languages, every proxy, and waitress and granian (the servers that
# hold slow clients themselves) both behind a proxy and published on their own, each at least
# once, in seven stacks (each is built, started and queried for real: minutes, not seconds).
# The first is the all-defaults project most users start from.
_DOCKER_STACKS: list[dict[str, Any]] = [
    {},
    # HTTPS on one host, with everything a server-side project adds.
    {
        "python_version": "3.12",
        "database": "postgresql",
        "redis": True,
        "worker": True,
        "ocr": True,
        "ocr_languages": ["eng", "deu"],
        "reverse_proxy": "caddy",
        "admin_ui": True,
        "metrics": True,
    },
    {
        "python_version": "3.11",
        "package_manager": "pip",
        "wsgi_server": "uwsgi",
        "database": "mysql",
        "redis": True,
        "admin_ui": True,
    },
    # The worker without Redis (the retail ADR's topology): huey's queue in SQLite, one volume.
    {
        "python_version": "3.12",
        "package_manager": "pip",
        "wsgi_server": "waitress",
        "database": "sqlite",
        "worker": True,
        "reverse_proxy": "none",
        "http_port": "8080",
    },
    {
        "python_version": "3.11",
        "wsgi_server": "granian",
        "database": "none",
        "redis": True,
        "worker": True,
        "reverse_proxy": "none",
    },
    # The same with PostgreSQL: huey's tables in the app's database.
    {
        "python_version": "3.14",
        "package_manager": "pip",
        "wsgi_server": "granian",
        "database": "postgresql",
        "worker": True,
    },
    # waitress behind HTTPS (it holds slow clients itself too: stack 3).
    {"wsgi_server": "waitress", "reverse_proxy": "caddy"},
]
# Every answer that changes what runs in the containers (CI files do not).
CONTAINER_QUESTIONS = ("package_manager", "wsgi_server", "database", "reverse_proxy")
DOCKER_COMBOS = with_every_answer(_DOCKER_STACKS, CONTAINER_QUESTIONS)


# The slow tier's projects (tests/test_run.py): each installed from its lock and run as
# processes against real services.
RUN_COMBOS = with_every_answer(
    [
        {},  # all defaults
        {
            "database": "postgresql",
            "wsgi_server": "uwsgi",
            "package_manager": "pip",
            "python_version": "3.12",
            **HOSTILE,  # hostile free-text answers: the project still passes its own tests
            "project_slug": "hostile_answers",
            "metrics": True,
        },
        {
            "database": "mysql",
            "wsgi_server": "waitress",
            "python_version": "3.11",
            "examples": False,
            "metrics": True,
        },
        {"database": "none", "wsgi_server": "granian", "package_manager": "pip", "metrics": True},
        {
            "database": "postgresql",
            "redis": True,
            "worker": True,
            "python_version": "3.14",
            "metrics": True,
        },
        # Workers without Redis: huey's queue in SQLite, and in PostgreSQL.
        {"worker": True, "wsgi_server": "waitress"},
        {"database": "postgresql", "worker": True, "package_manager": "pip", "metrics": True},
        {
            "ocr": True,
            "ocr_languages": ["eng", "deu"],
            "wsgi_server": "granian",
            "package_manager": "pip",
            "python_version": "3.11",
            "redis": True,
        },
    ],
    # Processes, not containers: the reverse proxy plays no part here.
    questions=("package_manager", "wsgi_server", "database"),
)


# Golden renders (tests/golden/<name>/, `scripts/render_golden.py`): three contrasting projects
# whose generated files are committed, so that a change to the template shows its effect on
# them in review; tests/test_golden.py fails when they drift.
GOLDEN = {
    "defaults": {},
    "server-stack": {
        "python_version": "3.12",
        "package_manager": "pip",
        "wsgi_server": "uwsgi",
        "database": "postgresql",
        "redis": True,
        "worker": True,
        "ocr": True,
        "ocr_languages": ["eng", "deu"],
        "metrics": True,
        "admin_ui": True,
        "reverse_proxy": "caddy",
        "kubernetes": True,
        "registry": "ghcr.io/acme",
        "ci": "gitlab",
    },
    "minimal": {
        "python_version": "3.14",
        "wsgi_server": "waitress",
        "database": "none",
        "reverse_proxy": "none",
        "examples": False,
        "ci": "none",
        "http_port": "8080",
    },
}
