"""What a client may send, checked before any work: size, content type, format and pixels.

Every refusal is a :class:`ServeError` with an HTTP status and a one-line message; the app
turns it into ``{"error": {"code", "message"}}``. No file path ever comes from a client: an image
is the request body (``image/jpeg``, ``image/png``, ``image/webp``) or the ``image`` field of a
``multipart/form-data`` form.
"""
from __future__ import annotations

import io
from dataclasses import dataclass
from http import HTTPStatus
from typing import Mapping

import numpy as np
from PIL import Image

from hrseg.errors import DataError
from hrseg.utils.image_io import decode_image

# The formats accepted, as Pillow names them, and their media types.
FORMATS = {"JPEG": "image/jpeg", "PNG": "image/png", "WEBP": "image/webp"}
IMAGE_TYPES = tuple(FORMATS.values())


class ServeError(Exception):
    """A request the service refuses: its HTTP ``status``, a short ``code`` and a message."""

    def __init__(self, status: int, code: str, message: str, headers: dict[str, str] | None = None) -> None:
        super().__init__(message)
        self.status, self.code, self.message, self.headers = status, code, message, headers or {}

    def body(self) -> dict:
        """The JSON of every refusal: ``{"error": {"code", "message"}}``."""
        return {"error": {"code": self.code, "message": self.message}}


def internal_error(what: str = "the prediction") -> ServeError:
    """What a client is told when ``what`` failed inside the service (the log has the traceback)."""
    return ServeError(500, "internal_error", f"{what} failed; see the server log")


def http_error(status: int, method: str, path: str, headers: Mapping[str, str] | None = None) -> ServeError:
    """A refusal by the web framework (a path no route serves, a method the route does not take)
    in the service's terms: the code is the status's name (``not_found``, ``method_not_allowed``)
    and the message names the request and, for 405, the methods the route takes (``Allow``)."""
    try:
        phrase = HTTPStatus(status).phrase
    except ValueError:  # a status the standard does not name
        phrase = "error"
    allow = {k.lower(): v for k, v in (headers or {}).items()}.get("allow")
    hint = f"; this route takes {allow}" if status == 405 and allow else ""
    return ServeError(status, phrase.lower().replace(" ", "_").replace("-", "_"),
                      f"{method} {path[:100]}: {phrase.lower()}{hint}", dict(headers or {}))


@dataclass(frozen=True)
class Limits:
    max_bytes: int = 20 * 1024 * 1024  # request body
    max_pixels: int = 40_000_000  # width x height of the decoded image (decompression bombs)
    min_side: int = 8  # smaller images are refused rather than run through the networks


def media_type(content_type: str | None) -> str:
    """The ``type/subtype`` of a Content-Type header (lower case, parameters dropped)."""
    return (content_type or "").split(";")[0].strip().lower()


def check_content_type(content_type: str | None) -> str:
    kind = media_type(content_type)
    if kind in IMAGE_TYPES or kind == "multipart/form-data":
        return kind
    raise ServeError(415, "unsupported_media_type",
                     f"Content-Type {kind or '(none)'!r}: send the image as the body with Content-Type "
                     f"{', '.join(IMAGE_TYPES)}, or as the 'image' field of a multipart/form-data form")


def check_length(content_length: str | None, limits: Limits) -> None:
    if content_length is None:
        return
    try:
        n = int(content_length)
    except ValueError:
        raise ServeError(400, "bad_request", f"Content-Length {content_length!r} is not a number") from None
    if n > limits.max_bytes:
        raise too_large(n, limits)


def too_large(n: int | None, limits: Limits) -> ServeError:
    size = f"{n} bytes" if n is not None else "more bytes than allowed"
    return ServeError(413, "request_too_large", f"the request has {size}; the limit is {limits.max_bytes} bytes")


def decode_upload(data: bytes, limits: Limits, name: str = "upload") -> np.ndarray:
    """The uploaded image as uint8 RGB (H, W, 3), exactly as the tools read a file; the format
    and the pixel count are read from the header first, so a decompression bomb is refused
    before it is decoded."""
    if not data:
        raise ServeError(400, "empty_image", f"{name}: the image is empty")
    try:
        with Image.open(io.BytesIO(data)) as im:
            fmt, (w, h) = im.format, im.size
    except Image.DecompressionBombError as e:
        raise ServeError(413, "too_many_pixels", f"{name}: {e}") from None
    except Exception:  # noqa: BLE001 - whatever Pillow raises, the bytes are not an image it knows
        raise ServeError(400, "corrupt_image", f"{name}: not a readable image (corrupt or unknown format)") from None
    if fmt not in FORMATS:
        raise ServeError(415, "unsupported_image", f"{name}: a {fmt} image; send JPEG, PNG or WebP")
    if w * h > limits.max_pixels:
        raise ServeError(413, "too_many_pixels",
                         f"{name}: {w}x{h} is {w * h} pixels; the limit is {limits.max_pixels}")
    if min(w, h) < limits.min_side:
        raise ServeError(400, "image_too_small", f"{name}: {w}x{h}; each side needs at least {limits.min_side} pixels")
    try:
        return decode_image(data, name)
    except DataError as e:
        raise ServeError(400, "corrupt_image", str(e)) from None
