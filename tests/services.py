"""Real database and cache servers for the slow tier, started from the machine's packages.

Each server runs as a child of the test session on a free loopback port with a throwaway data
directory. A missing server binary fails the test with the command that installs it.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import tempfile
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import pytest

from helpers import free_port

SETUP_HINT = "run `sudo .ci/setup` (Debian/Ubuntu) to install the test prerequisites"


def _require(binary: str | None, what: str) -> str:
    if not binary or not Path(binary).exists():
        pytest.fail(f"{what} is not installed: {SETUP_HINT}", pytrace=False)
    return binary


def _as_service_user(cmd: list[str], user: str) -> list[str]:
    """Database servers refuse to run as root: drop to their system user when we are root."""
    return ["runuser", "-u", user, "--", *cmd] if os.geteuid() == 0 else cmd


def _wait(check: list[str], proc: subprocess.Popen, log: Path, timeout: float = 60) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise RuntimeError(f"{proc.args[0]} exited ({proc.returncode}):\n{log.read_text()}")
        if subprocess.run(check, capture_output=True).returncode == 0:
            return
        time.sleep(0.3)
    raise RuntimeError(f"{check} never succeeded:\n{log.read_text()}")


@contextmanager
def _running(cmd: list[str], log: Path) -> Iterator[subprocess.Popen]:
    with log.open("w") as out:
        proc = subprocess.Popen(cmd, stdout=out, stderr=subprocess.STDOUT)
    try:
        yield proc
    finally:
        proc.terminate()
        try:
            proc.wait(20)
        except subprocess.TimeoutExpired:
            proc.kill()


@contextmanager
def postgres(
    workdir: Path, password: str = "app-password", database: str = "test"
) -> Iterator[str]:
    bins = sorted(Path("/usr/lib/postgresql").glob("*/bin/initdb"))
    initdb = _require(str(bins[-1]) if bins else shutil.which("initdb"), "PostgreSQL")
    bindir = Path(initdb).parent
    # pytest's tmp dirs are private to the current user; the postgres user needs its own.
    data = Path(tempfile.mkdtemp(prefix="berth-pgdata-"))
    if os.geteuid() == 0:
        shutil.chown(data, "postgres")
    subprocess.run(
        _as_service_user([initdb, "-D", str(data), "-U", "postgres", "--auth=trust"], "postgres"),
        check=True,
        capture_output=True,
    )
    port = free_port()
    cmd = _as_service_user(
        [
            str(bindir / "postgres"),
            "-D",
            str(data),
            "-p",
            str(port),
            "-k",
            str(data),
            "-c",
            "listen_addresses=127.0.0.1",
            "-c",
            "fsync=off",
        ],
        "postgres",
    )
    with _running(cmd, workdir / "postgres.log") as proc:
        _wait(
            [str(bindir / "pg_isready"), "-h", "127.0.0.1", "-p", str(port)],
            proc,
            workdir / "postgres.log",
        )
        psql = [str(bindir / "psql"), "-h", "127.0.0.1", "-p", str(port), "-U", "postgres", "-c"]
        subprocess.run(
            [*psql, f"CREATE USER app PASSWORD '{password}'"], check=True, capture_output=True
        )
        subprocess.run(
            [*psql, f"CREATE DATABASE {database} OWNER app"], check=True, capture_output=True
        )
        yield f"postgresql+psycopg://app:{password}@127.0.0.1:{port}/{database}"
    shutil.rmtree(data, ignore_errors=True)


@contextmanager
def mariadb(workdir: Path, password: str = "app-password", database: str = "test") -> Iterator[str]:
    install = _require(shutil.which("mariadb-install-db"), "MariaDB")
    data = workdir / "mariadb"
    data.mkdir(parents=True)
    subprocess.run(
        [
            install,
            "--no-defaults",
            f"--datadir={data}",
            "--user=root",
            "--auth-root-authentication-method=socket",
            "--skip-test-db",
        ],
        check=True,
        capture_output=True,
    )
    port, socket = free_port(), data / "mysqld.sock"
    cmd = [
        _require(shutil.which("mariadbd") or "/usr/sbin/mariadbd", "MariaDB"),
        "--no-defaults",
        f"--datadir={data}",
        f"--port={port}",
        "--bind-address=127.0.0.1",
        f"--socket={socket}",
        "--user=root",
        "--skip-log-bin",
        f"--pid-file={data}/pid",
    ]
    client = [shutil.which("mariadb") or "mysql", "--no-defaults", "-uroot", f"--socket={socket}"]
    with _running(cmd, workdir / "mariadb.log") as proc:
        _wait([*client, "-e", "SELECT 1"], proc, workdir / "mariadb.log")
        subprocess.run(
            [
                *client,
                "-e",
                f"CREATE DATABASE {database} CHARACTER SET utf8mb4; "
                f"CREATE USER 'app'@'%' IDENTIFIED BY '{password}'; "
                f"GRANT ALL ON {database}.* TO 'app'@'%';",
            ],
            check=True,
            capture_output=True,
        )
        yield f"mysql+pymysql://app:{password}@127.0.0.1:{port}/{database}?charset=utf8mb4"


@contextmanager
def redis(workdir: Path) -> Iterator[str]:
    server = _require(shutil.which("redis-server"), "Redis")
    port = free_port()
    workdir.mkdir(parents=True, exist_ok=True)
    cmd = [
        server,
        "--port",
        str(port),
        "--bind",
        "127.0.0.1",
        "--save",
        "",
        "--appendonly",
        "no",
        "--dir",
        str(workdir),
    ]
    with _running(cmd, workdir / "redis.log") as proc:
        _wait(
            [shutil.which("redis-cli") or "redis-cli", "-p", str(port), "ping"],
            proc,
            workdir / "redis.log",
        )
        yield f"redis://127.0.0.1:{port}/0"
