"""Video in and out, frame by frame: memory stays flat in the video's length.

- :func:`open_frames`: a video file (anything OpenCV's FFmpeg reads) or a folder of frames
  (sorted by name) as a :class:`FrameSource` yielding uint8 RGB arrays one at a time.
- :func:`video_writer`: an annotated video, H.264 in MP4 where OpenCV's build has the encoder,
  else MPEG-4 Part 2 (``mp4v``) in MP4 (OpenCV's own encoder: several times smaller than
  Motion-JPEG), else Motion-JPEG in AVI (playable everywhere, largest); which one is logged. Written to a
  temporary file and moved into place when complete. The encoders write even sizes only (OpenCV's
  cut an odd 321x241 to 320x240): an odd width or height gets one black column or row on the right
  or bottom (322x242), said in the log, so every input pixel is kept where it was.
- :func:`process_video`: the loop the tools run: ``predict(frame) -> (result dict, annotated
  frame)`` per frame, the annotated video (:func:`annotated_video_path`) and one JSON line per
  frame (``<stem>.jsonl``; its ``"frame"`` counts from 0, where MOTChallenge files and
  ``hrseg track`` count from 1), progress with frames/s; a warning when fewer frames decode than
  the container says it holds (a truncated file); one log line names the files (:func:`written_line`).
- :func:`annotated_video_path`: ``<stem>_annotated.mp4`` (``.avi``); an input already so named (an
  annotated video run again) keeps its name rather than growing ``_annotated_annotated``, and an
  input is never overwritten.
- :func:`written_line`: the one line ``hrseg infer`` says per input, photo or video, naming every
  file written for it.
"""
from __future__ import annotations

import contextlib
import json
import logging
import os
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Callable, Iterable, Iterator

import cv2
import numpy as np
from hrseg.errors import DataError
from hrseg.utils.image_io import IMAGE_SUFFIXES, image_size, read_image
from hrseg.utils.io import atomic_path
from hrseg.utils.progress import progress_bar

log = logging.getLogger("hrseg")
# FFmpeg's own log ("h264_v4l2m2m: Could not find a valid device" from a codec probe, "moov atom not
# found" from a damaged file) went to stderr beside hrseg's one error line; OpenCV reads this when it
# first opens a video. A user's own setting wins.
os.environ.setdefault("OPENCV_FFMPEG_LOGLEVEL", "-8")  # AV_LOG_QUIET

VIDEO_SUFFIXES = (".mp4", ".avi", ".mov", ".mkv", ".webm", ".m4v", ".mpg", ".mpeg", ".wmv")
# (fourcc, container suffix, what to call it), best first
CODECS = (("avc1", ".mp4", "H.264 in MP4"), ("mp4v", ".mp4", "MPEG-4 Part 2 in MP4"),
          ("MJPG", ".avi", "Motion-JPEG in AVI"))
ANNOTATED = "_annotated"  # what an annotated video's name adds to its input's stem


def is_video_input(path: str | os.PathLike) -> bool:
    """Whether ``path`` is a video file or a folder (of frames) rather than one image."""
    p = Path(path)
    return p.is_dir() or p.suffix.lower() in VIDEO_SUFFIXES


@dataclass
class FrameSource:
    """Frames of a video or folder; iterate for ``(index, rgb uint8 (H, W, 3))``."""

    path: Path
    fps: float
    count: int | None  # None when the container does not say
    size: tuple[int, int]  # (width, height) of the first frame

    def __iter__(self) -> Iterator[tuple[int, np.ndarray]]:
        if self.path.is_dir():
            for i, f in enumerate(_frame_files(self.path)):
                yield i, read_image(f)
            return
        cap = cv2.VideoCapture(str(self.path))
        try:
            i = 0
            while True:
                ok, frame = cap.read()
                if not ok:
                    break
                yield i, cv2.cvtColor(frame, cv2.COLOR_BGR2RGB)
                i += 1
        finally:
            cap.release()


def _frame_files(folder: Path) -> list[Path]:
    files = sorted(p for p in folder.iterdir() if p.is_file() and p.suffix.lower() in IMAGE_SUFFIXES)
    if not files:
        raise DataError(f"{folder}: no frames found in this folder ({', '.join(IMAGE_SUFFIXES)})")
    return files


def open_frames(path: str | os.PathLike, fps: float = 25.0) -> FrameSource:
    """A :class:`FrameSource` for a video file or a folder of frames (``fps`` for a folder).
    A missing, unreadable or empty video raises :class:`DataError` naming it."""
    p = Path(path)
    if p.is_dir():
        files = _frame_files(p)
        h, w = read_image(files[0]).shape[:2]
        for f in files[1:]:  # from the headers: a video's frames share one size (its output video has it)
            if image_size(f) != (w, h):
                raise DataError(f"{f}: {image_size(f)[0]}x{image_size(f)[1]}, but {files[0].name} is {w}x{h}: the "
                                f"frames of a video (the folder {p}) share one size")
        return FrameSource(p, float(fps), len(files), (w, h))
    if not p.is_file():
        raise DataError(f"{p}: video file not found")
    cap = cv2.VideoCapture(str(p))
    try:
        ok, frame = cap.read() if cap.isOpened() else (False, None)
        if not ok:
            raise DataError(f"{p}: not a readable video (corrupt, empty or an unsupported codec)")
        count = int(cap.get(cv2.CAP_PROP_FRAME_COUNT))
        rate = cap.get(cv2.CAP_PROP_FPS)
    finally:
        cap.release()
    return FrameSource(p, float(rate) if rate and rate > 0 else float(fps), count if count > 0 else None,
                       (frame.shape[1], frame.shape[0]))


_CODEC_CACHE: dict[tuple[int, int], tuple[str, str, str]] = {}


def even_size(size: tuple[int, int]) -> tuple[int, int]:
    """(width, height) rounded up to even numbers: what the video encoders write without a cut."""
    return int(size[0]) + int(size[0]) % 2, int(size[1]) + int(size[1]) % 2


@contextlib.contextmanager
def _opencv_quiet() -> Iterator[None]:
    """OpenCV's log silenced within the block (its level put back after): a codec probe that fails
    is an answer, not an error to print ("Failed to initialize VideoWriter")."""
    api = getattr(cv2.utils, "logging", None) or cv2  # OpenCV 5: cv2.utils.logging; 4: cv2.get/setLogLevel
    level = api.getLogLevel()
    api.setLogLevel(0)  # LOG_LEVEL_SILENT
    try:
        yield
    finally:
        api.setLogLevel(level)


def pick_codec(size: tuple[int, int] = (64, 48)) -> tuple[str, str, str]:
    """The first of :data:`CODECS` this OpenCV build can write (probed once on a tiny file)."""
    key = (size[0] % 2, size[1] % 2)  # H.264 encoders may refuse odd sizes
    if key not in _CODEC_CACHE:
        with tempfile.TemporaryDirectory() as tmp, _opencv_quiet():
            for fourcc, suffix, label in CODECS:
                probe = Path(tmp) / f"probe{suffix}"
                writer = cv2.VideoWriter(str(probe), cv2.VideoWriter_fourcc(*fourcc), 10.0,
                                         (64 + key[0], 48 + key[1]))
                opened = writer.isOpened()
                writer.release()
                if opened:
                    _CODEC_CACHE[key] = (fourcc, suffix, label)
                    break
            else:
                raise DataError("OpenCV cannot write video here (none of " + ", ".join(c[2] for c in CODECS) + ")")
    return _CODEC_CACHE[key]


@dataclass
class VideoOut:
    """An open annotated video: ``write(rgb_frame)``; ``path`` and ``codec`` say what it becomes.
    ``size``: the frames' (width, height); the video's is :func:`even_size` of it (padded)."""

    path: Path
    codec: str
    writer: Any
    size: tuple[int, int]

    def write(self, frame: np.ndarray) -> None:
        if (frame.shape[1], frame.shape[0]) != self.size:
            frame = cv2.resize(frame, self.size, interpolation=cv2.INTER_AREA)
        (w, h), (even_w, even_h) = self.size, even_size(self.size)
        if (even_w, even_h) != (w, h):  # one black column / row on the right / bottom: pixels stay where they were
            frame = cv2.copyMakeBorder(frame, 0, even_h - h, 0, even_w - w, cv2.BORDER_CONSTANT, value=(0, 0, 0))
        self.writer.write(cv2.cvtColor(np.ascontiguousarray(frame), cv2.COLOR_RGB2BGR))


@contextlib.contextmanager
def video_writer(path: str | os.PathLike, fps: float, size: tuple[int, int]) -> Iterator[VideoOut]:
    """Yield a :class:`VideoOut`; the video lands at ``path`` with the codec's suffix (.mp4 or
    .avi) only when the block completes. ``size`` is (width, height); an odd one is padded to
    :func:`even_size` (module docstring), and the log says so."""
    video_size = even_size(size)
    fourcc, suffix, label = pick_codec(video_size)
    target = Path(path).with_suffix(suffix)
    log.info("writing %s as %s", target, label)
    if video_size != tuple(size):
        log.info("%s: the frames are %dx%d; the video is %dx%d (the encoders write even sizes: one black column or "
                 "row on the right or bottom)", target, *size, *video_size)
    with atomic_path(target) as tmp:
        writer = cv2.VideoWriter(str(tmp), cv2.VideoWriter_fourcc(*fourcc), float(fps), video_size)
        if not writer.isOpened():
            raise DataError(f"{target}: could not open the video for writing ({label})")
        try:
            yield VideoOut(target, label, writer, (int(size[0]), int(size[1])))
        finally:
            writer.release()


def annotated_stem(stem: str) -> str:
    """The stem of the annotated video of an input called ``stem``: ``<stem>_annotated``, or ``stem``
    itself when it already ends so (an annotated video run again)."""
    return stem if stem.lower().endswith(ANNOTATED) else stem + ANNOTATED


def annotated_video_path(source: str | os.PathLike, out_dir: str | os.PathLike, suffix: str,
                         stem: str | None = None) -> Path:
    """Where the annotated video of ``source`` goes: ``out_dir/<stem>_annotated<suffix>`` (``stem``:
    the source's, ``suffix``: the codec's, :func:`pick_codec`). A stem already ending in ``_annotated``
    (an annotated video run again) is kept as it is, not stacked to ``_annotated_annotated``; when that
    name is the source itself (``out_dir`` its folder), ``<stem>_2<suffix>``: an input is never
    overwritten."""
    src = Path(source)
    name = annotated_stem(stem or src.stem)
    target = Path(out_dir) / f"{name}{suffix}"
    if target.exists() and src.exists() and os.path.samefile(target, src):
        target = target.with_name(f"{name}_2{suffix}")
        log.info("%s: the annotated video would overwrite its input; it is %s", src, target.name)
    return target


def written_line(source: str | os.PathLike, files: Iterable[str | os.PathLike], count: int | None = None,
                 noun: tuple[str, str] = ("result", "results"), detail: str = "") -> str:
    """The one line ``hrseg infer`` gives an input, naming every file written for it:
    ``<source>: <count> <noun> <detail> -> <file>, <file>, ...`` (``noun``: one, several). A photo's
    is printed (its task's ``write_prediction``); a video's is :func:`process_video`'s log line, its
    detail the time and the codec."""
    what = [f"{count} {noun[count != 1]}"] if count is not None else []
    what += [detail] if detail else []
    return f"{source}: {' '.join([*what, '->', ', '.join(str(f) for f in files)])}"


def process_video(source: str | os.PathLike, out_dir: str | os.PathLike,
                  predict: Callable[[np.ndarray], tuple[dict[str, Any], np.ndarray]], *, fps: float = 25.0,
                  stem: str | None = None, progress: bool = True,
                  on_start: Callable[[float | None], None] | None = None) -> dict[str, Any]:
    """Run ``predict`` on every frame of ``source``; write the annotated video (``<stem>_annotated.mp4|.avi``:
    :func:`annotated_video_path`) and ``<stem>.jsonl`` (``{"frame": i, "time_s": t, **result}`` per
    line) under ``out_dir``, and log the line naming both (:func:`written_line`).
    ``"frame"`` is the frame's index from 0 (the first frame is 0, ``time_s`` is ``frame / fps``),
    where MOTChallenge files (``--boxes dets.txt``, ``hrseg track``) number frames from 1: JSON
    frame ``i`` is MOT frame ``i + 1``.
    ``on_start(frame_rate)`` is called before the first frame with the video's frame rate (None for
    a folder of frames, which has none; ``fps`` times its outputs). Returns a summary: frames,
    frames/s, the files and the codec."""
    frames = open_frames(source, fps)
    if on_start is not None:
        on_start(None if frames.path.is_dir() else frames.fps)
    stem = stem or frames.path.stem
    out = Path(out_dir)
    target = annotated_video_path(frames.path, out, pick_codec(even_size(frames.size))[1], stem)
    start = time.perf_counter()
    n = 0
    with atomic_path(out / f"{stem}.jsonl") as jsonl, jsonl.open("w") as lines, \
            video_writer(target, frames.fps, frames.size) as video:
        with progress_bar(frames.count, frames.path.name, disable=not progress, unit="frame") as bar:
            for i, frame in frames:
                result, annotated = predict(frame)
                video.write(annotated)
                lines.write(json.dumps({"frame": i, "time_s": round(i / frames.fps, 4), **result}) + "\n")
                n += 1
                bar.update(1)
                bar.set_postfix_str(f"{n / max(time.perf_counter() - start, 1e-9):.1f} frames/s")
    seconds = time.perf_counter() - start
    if frames.count and n < frames.count and not frames.path.is_dir():
        log.warning("%s: the container says %d frames, but only %d decoded (a truncated or damaged file?); "
                    "the outputs cover those %d", frames.path, frames.count, n, n)
    summary = {"source": str(frames.path), "frames": n, "seconds": seconds, "frames_per_s": n / max(seconds, 1e-9),
               "video": str(video.path), "jsonl": str(out / f"{stem}.jsonl"), "codec": video.codec}
    log.info("%s", written_line(frames.path, (video.path, summary["jsonl"]), n, ("frame", "frames"),
                                f"in {seconds:.1f} s ({summary['frames_per_s']:.1f} frames/s, {video.codec})"))
    return summary
