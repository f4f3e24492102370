"""Slow clients against the published port of every server, with and without a proxy in front.

    .venv/bin/python bench/slow_clients.py [--seconds 10] [--servers gunicorn,granian]
                                           [--proxies none,nginx] [--json OUT.json]

For each server of tables/servers.yml and each proxy of tables/reverse_proxies.yml, renders a
project (no database, the defaults otherwise), adds the edge routes of tests/edge.py, builds it
and starts it with compose, then holds connections in each pattern of tests/edge.py while
`/health` is asked once a second: 2, 8 and 300 clients sending one header line every 5 s, 300
idle keep-alive connections, 300 bodies that stop arriving, and 16 clients that never read an
8 MB answer. A pre-fork server without a proxy is published on 127.0.0.1 only; it is attacked
there, from this host, to show why. Reports, per stack and pattern, the connections still held
at the end, the probes that failed, and the p99 of those answered, in ms. Needs a Docker engine
(tests/dockerenv.py provisions one).
"""

from __future__ import annotations

import argparse
import json
import ssl
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "tests"))

import copier  # noqa: E402

import dockerenv  # noqa: E402
import edge  # noqa: E402
from helpers import expose_interpreters, free_port  # noqa: E402
from matrix import choices, table  # noqa: E402

# (pattern, clients): the columns of the table.
ATTACKS = [
    ("slow headers", 2),
    ("slow headers", 8),
    ("slow headers", 300),
    ("idle keep-alive", 300),
    ("stalled body", 300),
    ("slow reader", 16),
]
LARGE = "/edge/large?mb=8"


class Stack:
    """A generated project running under compose, with its published site."""

    def __init__(self, docker: dockerenv.Docker, project: Path, name: str, proxy: str) -> None:
        self.docker, self.project, self.name = docker, project, name
        self.https = table("reverse_proxy")[proxy]["https"]
        self.http_port, self.https_port = free_port(), free_port()
        self.docker.env.update(HTTP_PORT=str(self.http_port), HTTPS_PORT=str(self.https_port))
        self.site = edge.Target(self.http_port)

    def compose(self, *args: str, check: bool = True):
        return self.docker.run("compose", "-p", self.name, *args, cwd=self.project, check=check)

    def __enter__(self) -> Stack:
        self.compose("up", "-d", "--build", "--wait", "--wait-timeout", "180")
        if self.https:
            ca = self.project / "caddy-local-ca.crt"
            self.compose("cp", "caddy:/data/caddy/pki/authorities/local/root.crt", str(ca))
            tls = ssl.create_default_context(cafile=ca)
            self.site = edge.Target(self.https_port, tls, "localhost")
        return self

    def __exit__(self, *exc: object) -> None:
        self.compose("down", "--volumes", "--rmi", "local", check=False)


def render(out: Path, server: str, proxy: str) -> tuple[Path, str]:
    project = out / f"{server}-{proxy}"
    answers = {
        "project_name": f"Edge {server} {proxy}",
        "wsgi_server": server,
        "reverse_proxy": proxy,
        "database": "none",
        "ci": "none",
    }
    copier.run_copy(str(ROOT), project, data=answers, defaults=True, unsafe=True, quiet=True)
    slug = answers["project_name"].lower().replace(" ", "_")
    health = project / "src" / slug / "berth" / "health.py"
    health.write_text(health.read_text() + edge.APP_ROUTES)
    return project, slug


def attack(site: edge.Target, pattern: str, clients: int, seconds: float) -> dict:
    with edge.Hold(site, pattern, clients, "/edge/body", LARGE) as hold:
        time.sleep(1)
        result = edge.probe(site, seconds)
        held = hold.held()
    return {
        "held": held,
        "opened": hold.opened,
        "failed": len(result.failures),
        "probes": len(result.latencies) + len(result.failures),
        "p99_ms": round(1000 * result.p99, 1) if result.latencies else None,
    }


def cell(figures: dict) -> str:
    if figures["failed"] == figures["probes"]:
        return f"down ({figures['held']} held)"
    failed = f", {figures['failed']} failed" if figures["failed"] else ""
    return f"{figures['p99_ms']} ms{failed} ({figures['held']} held)"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--seconds", type=float, default=10, help="probing per pattern")
    parser.add_argument("--servers", default=",".join(choices("wsgi_server")))
    parser.add_argument("--proxies", default=",".join(choices("reverse_proxy")))
    parser.add_argument("--json", type=Path, help="write the figures here too")
    args = parser.parse_args()
    expose_interpreters(choices("python_version"))
    docker = dockerenv.provision()
    figures: dict[str, dict[str, dict]] = {}
    with tempfile.TemporaryDirectory(prefix="berth-edge-") as tmp:
        for server in args.servers.split(","):
            for proxy in args.proxies.split(","):
                project, slug = render(Path(tmp), server, proxy)
                dockerenv.ensure_images(docker, dockerenv.images_named_by(project))
                label = f"{table('wsgi_server')[server]['label']}, proxy {proxy}"
                print(f"{label} ...", file=sys.stderr, flush=True)
                with Stack(docker, project, slug.replace("_", "-"), proxy) as stack:
                    figures[label] = {
                        f"{pattern} x{clients}": attack(stack.site, pattern, clients, args.seconds)
                        for pattern, clients in ATTACKS
                    }
    columns = [f"{pattern} x{clients}" for pattern, clients in ATTACKS]
    print("/health p99 while the clients hold their connections (connections held at the end)\n")
    print("| stack | " + " | ".join(columns) + " |")
    print("|---|" + "---:|" * len(columns))
    for label, row in figures.items():
        print(f"| {label} | " + " | ".join(cell(row[c]) for c in columns) + " |")
    if args.json:
        args.json.write_text(json.dumps(figures, indent=2))


if __name__ == "__main__":
    main()
