"""The per-option facts: the tables (tables/*.yml) and template/_options' texts.

Every choice of every multi-valued question has its row (with every field) and its texts
(every piece the templates ask for), and nothing else does; a render that lacks one fails and
says which.
"""

from __future__ import annotations

import re
import subprocess
import sys
from pathlib import Path

import copier
import pytest
import yaml

from helpers import ROOT, copier_config, copy_of_template
from matrix import (
    CONTAINER_QUESTIONS,
    DERIVED_TABLES,
    DOCKER_COMBOS,
    RUN_COMBOS,
    TABLES,
    choices,
    default,
    questions,
    table,
)

# Every table: of a question's choices, or of the values copier.yml derives (job_backend).
ALL_TABLES = {**TABLES, **DERIVED_TABLES}


class _IncludesUnread(yaml.SafeLoader):
    """copier.yml's own text: an `!include` stays a tag, the included files unread."""


_IncludesUnread.add_constructor("!include", lambda loader, node: {"!include": node.value})


def test_the_tables_are_files_of_their_own():
    """copier.yml holds the questions, the answers it derives and Copier's settings; every table
    (a hidden `yaml` value) is a file of tables/, which copier.yml includes first."""
    documents = list(yaml.load_all((ROOT / "copier.yml").read_text(), Loader=_IncludesUnread))
    included = [document["!include"] for document in documents if "!include" in document]
    files = sorted(f"tables/{path.name}" for path in (ROOT / "tables").glob("*.yml"))
    assert sorted(included) == files, "copier.yml must include every file of tables/, once"
    assert all("!include" in document for document in documents[: len(included)])  # first
    own = {key: spec for document in documents[len(included) :] for key, spec in document.items()}
    in_tables = {
        key for path in (ROOT / "tables").glob("*.yml") for key in yaml.safe_load(path.read_text())
    }
    tables = {
        key
        for key, spec in copier_config().items()
        if isinstance(spec, dict) and spec.get("type") == "yaml" and spec.get("when") is False
    }
    assert set(ALL_TABLES.values()) <= tables
    assert not tables & set(own), f"tables left in copier.yml: {sorted(tables & set(own))}"
    assert tables <= in_tables
    assert not in_tables & set(own), "a key is both in copier.yml and in tables/"


def values(question: str) -> list[str]:
    """The answers `question` can have: its choices, or a derived answer's table rows."""
    return list(table(question)) if question in DERIVED_TABLES else choices(question)


OPTIONS = ROOT / "template" / "_options"
MACRO = re.compile(r"\{%-? macro (\w+)\(")


def pieces_used() -> dict[str, set[str]]:
    """{question: names of the pieces the templates render}, read from the templates."""
    used: dict[str, set[str]] = {question: set() for question in ALL_TABLES}
    for path in (ROOT / "template").rglob("*"):
        if path.is_file() and OPTIONS not in path.parents:
            text = path.read_text()
            for question, name in re.findall(r"piece\('(\w+)', '(\w+)'", text):
                used[question].add(name)
            for question in re.findall(r"alternatives\('(\w+)'", text):
                used[question].add("adr_alternative")
    return used


def pieces_of(question: str, answer: str) -> set[str]:
    return set(MACRO.findall((OPTIONS / question / f"{answer}.jinja").read_text()))


@pytest.mark.parametrize("question", TABLES)
def test_every_choice_has_a_row_and_every_row_a_choice(question):
    assert list(table(question)) == choices(question), (
        f"{TABLES[question]} in tables/ must have one row per choice of {question}, "
        "in the same order"
    )
    assert questions()[TABLES[question]]["when"] is False  # a table, never asked


def test_every_derived_answer_has_a_row_for_each_value_it_takes():
    """job_backend: computed in copier.yml from worker and redis."""
    source = questions()["job_backend"]["default"]
    assert questions()["job_backend"]["when"] is False
    assert set(re.findall(r"'(\w+)'", source)) == set(table("job_backend")), source


@pytest.mark.parametrize("question", ALL_TABLES)
def test_every_row_has_every_field(question):
    rows = table(question)
    fields = {answer: set(facts) for answer, facts in rows.items()}
    first = next(iter(rows))
    for answer, names in fields.items():
        assert names == fields[first], (
            f"{ALL_TABLES[question]}.{answer} has fields {sorted(names ^ fields[first])} that "
            f"{ALL_TABLES[question]}.{first} lacks or has (use null for a fact that does not apply)"
        )
    # Nested facts (a database's own service) have the same fields wherever they are given;
    # environment mappings hold each row's own variables.
    for field in fields[first]:
        nested = [facts[field] for facts in rows.values() if isinstance(facts[field], dict)]
        if not field.endswith("environment") and nested:
            assert all(set(n) == set(nested[0]) for n in nested), f"{question}: {field}"


@pytest.mark.parametrize("question", ALL_TABLES)
def test_every_choice_has_every_piece_of_text(question):
    used = pieces_used()[question]
    assert used, f"no template uses the texts of {question}"
    files = {path.stem for path in (OPTIONS / question).glob("*.jinja")}
    assert files == set(values(question)), f"template/_options/{question}/ files vs choices"
    for answer in values(question):
        have = pieces_of(question, answer)
        assert used <= have, f"{question}/{answer}.jinja lacks {sorted(used - have)}"
        assert have <= used, f"{question}/{answer}.jinja has unused {sorted(have - used)}"


def render_error(template: Path, tmp_path: Path, **answers) -> str:
    """The message of the error a render of `template` fails with."""
    with pytest.raises(Exception) as failure:  # noqa: PT011 - whichever copier raises
        copier.run_copy(
            str(template),
            tmp_path / "project",
            data={"project_name": "Acme Notes", **answers},
            defaults=True,
            unsafe=True,
            skip_tasks=True,
            quiet=True,
        )
    return str(failure.value)


def test_a_missing_piece_fails_the_render_and_names_it(tmp_path):
    template = copy_of_template(tmp_path / "template")
    texts = template / "template/_options/wsgi_server/uwsgi.jinja"
    text = texts.read_text()
    start = text.index("{% macro shutdown() %}")
    texts.write_text(text[:start] + text[text.index("{% endmacro %}", start) + 14 :])
    message = render_error(template, tmp_path, wsgi_server="uwsgi")
    assert 'template/_options/wsgi_server/uwsgi.jinja has no piece "shutdown"' in message


def test_a_missing_text_file_fails_the_render_and_names_it(tmp_path):
    template = copy_of_template(tmp_path / "template")
    (template / "template/_options/database/mysql.jinja").unlink()
    message = render_error(template, tmp_path, database="mysql")
    assert "template/_options/database/mysql.jinja" in message


def test_a_choice_without_a_row_is_refused_and_named(tmp_path):
    template = copy_of_template(tmp_path / "template")
    config = template / "copier.yml"
    config.write_text(
        config.read_text().replace(
            '    "granian (Rust, fast)": granian\n',
            '    "granian (Rust, fast)": granian\n    "bjoern (C, single thread)": bjoern\n',
        )
    )
    message = render_error(template, tmp_path, wsgi_server="bjoern")
    assert 'wsgi_server "bjoern" has no row in the servers table (tables/servers.yml)' in message


def test_a_missing_fact_fails_the_render_and_names_it(tmp_path):
    template = copy_of_template(tmp_path / "template")
    config = template / "tables" / "servers.yml"
    text = config.read_text()
    line = "      body_limit: gunicorn has no limit of its own\n"
    assert line in text
    config.write_text(text.replace(line, ""))
    message = render_error(template, tmp_path)
    assert "body_limit" in message


def test_every_answer_is_run_by_the_slow_and_docker_tiers():
    """A choice added to copier.yml gets its own project in the tiers that build and start
    projects, without a test edit."""
    for combos, questions_run in (
        (DOCKER_COMBOS, CONTAINER_QUESTIONS),
        (RUN_COMBOS, ("package_manager", "wsgi_server", "database")),
    ):
        for question in questions_run:
            chosen = {combo.get(question, default(question)) for combo in combos}
            assert chosen == set(table(question)), f"{question}: {set(table(question)) - chosen}"


def test_render_matrix_writes_every_combination_without_tasks(tmp_path):
    """scripts/render_matrix.py, the before/after check of a template refactoring."""
    sys.path.insert(0, str(ROOT / "scripts"))
    from render_matrix import combinations

    result = subprocess.run(
        [sys.executable, str(ROOT / "scripts" / "render_matrix.py"), str(tmp_path / "out")],
        capture_output=True,
        text=True,
        check=True,
    )
    rendered = sorted(p.name for p in (tmp_path / "out").iterdir())
    assert rendered == sorted(combinations()), result.stderr
    for project in (tmp_path / "out").iterdir():
        assert (project / "compose.yaml").is_file()
        assert not (project / ".env").exists()  # tasks skipped: no secrets, no locks
