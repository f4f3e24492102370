"""Image size of generated projects, measured: what each project adds on top of its base image.

    .venv/bin/python bench/image_sizes.py

Builds a few answer combinations with `docker compose build` (the docker tier's engine and
images, see tests/dockerenv.py) and prints one table. The base image's own size is subtracted:
on machines without a registry the stand-in python images are larger than the official ones,
so only the added part is comparable. All rows are measured in the same run.
"""

from __future__ import annotations

import json
import sys
import tempfile
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "tests"))

import copier  # noqa: E402

import dockerenv  # noqa: E402
from helpers import expose_interpreters  # noqa: E402

COMBOS = {
    "defaults (uv, gunicorn, sqlite)": {},
    "pip, uwsgi, postgresql, redis+worker": {
        "package_manager": "pip",
        "wsgi_server": "uwsgi",
        "database": "postgresql",
        "redis": True,
        "worker": True,
    },
    "ocr eng+deu": {"ocr": True, "ocr_languages": ["eng", "deu"]},
    "ocr eng+deu+fra+spa": {"ocr": True, "ocr_languages": ["eng", "deu", "fra", "spa"]},
}


def size(docker: dockerenv.Docker, image: str) -> int:
    return int(docker.run("image", "inspect", "-f", "{{.Size}}", image).stdout)


def layer_sizes(docker: dockerenv.Docker, image: str) -> list[tuple[int, str]]:
    out = docker.run("history", "--no-trunc", "--format", "{{json .}}", image).stdout
    rows = [json.loads(line) for line in out.splitlines()]
    return [(r["Size"], r["CreatedBy"]) for r in rows]


def main() -> None:
    expose_interpreters(["3.11", "3.12", "3.13"])
    docker = dockerenv.provision()
    print("| Project | Base image | Base MB | Image MB | Added MB |")
    print("|---|---|---:|---:|---:|")
    for label, answers in COMBOS.items():
        with tempfile.TemporaryDirectory() as tmp:
            project = Path(tmp) / "sized"
            copier.run_copy(
                str(ROOT),
                project,
                data={"project_name": "Sized", **answers},
                defaults=True,
                unsafe=True,
                vcs_ref="HEAD",
                quiet=True,
            )
            dockerenv.ensure_images(docker, dockerenv.images_named_by(project))
            docker.run("compose", "-p", "bench-sizes", "build", "web", cwd=project, timeout=1800)
            base = dockerenv.images_named_by(project)[0]
            built, base_size = size(docker, "sized:latest"), size(docker, base)
            print(
                f"| {label} | {base} | {base_size / 1e6:.0f} | {built / 1e6:.0f} | "
                f"{(built - base_size) / 1e6:.0f} |",
                flush=True,
            )
            docker.run("image", "rm", "-f", "sized:latest", check=False)


if __name__ == "__main__":
    main()
