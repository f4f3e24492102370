"""OCR with tesseract (through pytesseract): `recognize()` an uploaded image, and the API
`/api/ocr` that does it for an upload (multipart field `file`, optional `lang`).

Errors a client can act on: 400 no file, 413 too large (MAX_REQUEST_MB, OCR_MAX_PIXELS), 415
not an image, 422 unknown language or an image tesseract cannot finish within OCR_TIMEOUT;
503 with Retry-After while OCR_CONCURRENCY recognitions already run, or when the tesseract
binary is missing on the server.

Within its means: the pixel count is checked from the image header, before anything is
decoded; at most OCR_CONCURRENCY recognitions run at once in a container (the server's other
workers keep answering, healthchecks included); tesseract is killed after OCR_TIMEOUT, which
stays below the server's worker timeout; uploads are stored only when UPLOAD_RETENTION_HOURS
says for how long.
"""

from __future__ import annotations

import contextlib
import fcntl
import logging
import tempfile
import time
import uuid
import warnings
from collections.abc import Iterator
from pathlib import Path
from typing import IO, TypedDict

import pytesseract
from flask import Blueprint, Response, abort, current_app, jsonify, request
from PIL import Image
from werkzeug.datastructures import FileStorage
from werkzeug.exceptions import ServiceUnavailable

log = logging.getLogger(__name__)

# Formats accepted, with the suffix the stored upload gets.
FORMATS = {
    "PNG": ".png",
    "JPEG": ".jpg",
    "TIFF": ".tif",
    "BMP": ".bmp",
    "GIF": ".gif",
    "WEBP": ".webp",
}
# Lock files of the recognition slots, shared by every worker process of this container.
SLOTS_DIR = Path(tempfile.gettempdir()) / f"{__package__}-ocr-slots"
BUSY_RETRY_AFTER = 5  # seconds


def _tesseract() -> None:
    """Point pytesseract (a module-level setting) at this app's binary before each use."""
    pytesseract.pytesseract.tesseract_cmd = current_app.config["TESSERACT_CMD"]


def configured_languages() -> list[str]:
    return [lang for lang in current_app.config["OCR_LANGUAGES"].split("+") if lang]


def check() -> None:
    """Readiness: the tesseract binary runs and has every configured language."""
    _tesseract()
    try:
        available = set(pytesseract.get_languages(config=""))
    except pytesseract.TesseractNotFoundError:
        raise RuntimeError(f"tesseract not found ({current_app.config['TESSERACT_CMD']})") from None
    missing = [lang for lang in configured_languages() if lang not in available]
    if missing:
        raise RuntimeError(f"tesseract language data missing: {', '.join(missing)}")


@contextlib.contextmanager
def recognition_slot() -> Iterator[None]:
    """Hold one of OCR_CONCURRENCY slots (file locks, so every worker process counts), or
    answer 503 with Retry-After at once: a busy server sheds load instead of queueing it."""
    SLOTS_DIR.mkdir(parents=True, exist_ok=True)
    for index in range(max(1, current_app.config["OCR_CONCURRENCY"])):
        slot: IO[bytes] = (SLOTS_DIR / f"{index}.lock").open("ab")
        try:
            fcntl.flock(slot, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            slot.close()
            continue
        try:
            yield
        finally:
            slot.close()  # closing the file releases its lock
        return
    raise ServiceUnavailable(
        "every OCR slot is busy: retry in a few seconds", retry_after=BUSY_RETRY_AFTER
    )


def open_image(upload: IO[bytes]) -> Image.Image:
    """The uploaded image, its header read and its size checked; pixels not decoded yet."""
    max_pixels = current_app.config["OCR_MAX_PIXELS"]
    Image.MAX_IMAGE_PIXELS = max_pixels  # Pillow's own bomb check, at the same limit
    try:
        with warnings.catch_warnings():  # above the limit is refused just below, not warned of
            warnings.simplefilter("ignore", Image.DecompressionBombWarning)
            image = Image.open(upload)
    except Image.DecompressionBombError:
        abort(413, description=f"the image has more than {max_pixels} pixels (OCR_MAX_PIXELS)")
    except OSError:  # UnidentifiedImageError is an OSError too
        abort(415, description="the file is not an image tesseract can read (PNG, JPEG, TIFF, ...)")
    if image.format not in FORMATS:
        abort(415, description=f"unsupported image format {image.format}")
    width, height = image.size
    if width * height > max_pixels:
        abort(
            413,
            description=f"the image is {width}x{height} pixels, more than {max_pixels} "
            "(OCR_MAX_PIXELS)",
        )
    return image


def keep_upload(image: Image.Image) -> str | None:
    """Store the upload for UPLOAD_RETENTION_HOURS and drop older ones; None when not kept."""
    hours = current_app.config["UPLOAD_RETENTION_HOURS"]
    if hours <= 0:
        return None
    upload_dir: Path = current_app.config["UPLOAD_DIR"]
    upload_dir.mkdir(parents=True, exist_ok=True)
    expired = time.time() - hours * 3600
    for old in upload_dir.iterdir():
        with contextlib.suppress(FileNotFoundError):  # another worker may remove it first
            if old.is_file() and old.stat().st_mtime < expired:
                old.unlink()
    stored = upload_dir / f"{uuid.uuid4().hex}{FORMATS[str(image.format)]}"
    image.save(stored)
    return stored.name


class Recognized(TypedDict):
    """What recognize() found: the text, in which languages, and the stored upload's name."""

    text: str
    lang: str
    upload: str | None


def recognize(upload: FileStorage | None, languages: str | None = None) -> Recognized:
    """The text of an uploaded image (and the name it is kept under, if it is kept); within
    this module's limits, else a 4xx or 503 HTTP error for the client."""
    if upload is None or not upload.filename:
        abort(400, description="send the image as multipart/form-data in the field 'file'")
    languages = languages or "+".join(configured_languages())
    unknown = [lang for lang in languages.split("+") if lang not in configured_languages()]
    if unknown:
        allowed = ", ".join(configured_languages())
        abort(422, description=f"unknown language {', '.join(unknown)}: use one of {allowed}")
    image = open_image(upload.stream)
    timeout = current_app.config["OCR_TIMEOUT"]
    with recognition_slot():
        try:
            image.load()
        except OSError:  # a truncated or corrupt file
            abort(415, description="the image data is damaged and cannot be decoded")
        stored = keep_upload(image)
        _tesseract()
        try:
            # pytesseract removes its temporary files, also when it kills tesseract.
            text = pytesseract.image_to_string(image, lang=languages, timeout=timeout)
        except pytesseract.TesseractNotFoundError:
            log.error("tesseract binary not found: %s", current_app.config["TESSERACT_CMD"])
            abort(503, description="OCR is unavailable: the tesseract binary is not installed")
        except pytesseract.TesseractError as exc:
            log.warning("tesseract failed: %s", exc)
            abort(422, description="tesseract could not read this image")
        except RuntimeError:  # pytesseract's timeout: tesseract has been killed
            abort(
                422,
                description=f"recognition took longer than {timeout} s (OCR_TIMEOUT): send a "
                "smaller or cleaner image",
            )
    return {"text": text.strip(), "lang": languages, "upload": stored}


bp = Blueprint("ocr", __name__, url_prefix="/api/ocr")


@bp.post("")
def upload_for_ocr() -> Response:
    return jsonify(recognize(request.files.get("file"), request.form.get("lang")))
