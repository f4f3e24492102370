from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from helpers import ROOT, expose_interpreters
from matrix import choices

expose_interpreters(choices("python_version"))


@pytest.fixture(scope="session")
def render(copie_session):
    """render(**answers) -> project dir; each distinct set of answers is rendered once a session."""
    cache: dict[str, Path] = {}

    def _render(**answers: Any) -> Path:
        key = repr(sorted(answers.items()))
        if key not in cache:
            result = copie_session.copy(extra_answers=answers, template_dir=ROOT)
            assert result.exit_code == 0, f"copy failed for {answers}: {result.exception!r}"
            cache[key] = result.project_dir
        return cache[key]

    return _render


@pytest.fixture(scope="session")
def postgres_url(tmp_path_factory):
    import services

    with services.postgres(tmp_path_factory.mktemp("postgres")) as url:
        yield url


@pytest.fixture(scope="session")
def mariadb_url(tmp_path_factory):
    import services

    with services.mariadb(tmp_path_factory.mktemp("mariadb")) as url:
        yield url


@pytest.fixture(scope="session")
def redis_url(tmp_path_factory):
    import services

    with services.redis(tmp_path_factory.mktemp("redis")) as url:
        yield url


@pytest.fixture(scope="session")
def docker():
    """The Docker engine of the docker tier (started if need be), or a failure saying why."""
    import dockerenv

    try:
        return dockerenv.provision()
    except dockerenv.Unavailable as error:
        pytest.fail(f"docker tier cannot run: {error}")
