"""A synthetic video split with ground truth for tracking: the figures of :mod:`.figures` walk
across a fixed background, turn round in view, cross in front of one another (each at its own
depth, so the nearer one hides the other), walk out of the frame and come back in.

Each split is one sequence in MOTChallenge's layout, plus a COCO-video file::

    <split>/img1/000001.jpg ...       the frames (JPEG)
    <split>/gt/gt.txt                 frame,id,x,y,w,h,1,1,visibility  (1-based frames; id = person)
    <split>/det/det.txt               noisy detections made from gt.txt (:func:`noisy_detections`)
    <split>/seqinfo.ini               name, frame rate, length, size
    annotations/<split>_video.json    COCO-video: videos; images with video_id and frame_id
                                      (0-based); person annotations (COCO keypoints, boxes,
                                      visible area) with track_id
    COMPLETE.json                     written last (:mod:`.generate`)

Boxes and keypoints are read off the rendered label map as in the photo splits
(:func:`.annotate.annotate`): a person hidden behind another or outside the frame has no
annotation in that frame; visibility is the visible share of the figure's pixels. Walkers and
noise are drawn from seeded generators: the same arguments give the same files.

    ensure_synthetic_video("datasets/synthetic_video")        # 200 + 200 frames of 256x320, seconds
"""
from __future__ import annotations

import math
import os
from dataclasses import asdict, dataclass
from functools import partial
from pathlib import Path
from typing import Any, Callable, Iterator

import numpy as np

from hrseg.data.mot import MotBox, write_mot
from hrseg.data.synthetic.annotate import ANNS_PER_IMAGE, annotate, person_category
from hrseg.data.synthetic.body import Pose
from hrseg.data.synthetic.canvas import Canvas
from hrseg.data.synthetic.figures import Person, sample_palette
from hrseg.data.synthetic.generate import Progress, SyntheticSplits, check_counts, write_jpeg, to_stderr
from hrseg.data.synthetic.objects import make_background
from hrseg.data.synthetic.scenes import render_scene
from hrseg.errors import ConfigError
from hrseg.utils.io import atomic_path, write_json

__all__ = ["DetectionNoise", "VideoParams", "ensure_synthetic_video", "generate_synthetic_video", "noisy_detections",
           "render_sequence", "sequence_paths", "walker_frames"]

FORMAT_VERSION = 2
FRAME_RATE = 25
FOOT_BELOW_PELVIS = 0.47  # the unit figure's feet are this far below its pelvis (heights = 1)


@dataclass(frozen=True)
class VideoParams:
    """The walkers: how many, how tall (pixels), how fast (pixels a frame), how often one turns
    round in view (per frame), how long one waits outside before coming back (frames)."""

    num_people: int = 4
    min_height: float = 90.0
    max_height: float = 170.0
    min_speed: float = 1.2
    max_speed: float = 3.5
    turn_rate: float = 0.006
    outside_frames: tuple[int, int] = (5, 30)

    def record(self) -> dict[str, Any]:
        """The settings as a completion marker records them (JSON: the tuple as a list)."""
        return {**asdict(self), "outside_frames": list(self.outside_frames)}


@dataclass(frozen=True)
class DetectionNoise:
    """How det.txt differs from gt.txt: a box is missed with probability ``miss`` plus
    ``occluded_miss * (1 - visibility) ** 2``; kept boxes move and resize by ``jitter`` of their
    size (Gaussian); a kept box scores low (0.15-0.5, for ByteTrack's second pass) with
    probability ``low_score`` plus half its hidden share, else about 0.85; each frame adds a
    Poisson(``false_positives``) number of person-sized false boxes scoring 0.1-0.7."""

    miss: float = 0.05
    occluded_miss: float = 0.6
    jitter: float = 0.05
    low_score: float = 0.1
    false_positives: float = 0.3


def sequence_paths(root: str | os.PathLike, split: str) -> dict[str, Path]:
    """Where a split's frames, gt.txt, det.txt, seqinfo.ini and COCO-video file are."""
    r = Path(root)
    return {"images": r / split / "img1", "gt": r / split / "gt" / "gt.txt", "det": r / split / "det" / "det.txt",
            "seqinfo": r / split / "seqinfo.ini", "coco": r / "annotations" / f"{split}_video.json"}


def _walking_pose(phase: float, stride: float) -> Pose:
    """The gait at ``phase`` (radians); ``stride`` 0 stands, 1 walks."""
    swing = 28.0 * stride * math.sin(phase)
    knee = [8 + 35 * stride * max(0.0, math.sin(phase + s)) for s in (0.0, math.pi)]
    thigh = ((5.0, swing), (5.0, -swing))
    return Pose(spine_forward=3.0, spine_side=0.0, head_yaw=0.0,
                upper_arm=((10.0, -0.8 * swing), (10.0, 0.8 * swing)),
                forearm=((10.0, -0.8 * swing + 25.0), (10.0, 0.8 * swing + 25.0)),
                thigh=thigh, shin=tuple((a, f - k) for (a, f), k in zip(thigh, knee)))  # type: ignore[arg-type]


def walker_frames(rng: np.random.Generator, count: int, size: tuple[int, int], params: VideoParams
                  ) -> list[list[Person]]:
    """``count`` frames of ``params.num_people`` walkers: for each frame, every walker's figure
    (also the ones outside the frame, which draw nothing)."""
    h, w = size
    walkers, n = [], params.num_people
    # one depth band and one stretch of the width each, every other one walking the other way: people
    # cross and part rather than walk in step, one behind the other, for the whole video
    strata, places, first = rng.permutation(n), rng.permutation(n), float(rng.choice([-1.0, 1.0]))
    for k in range(n):
        depth = float((strata[k] + rng.uniform(0.1, 0.9)) / n)  # nearer: taller, lower in the image
        height = params.min_height + depth * (params.max_height - params.min_height) * float(rng.uniform(0.8, 1.0))
        feet = h * (0.78 + 0.2 * depth) + float(rng.normal(0, 3))
        walkers.append(dict(palette=sample_palette(rng), build=float(np.clip(rng.normal(1.0, 0.07), 0.85, 1.15)),
                            scale=height, pelvis_y=feet - FOOT_BELOW_PELVIS * height, depth=depth + 0.01 * k,
                            x=float((places[k] + rng.uniform(0.2, 0.8)) / n * w), d=first * (-1.0) ** k,
                            speed=float(rng.uniform(params.min_speed, params.max_speed)),
                            phase=float(rng.uniform(0, 2 * math.pi)), yaw=0.0, turning=0, outside=0))
    for wk in walkers:
        wk["yaw"] = 75.0 * wk["d"]
    frames = []
    for _ in range(count):
        people = []
        for wk in walkers:
            _step(rng, wk, w, params)
            stride = 0.0 if wk["turning"] or wk["outside"] else 1.0
            people.append(Person(_walking_pose(wk["phase"], stride), wk["yaw"], 0.0, wk["scale"],
                                 (wk["x"], wk["pelvis_y"]), wk["palette"], wk["depth"], wk["build"]))
        frames.append(people)
    return frames


def _step(rng: np.random.Generator, wk: dict[str, Any], width: int, params: VideoParams) -> None:
    """One frame of a walker: walk, turn round in view, or wait outside and come back."""
    margin = 0.35 * wk["scale"]  # the figure is out of view past this
    if wk["outside"]:
        wk["outside"] -= 1
        if not wk["outside"]:
            wk["d"], wk["yaw"] = -wk["d"], -75.0 * wk["d"]
        return
    if wk["turning"]:
        wk["turning"] -= 1
        wk["yaw"] += (-75.0 * wk["d"] - wk["yaw"]) / max(1, wk["turning"])  # through 0: faces the camera
        if not wk["turning"]:
            wk["d"] = -wk["d"]
        return
    if rng.random() < params.turn_rate:
        wk["turning"] = int(rng.integers(10, 25))
        return
    wk["x"] += wk["d"] * wk["speed"]
    wk["phase"] += wk["speed"] / (0.09 * wk["scale"]) * math.pi / 2
    if wk["x"] < -margin or wk["x"] > width + margin:
        wk["outside"] = int(rng.integers(*params.outside_frames))


def render_sequence(key: list[int], count: int, size: tuple[int, int], params: VideoParams
                    ) -> Iterator[tuple[int, list[Person], Canvas]]:
    """The frames of one sequence seeded by ``key``: (index, the walkers, the rendered canvas with
    the camera's noise on its image; person k is entity k + 1 of its label map)."""
    rng = np.random.default_rng(key)
    background = make_background(rng, size)
    for i, people in enumerate(walker_frames(rng, count, size, params)):
        frame_rng = np.random.default_rng([*key, i])
        canvas = render_scene(people, background)
        img = canvas.image.astype(np.float32) + frame_rng.standard_normal(canvas.image.shape, np.float32) * 3 + 0.5
        yield i, people, Canvas(np.clip(img, 0, 255).astype(np.uint8), canvas.labels)


def _visibility(person: Person, labels: np.ndarray, entity: int, visible: float) -> float:
    """The visible share of a figure: its pixels in the scene over its pixels drawn alone."""
    alone = Canvas(np.zeros((*labels.shape, 3), np.uint8), np.zeros(labels.shape, np.uint16))
    person.draw(alone, entity)
    return min(1.0, visible / max(1.0, float((alone.labels != 0).sum())))


def noisy_detections(gt: list[MotBox], rng: np.random.Generator, size: tuple[int, int],
                     noise: DetectionNoise = DetectionNoise(), keep_ids: bool = False) -> list[MotBox]:
    """Detections (id -1) made from ground-truth boxes: misses, jitter, low scores and false
    positives as ``noise`` says (:class:`DetectionNoise`). ``keep_ids``: a detection keeps the id
    of the box it came from (false positives get 0), to attach what else is known of it."""
    h, w = size
    out = []
    frames = sorted({b.frame for b in gt})
    for frame in range(1, max(frames, default=0) + 1):
        for b in (b for b in gt if b.frame == frame):
            hidden = 1.0 - (b.visibility if b.visibility is not None else 1.0)
            if rng.random() < noise.miss + noise.occluded_miss * hidden ** 2:
                continue
            jx, jy, jw, jh = rng.normal(0, noise.jitter, 4)
            bw, bh = b.w * math.exp(jw), b.h * math.exp(jh)
            x, y = b.x + b.w / 2 + jx * b.w - bw / 2, b.y + b.h / 2 + jy * b.h - bh / 2
            low = rng.random() < noise.low_score + 0.5 * hidden
            score = rng.uniform(0.15, 0.5) if low else float(np.clip(rng.normal(0.85, 0.07), 0.55, 0.99))
            out.append(MotBox(frame, b.id if keep_ids else -1, x, y, bw, bh, float(score)))
        for _ in range(rng.poisson(noise.false_positives)):
            bh = rng.uniform(0.3, 0.6) * h
            bw = bh * rng.uniform(0.3, 0.5)
            out.append(MotBox(frame, 0 if keep_ids else -1, rng.uniform(0, w - bw), rng.uniform(0, h - bh), bw, bh,
                              float(rng.uniform(0.1, 0.7))))
    return out


def _seqinfo(name: str, count: int, size: tuple[int, int]) -> str:
    return (f"[Sequence]\nname={name}\nimDir=img1\nframeRate={FRAME_RATE}\nseqLength={count}\n"
            f"imWidth={size[1]}\nimHeight={size[0]}\nimExt=.jpg\n")


def _files(root: Path, split: str, count: int) -> list[Path]:
    p = sequence_paths(root, split)
    return [p["gt"], p["det"], p["seqinfo"], p["coco"], *(p["images"] / f"{i:06d}.jpg" for i in range(1, count + 1))]


def _write_split(root: Path, size: tuple[int, int], seed: int, params: VideoParams, noise: DetectionNoise,
                 jpeg_quality: int, split: str, count: int, progress: Progress) -> dict[str, int]:
    paths = sequence_paths(root, split)
    split_index = ("train", "val").index(split)
    images, anns, gt = [], [], []
    for i, people, canvas in render_sequence([seed, split_index], count, size, params):
        write_jpeg(paths["images"] / f"{i + 1:06d}.jpg", canvas.image, jpeg_quality)
        image_id = (split_index * 1_000_000) + i + 1
        images.append({"id": image_id, "file_name": f"{i + 1:06d}.jpg", "height": size[0], "width": size[1],
                       "video_id": split_index + 1, "frame_id": i})
        for ann in annotate(people, canvas.labels, image_id):
            entity = ann["id"] - image_id * ANNS_PER_IMAGE
            vis = _visibility(people[entity - 1], canvas.labels, entity, ann["area"])
            anns.append({**ann, "track_id": entity, "visibility": round(vis, 3)})
            gt.append(MotBox(i + 1, entity, *ann["bbox"], 1.0, (1.0, round(vis, 3))))
        progress(split, i + 1, count)
    write_mot(paths["gt"], gt, results=False)
    write_mot(paths["det"], noisy_detections(gt, np.random.default_rng([seed, split_index, 10**6]), size, noise))
    with atomic_path(paths["seqinfo"]) as tmp:
        tmp.write_text(_seqinfo(f"synthetic-{split}", count, size))
    video = {"id": split_index + 1, "name": f"synthetic-{split}", "frame_rate": FRAME_RATE}
    write_json(paths["coco"], {"info": {"description": f"hrseg synthetic video (seed {seed})",
                                        "version": str(FORMAT_VERSION)}, "licenses": [], "videos": [video],
                               "images": images, "annotations": anns, "categories": [person_category()]}, indent=None)
    return {"frames": count, "boxes": len(gt), "tracks": len({b.id for b in gt})}


def _splits(root: str | os.PathLike, num_train: int, num_val: int, image_size: tuple[int, int], seed: int,
            params: VideoParams, noise: DetectionNoise, jpeg_quality: int) -> SyntheticSplits:
    size = check_counts("synthetic_video", num_train, num_val, image_size, 64, "image_size")
    if not 1 <= params.num_people < ANNS_PER_IMAGE:
        raise ConfigError(f"synthetic_video: num_people must be 1 to {ANNS_PER_IMAGE - 1}, got {params.num_people}")
    settings = {"num_train": int(num_train), "num_val": int(num_val), "image_size": list(size), "seed": int(seed),
                "jpeg_quality": int(jpeg_quality), "params": params.record(), "noise": asdict(noise)}
    r = Path(root)
    return SyntheticSplits("synthetic_video", r, FORMAT_VERSION, settings, {"train": int(num_train), "val": int(num_val)},
                           partial(_files, r), partial(_write_split, r, size, int(seed), params, noise, int(jpeg_quality)))


def generate_synthetic_video(root: str | os.PathLike, num_train: int = 200, num_val: int = 200,
                             image_size: tuple[int, int] = (256, 320), seed: int = 0, *,
                             params: VideoParams = VideoParams(), noise: DetectionNoise = DetectionNoise(),
                             jpeg_quality: int = 92, progress_every: int = 100,
                             log: Callable[[str], None] | None = to_stderr) -> dict[str, Any]:
    """Write the train and val sequences under ``root`` (module docstring); returns the marker's
    content (config and per-split counts) plus ``root`` and ``seconds``."""
    return _splits(root, num_train, num_val, image_size, seed, params, noise, jpeg_quality).generate(log, progress_every)


def ensure_synthetic_video(root: str | os.PathLike, num_train: int = 200, num_val: int = 200,
                           image_size: tuple[int, int] = (256, 320), seed: int = 0, *,
                           params: VideoParams = VideoParams(), noise: DetectionNoise = DetectionNoise(),
                           jpeg_quality: int = 92, progress_every: int = 100,
                           log: Callable[[str], None] | None = to_stderr) -> dict[str, Any]:
    """Generate the sequences unless a complete set with the same settings is at ``root``."""
    return _splits(root, num_train, num_val, image_size, seed, params, noise, jpeg_quality).ensure(log, progress_every)
