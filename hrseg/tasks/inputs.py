"""What ``hrseg infer`` looks at before it writes anything: the photos (each decoded once), the
videos (each opened and its first frame read), the names of the files the outputs will take
(two inputs must not write the same files) and the output folder. A bad input stops the run
with one error naming it, and nothing is written."""
from __future__ import annotations

import os
from pathlib import Path
from typing import Sequence

from hrseg.errors import ConfigError, DataError
from hrseg.inference.video import annotated_stem, open_frames
from hrseg.utils.image_io import IMAGE_SUFFIXES, read_image

__all__ = ["check_inputs", "find_images"]


def find_images(inputs: Sequence[str | os.PathLike]) -> list[Path]:
    """Files as given, and the images (sorted) inside any folder given."""
    found: list[Path] = []
    for item in inputs:
        p = Path(item)
        if p.is_dir():
            images = sorted(q for q in p.iterdir() if q.is_file() and q.suffix.lower() in IMAGE_SUFFIXES)
            if not images:
                raise DataError(f"{p}: no images found in this folder ({', '.join(IMAGE_SUFFIXES)})")
            found += images
        else:
            found.append(p)
    if not found:
        raise ConfigError("no input images given")
    return found


def check_inputs(photos: Sequence[Path], videos: Sequence[Path]) -> None:
    """Decode every photo, open every video (file or folder of frames) and refuse two photos or two
    videos whose outputs would take the same names (``a/x.jpg`` and ``b/x.jpg``, ``x.mp4`` and
    ``x.avi``: the outputs are named by the input's stem)."""
    for photo in photos:
        read_image(photo)  # errors name the file
    for video in videos:
        open_frames(video)
    for kind, group in (("photos", photos), ("videos", videos)):
        first: dict[str, Path] = {}
        for path in group:  # a video's outputs: <stem>.jsonl and its annotated video's stem
            for name in dict.fromkeys([path.stem] + ([annotated_stem(path.stem)] if kind == "videos" else [])):
                other = first.setdefault(name, path)
                if other != path:
                    raise DataError(f"{other} and {path}: two {kind} whose outputs would take the same names "
                                    f"({name!r}); rename one or run them apart")
