"""Frames of synthetic videos as a photo split, for detectors and pose models meant for video.

The photo splits (:mod:`.pose`) show figures scattered over a textured background; the video
split (:mod:`.video`) shows walkers who cross in front of one another, half hidden, at the
frame's edges, on its own backgrounds. A detector trained on the photos misses these people and
fires on clutter (docs/video.md). This dataset renders many short sequences exactly as
:mod:`.video` does (each its own background and walkers) and keeps every ``frame_step``-th frame
in the photo splits' layout (:func:`.pose.dataset_paths`), so every task that reads those reads
it: ``data.synthetic=dict(kind="video_frames")``.

Sequences are seeded ``[seed, 10 + split, sequence]``: never one of the video split's own
sequences (``[seed, split]``), so a model trained here is measured on those without having seen
them.

    ensure_synthetic_video_frames("datasets/synthetic_video_frames")   # 1200 + 200 frames of 256x320
"""
from __future__ import annotations

import math
import os
from functools import partial
from pathlib import Path
from typing import Any, Callable

from hrseg.data.synthetic.annotate import annotate, coco_files, split_stats
from hrseg.data.synthetic.generate import SPLITS, Progress, SyntheticSplits, check_counts, write_jpeg, to_stderr
from hrseg.data.synthetic.pose import dataset_paths, image_file_name, image_id_of, split_files
from hrseg.data.synthetic.video import VideoParams, render_sequence
from hrseg.errors import ConfigError
from hrseg.utils.io import write_json

__all__ = ["ensure_synthetic_video_frames", "generate_synthetic_video_frames"]

FORMAT_VERSION = 1


def _write_split(root: Path, size: tuple[int, int], seed: int, params: VideoParams, frames_per_sequence: int,
                 frame_step: int, jpeg_quality: int, split: str, count: int, progress: Progress) -> dict[str, int]:
    paths = dataset_paths(root, split)
    images, anns = [], []
    for sequence in range(math.ceil(count / frames_per_sequence)):
        kept = min(frames_per_sequence, count - sequence * frames_per_sequence)
        key = [seed, 10 + SPLITS.index(split), sequence]
        for i, people, canvas in render_sequence(key, kept * frame_step, size, params):
            if i % frame_step:
                continue
            index = sequence * frames_per_sequence + i // frame_step
            image_id = image_id_of(split, index)
            write_jpeg(paths["images"] / image_file_name(image_id), canvas.image, jpeg_quality)
            images.append({"id": image_id, "file_name": image_file_name(image_id), "height": size[0],
                           "width": size[1]})
            anns += annotate(people, canvas.labels, image_id)
            progress(split, index + 1, count)
    person_keypoints, instances = coco_files(images, anns, seed, FORMAT_VERSION)
    write_json(paths["person_keypoints"], person_keypoints, indent=None)
    write_json(paths["instances"], instances, indent=None)
    return split_stats(anns, count)


def _splits(root: str | os.PathLike, num_train: int, num_val: int, image_size: tuple[int, int], seed: int,
            frames_per_sequence: int, frame_step: int, params: VideoParams, jpeg_quality: int) -> SyntheticSplits:
    size = check_counts("synthetic_video_frames", num_train, num_val, image_size, 64, "image_size")
    if frames_per_sequence < 1 or frame_step < 1:
        raise ConfigError(f"synthetic_video_frames: frames_per_sequence and frame_step must be at least 1, "
                          f"got {frames_per_sequence} and {frame_step}")
    settings = {"num_train": int(num_train), "num_val": int(num_val), "image_size": list(size), "seed": int(seed),
                "frames_per_sequence": int(frames_per_sequence), "frame_step": int(frame_step),
                "jpeg_quality": int(jpeg_quality), "params": params.record()}
    r = Path(root)
    return SyntheticSplits("synthetic_video_frames", r, FORMAT_VERSION, settings,
                           {"train": int(num_train), "val": int(num_val)}, partial(split_files, r),
                           partial(_write_split, r, size, int(seed), params, int(frames_per_sequence),
                                   int(frame_step), int(jpeg_quality)))


def generate_synthetic_video_frames(root: str | os.PathLike, num_train: int = 1200, num_val: int = 200,
                                    image_size: tuple[int, int] = (256, 320), seed: int = 0, *,
                                    frames_per_sequence: int = 20, frame_step: int = 5,
                                    params: VideoParams = VideoParams(), jpeg_quality: int = 92,
                                    progress_every: int = 100,
                                    log: Callable[[str], None] | None = to_stderr) -> dict[str, Any]:
    """Write the train and val splits (``num_train`` / ``num_val`` frames, ``frames_per_sequence``
    from each sequence, every ``frame_step``-th frame of it) under ``root``; returns the marker's
    content plus ``root`` and ``seconds``."""
    return _splits(root, num_train, num_val, image_size, seed, frames_per_sequence, frame_step, params,
                   jpeg_quality).generate(log, progress_every)


def ensure_synthetic_video_frames(root: str | os.PathLike, num_train: int = 1200, num_val: int = 200,
                                  image_size: tuple[int, int] = (256, 320), seed: int = 0, *,
                                  frames_per_sequence: int = 20, frame_step: int = 5,
                                  params: VideoParams = VideoParams(), jpeg_quality: int = 92,
                                  progress_every: int = 100,
                                  log: Callable[[str], None] | None = to_stderr) -> dict[str, Any]:
    """Generate the splits unless a complete set with the same settings is at ``root``."""
    return _splits(root, num_train, num_val, image_size, seed, frames_per_sequence, frame_step, params,
                   jpeg_quality).ensure(log, progress_every)
