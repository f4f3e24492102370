from __future__ import annotations

import fcntl
import io
import os
import shutil
import tempfile
import time
from pathlib import Path
from typing import Any

import pytest
from flask import Flask
from flask.testing import FlaskClient
from PIL import Image, ImageDraw, ImageFont

from acme_notes import create_app

INSTALL = "apt-get install tesseract-ocr tesseract-ocr-eng tesseract-ocr-deu"
needs_tesseract = pytest.mark.skipif(
    shutil.which("tesseract") is None, reason=f"tesseract is not installed ({INSTALL})"
)


def text_image(text: str, fmt: str = "PNG") -> io.BytesIO:
    image = Image.new("RGB", (900, 160), "white")
    ImageDraw.Draw(image).text((30, 40), text, fill="black", font=ImageFont.load_default(size=64))
    buffer = io.BytesIO()
    image.save(buffer, fmt)
    buffer.seek(0)
    return buffer


def png(image: Image.Image) -> io.BytesIO:
    buffer = io.BytesIO()
    image.save(buffer, "PNG")
    buffer.seek(0)
    return buffer


@needs_tesseract
def test_recognizes_text_and_keeps_the_upload(settings: dict[str, Any]) -> None:
    settings["UPLOAD_RETENTION_HOURS"] = 1
    client = create_app(settings).test_client()
    response = client.post("/api/ocr", data={"file": (text_image("HELLO WORLD 2026"), "scan.png")})
    assert response.status_code == 200, response.json
    assert "HELLO WORLD 2026" in response.json["text"]
    assert (Path(settings["UPLOAD_DIR"]) / response.json["upload"]).is_file()


@needs_tesseract
@pytest.mark.parametrize("lang", ["eng", "deu"])
def test_each_configured_language_works(client: FlaskClient, lang: str) -> None:
    data = {"file": (text_image("OPEN 42", "JPEG"), "scan.jpg"), "lang": lang}
    response = client.post("/api/ocr", data=data)
    assert response.status_code == 200, response.json
    assert response.json["lang"] == lang
    assert "42" in response.json["text"]


def test_missing_file_is_400(client: FlaskClient) -> None:
    response = client.post("/api/ocr", data={})
    assert response.status_code == 400
    assert "'file'" in response.json["error"]["message"]


def test_non_image_is_415(client: FlaskClient) -> None:
    pdf = io.BytesIO(b"%PDF-1.7 not an image")
    response = client.post("/api/ocr", data={"file": (pdf, "a.pdf")})
    assert response.status_code == 415


def test_oversized_upload_is_413(settings: dict[str, Any]) -> None:
    settings["MAX_CONTENT_LENGTH"] = 1024
    client = create_app(settings).test_client()
    response = client.post("/api/ocr", data={"file": (io.BytesIO(b"x" * 4096), "big.png")})
    assert response.status_code == 413


def test_unknown_language_is_422(client: FlaskClient) -> None:
    response = client.post("/api/ocr", data={"file": (text_image("x"), "a.png"), "lang": "xxx"})
    assert response.status_code == 422


def test_missing_tesseract_is_503(settings: dict[str, Any]) -> None:
    settings["TESSERACT_CMD"] = "/nonexistent/tesseract"
    client = create_app(settings).test_client()
    response = client.post("/api/ocr", data={"file": (text_image("HELLO"), "a.png")})
    assert response.status_code == 503
    assert "tesseract" in response.json["error"]["message"]


@pytest.mark.parametrize("side", [8000, 20_000], ids=["above-the-limit", "decompression-bomb"])
def test_too_many_pixels_are_refused_before_decoding(client: FlaskClient, side: int) -> None:
    # 1-bit images: 64 and 400 million pixels in a few hundred kilobytes of PNG.
    bomb = png(Image.new("1", (side, side), 1))
    response = client.post("/api/ocr", data={"file": (bomb, "bomb.png")})
    assert response.status_code == 413, response.json
    assert "OCR_MAX_PIXELS" in response.json["error"]["message"]


def test_damaged_image_data_is_415(client: FlaskClient) -> None:
    damaged = png(Image.new("RGB", (400, 400), "white")).getvalue()[:200]
    response = client.post("/api/ocr", data={"file": (io.BytesIO(damaged), "cut.png")})
    assert response.status_code == 415, response.json


def test_a_busy_server_answers_503_with_retry_after(app: Flask, client: FlaskClient) -> None:
    from acme_notes.ocr import SLOTS_DIR

    SLOTS_DIR.mkdir(parents=True, exist_ok=True)
    with (SLOTS_DIR / "0.lock").open("ab") as held:  # another worker's recognition
        fcntl.flock(held, fcntl.LOCK_EX | fcntl.LOCK_NB)
        response = client.post("/api/ocr", data={"file": (text_image("BUSY"), "a.png")})
    assert response.status_code == 503
    assert response.headers["Retry-After"] == "5"
    assert "busy" in response.json["error"]["message"]


@needs_tesseract
def test_a_slow_image_is_stopped_at_ocr_timeout_and_leaves_nothing_behind(
    settings: dict[str, Any], tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    scratch = tmp_path / "tmp"
    scratch.mkdir()
    monkeypatch.setattr(tempfile, "tempdir", str(scratch))  # where pytesseract writes
    settings["OCR_TIMEOUT"] = 1
    client = create_app(settings).test_client()
    # Noise takes tesseract several seconds per 16 million pixels.
    noise = Image.frombytes("L", (4000, 4000), os.urandom(16_000_000)).point(
        lambda v: 255 if v > 127 else 0
    )
    started = time.monotonic()
    response = client.post("/api/ocr", data={"file": (png(noise), "noise.png")})
    assert response.status_code == 422, response.json
    assert "OCR_TIMEOUT" in response.json["error"]["message"]
    assert time.monotonic() - started < 10
    assert list(scratch.iterdir()) == [], "tesseract's temporary files were left behind"
    running = [p for p in Path("/proc").glob("[0-9]*/cmdline") if str(scratch) in _cmdline(p)]
    assert running == [], "tesseract was not stopped"


def _cmdline(path: Path) -> str:
    try:
        return path.read_bytes().decode(errors="replace")
    except OSError:  # the process ended meanwhile
        return ""


@needs_tesseract
def test_uploads_are_kept_for_the_retention_period_only(settings: dict[str, Any]) -> None:
    settings["UPLOAD_RETENTION_HOURS"] = 24
    client = create_app(settings).test_client()
    upload_dir = Path(settings["UPLOAD_DIR"])
    upload_dir.mkdir(parents=True, exist_ok=True)
    expired = upload_dir / "expired.png"
    expired.write_bytes(b"old")
    old = time.time() - 25 * 3600
    os.utime(expired, (old, old))
    response = client.post("/api/ocr", data={"file": (text_image("KEEP"), "a.png")})
    assert response.status_code == 200, response.json
    assert not expired.exists()
    assert sorted(p.name for p in upload_dir.iterdir()) == [response.json["upload"]]


@needs_tesseract
def test_by_default_uploads_are_not_stored(client: FlaskClient, settings: dict[str, Any]) -> None:
    response = client.post("/api/ocr", data={"file": (text_image("GONE"), "a.png")})
    assert response.status_code == 200, response.json
    assert response.json["upload"] is None
    assert not Path(settings["UPLOAD_DIR"]).exists() or not any(
        Path(settings["UPLOAD_DIR"]).iterdir()
    )
