"""Reading images the way users have them: any bit depth, channel count and EXIF orientation.

All readers return ``uint8`` RGB arrays of shape (H, W, 3) and raise :class:`DataError`
naming the file when it is missing or cannot be decoded.
"""
from __future__ import annotations

import io
import os
from pathlib import Path

import cv2
import numpy as np
from PIL import Image

from hrseg.errors import DataError
from hrseg.utils.io import atomic_path

# The image files hrseg reads from folders (inference inputs, frame folders, image/mask datasets).
IMAGE_SUFFIXES = (".png", ".jpg", ".jpeg", ".bmp", ".tif", ".tiff", ".webp")


def _to_uint8_rgb(img: np.ndarray, path: Path) -> np.ndarray:
    if img.dtype == np.uint16:
        img = (img / 257.0).round().astype(np.uint8)
    elif img.dtype in (np.float32, np.float64):
        img = np.clip(img * 255.0, 0, 255).round().astype(np.uint8)
    elif img.dtype != np.uint8:
        raise DataError(f"{path}: unsupported pixel type {img.dtype}")
    if img.ndim == 2:
        return cv2.cvtColor(img, cv2.COLOR_GRAY2RGB)
    if img.ndim == 3 and img.shape[2] == 1:
        return cv2.cvtColor(img[:, :, 0], cv2.COLOR_GRAY2RGB)
    if img.ndim == 3 and img.shape[2] == 4:
        return cv2.cvtColor(img, cv2.COLOR_BGRA2RGB)
    if img.ndim == 3 and img.shape[2] == 3:
        return cv2.cvtColor(img, cv2.COLOR_BGR2RGB)
    raise DataError(f"{path}: unsupported image shape {img.shape}")


def read_image(path: str | os.PathLike, apply_exif: bool = True) -> np.ndarray:
    """Read an image file as uint8 RGB, applying its EXIF orientation unless ``apply_exif`` is
    False (dataset labels such as COCO's refer to the stored pixels, which the official code
    reads without rotation).

    Grayscale, RGBA and 16-bit files are converted. A missing, empty or undecodable file
    raises :class:`DataError` naming it.
    """
    p = Path(path)
    if not p.is_file():
        raise DataError(f"{p}: image file not found")
    return decode_image(np.fromfile(str(p), dtype=np.uint8), p, apply_exif)


def decode_image(data: bytes | np.ndarray, name: str | os.PathLike = "<bytes>", apply_exif: bool = True) -> np.ndarray:
    """:func:`read_image` for the encoded bytes of an image file (an upload, say); ``name``
    is what the errors call it."""
    p = Path(name)
    buf = np.frombuffer(data, dtype=np.uint8) if isinstance(data, (bytes, bytearray, memoryview)) else data
    if buf.size == 0:
        raise DataError(f"{p}: image file is empty")
    if not _png_complete(buf):  # said here: libpng would print its own line before cv2 returns None
        raise DataError(f"{p}: not a readable image (a PNG cut short: no end chunk)")
    # IMREAD_UNCHANGED keeps 16-bit and alpha; EXIF rotation needs an explicit flag with it.
    img = cv2.imdecode(buf, cv2.IMREAD_UNCHANGED)
    if img is None:
        raise DataError(f"{p}: not a readable image (corrupt or unsupported format)")
    rgb = _to_uint8_rgb(img, p)
    transform = _EXIF_TRANSFORMS.get(_exif_orientation(io.BytesIO(buf.tobytes()))) if apply_exif else None
    return np.ascontiguousarray(transform(rgb) if transform else rgb)


_PNG_SIGNATURE = b"\x89PNG\r\n\x1a\n"


def _png_complete(buf: np.ndarray) -> bool:
    """False for a PNG whose chunks stop before its IEND chunk (a truncated download or copy);
    True for any other file. Walks the chunk headers only."""
    data = memoryview(buf).cast("B")
    if bytes(data[:8]) != _PNG_SIGNATURE:
        return True
    pos = 8
    while pos + 8 <= len(data):
        length, kind = int.from_bytes(data[pos:pos + 4], "big"), bytes(data[pos + 4:pos + 8])
        pos += 12 + length  # length, type, data, CRC
        if kind == b"IEND":
            return pos <= len(data)
    return False


def image_size(path: str | os.PathLike) -> tuple[int, int]:
    """(width, height) of an image file as :func:`read_image` gives it (EXIF orientation applied),
    from its header alone; :class:`DataError` naming the file when it is not a readable image."""
    p = Path(path)
    try:
        with Image.open(p) as im:
            w, h = im.size
            turned = int(im.getexif().get(0x0112, 1)) in (5, 6, 7, 8)
    except (OSError, ValueError, SyntaxError) as e:  # PIL's UnidentifiedImageError is an OSError
        raise DataError(f"{p}: not a readable image ({type(e).__name__})") from None
    return (h, w) if turned else (w, h)


def _exif_orientation(source: Path | io.BytesIO) -> int:
    """The EXIF orientation tag (1..8), 1 when absent or unreadable."""
    try:
        with Image.open(source) as im:
            return int(im.getexif().get(0x0112, 1))
    except Exception:  # noqa: BLE001 - no EXIF is the normal case, not an error
        return 1


# EXIF orientation -> the operation that shows the stored pixels upright.
_EXIF_TRANSFORMS = {
    2: lambda a: cv2.flip(a, 1),
    3: lambda a: cv2.rotate(a, cv2.ROTATE_180),
    4: lambda a: cv2.flip(a, 0),
    5: lambda a: cv2.transpose(a),
    6: lambda a: cv2.rotate(a, cv2.ROTATE_90_CLOCKWISE),
    7: lambda a: cv2.rotate(cv2.transpose(a), cv2.ROTATE_180),
    8: lambda a: cv2.rotate(a, cv2.ROTATE_90_COUNTERCLOCKWISE),
}


def write_image(path: str | os.PathLike, image: np.ndarray) -> Path:
    """Write an image atomically (a temporary file renamed into place): (H, W, 3) arrays are
    taken as RGB, (H, W) arrays (label maps, uint8 or uint16) are written as they are. The
    format follows the suffix (PNG for label maps, so that the values survive)."""
    p = Path(path)
    pixels = cv2.cvtColor(image, cv2.COLOR_RGB2BGR) if image.ndim == 3 else image
    with atomic_path(p) as tmp:
        if not cv2.imwrite(str(tmp), pixels):
            raise DataError(f"{p}: could not write the image")
    return p
