"""Semantic segmentation datasets: Cityscapes, PASCAL-Context (mmsegmentation layout), ADE20K,
PASCAL VOC 2012 (with SBD's augmented labels), COCO-Stuff 10k (the official HRNet lists) and plain
image/mask folders.

Every dataset yields ``(image, label, meta)``: without a transform the image is uint8 RGB
(H, W, 3) and the label int64 (H, W) of train ids with 255 = ignore; a transform turns them into
tensors. ``meta`` holds ``file_name``, ``image_path``, ``label_path`` and ``ori_shape`` (H, W).

Random transforms get a ``numpy.random.Generator`` seeded by (seed, epoch, index), so an
augmented sample is the same whichever DataLoader worker loads it; call ``set_epoch`` each epoch.
"""
from __future__ import annotations

import os
from pathlib import Path
from typing import Any, Callable, Sequence

import numpy as np
from PIL import Image
from torch.utils.data import Dataset

from hrseg.utils.image_io import IMAGE_SUFFIXES, read_image  # noqa: F401  (IMAGE_SUFFIXES re-exported)
from hrseg.meta.classes import (
    ADE20K_CLASSES, ADE20K_PALETTE, CITYSCAPES_CLASSES, CITYSCAPES_PALETTE, COCO_STUFF_CLASSES, COCO_STUFF_PALETTE,
    IGNORE_INDEX, PASCAL_CONTEXT_59_CLASSES, PASCAL_CONTEXT_59_PALETTE, PASCAL_CONTEXT_60_CLASSES,
    PASCAL_CONTEXT_60_PALETTE, VOC_CLASSES, VOC_PALETTE, cityscapes_labelid_to_trainid, coco_stuff_id_to_class,
    make_palette,
)
from hrseg.errors import ConfigError, DataError

# (image uint8 HWC, label int64 HW, rng) -> (image, label), usually tensors.
SegTransform = Callable[[np.ndarray, np.ndarray, np.random.Generator], tuple[Any, Any]]


def read_label(path: str | os.PathLike) -> np.ndarray:
    """Read a label PNG as an (H, W) integer array of the stored values.

    PIL, not OpenCV: OpenCV turns palette ('P' mode) PNGs, as PASCAL VOC ships them, into
    colours, while the class indices are what is stored. 16-bit files keep their values.
    """
    p = Path(path)
    if not p.is_file():
        raise DataError(f"{p}: label file not found")
    try:
        with Image.open(p) as im:
            mode = im.mode
            arr = np.array(im)
    except Exception as e:  # noqa: BLE001 - any decoder failure is a corrupt file for the user
        raise DataError(f"{p}: not a readable label image ({e})") from None
    if arr.ndim == 3:
        if arr.shape[2] >= 3 and not (np.array_equal(arr[..., 0], arr[..., 1])
                                      and np.array_equal(arr[..., 0], arr[..., 2])):
            raise DataError(f"{p}: label is a colour image (mode {mode}); expected one channel of "
                            "class indices (a colourised label cannot be used for training)")
        arr = arr[..., 0]
    if arr.dtype == bool:
        arr = arr.astype(np.uint8)
    if arr.dtype.kind not in "ui":
        raise DataError(f"{p}: label pixels must be integers, got {arr.dtype} (mode {mode})")
    return arr


def _check_values(raw: np.ndarray, max_value: int, path: Path, hint: str) -> None:
    """Raise DataError unless every value is in 0..max_value or is 255 (ignore)."""
    if raw.dtype in (np.uint8, np.uint16):  # counting is much faster than sorting
        values = np.flatnonzero(np.bincount(raw.ravel()))
    else:
        values = np.unique(raw)
    bad = values[((values < 0) | (values > max_value)) & (values != IGNORE_INDEX)]
    if bad.size:
        raise DataError(f"{path}: label values {bad[:10].tolist()} are outside 0..{max_value} and "
                        f"255 (ignore); {hint}")


class SegDataset(Dataset):
    """Image/label file pairs; subclasses turn the stored label values into train ids."""

    ignore_index = IGNORE_INDEX

    def __init__(self, samples: Sequence[tuple[Path, Path]], classes: Sequence[str],
                 palette: np.ndarray, transform: SegTransform | None = None, seed: int = 0) -> None:
        self.samples = list(samples)
        self.classes = tuple(classes)
        self.palette = np.asarray(palette, dtype=np.uint8)
        self.transform = transform
        self.seed = seed
        self.epoch = 0

    @property
    def num_classes(self) -> int:
        return len(self.classes)

    def __len__(self) -> int:
        return len(self.samples)

    @property
    def normalize_images(self) -> bool:
        """False: the training transform's crops come as uint8, normalised on the device by the training
        step (``train.device_normalize``); an evaluation dataset normalises in the predictor."""
        return getattr(self.transform, "normalize_images", True)

    @normalize_images.setter
    def normalize_images(self, value: bool) -> None:
        if hasattr(self.transform, "normalize_images"):
            self.transform.normalize_images = bool(value)
        elif not value:
            raise ConfigError(f"{type(self).__name__}: its transform {type(self.transform).__name__} always "
                              "normalises (uint8 crops for the device need SegTrainTransform)")

    def set_stage(self, crop_size: Sequence[int], randaugment: float = 0.0, randaugment_ops: int = 2) -> None:
        """A progressive-learning stage: the training transform's crop (H, W) and RandAugment."""
        set_stage = getattr(self.transform, "set_stage", None)
        if set_stage is None:
            raise ConfigError(f"{type(self).__name__}: its transform {type(self.transform).__name__} has no "
                              "training stages (progressive learning needs SegTrainTransform)")
        set_stage(crop_size, randaugment, randaugment_ops)

    def set_epoch(self, epoch: int) -> None:
        """Change the augmentation draws for a new epoch (deterministic per epoch and index)."""
        self.epoch = epoch

    def encode_label(self, raw: np.ndarray, path: Path) -> np.ndarray:
        """Stored label values -> train ids (int64, 255 ignore); validates and raises DataError."""
        raise NotImplementedError

    def load(self, index: int) -> tuple[np.ndarray, np.ndarray, dict[str, Any]]:
        """The untransformed sample: uint8 RGB image, int64 train-id label, meta."""
        image_path, label_path = self.samples[index]
        image = read_image(image_path)
        raw = read_label(label_path)
        if raw.shape != image.shape[:2]:
            raise DataError(f"{label_path}: label size {raw.shape[1]}x{raw.shape[0]} differs from "
                            f"its image {image_path} ({image.shape[1]}x{image.shape[0]})")
        label = self.encode_label(raw, label_path)
        meta = {"file_name": image_path.name, "image_path": str(image_path),
                "label_path": str(label_path), "ori_shape": tuple(image.shape[:2])}
        return image, label, meta

    def __getitem__(self, index: int) -> tuple[Any, Any, dict[str, Any]]:
        image, label, meta = self.load(index)
        if self.transform is not None:
            rng = np.random.default_rng([self.seed, self.epoch, index])
            image, label = self.transform(image, label, rng)
        return image, label, meta


def _require_dir(path: Path, what: str) -> Path:
    if not path.is_dir():
        raise DataError(f"{path}: {what} directory not found")
    return path


class CityscapesDataset(SegDataset):
    """Cityscapes fine labels: ``leftImg8bit/{split}/{city}/*_leftImg8bit.png`` with
    ``gtFine/{split}/{city}/*_gtFine_labelIds.png``, labelIds mapped to the 19 train ids.

    The labelIds are mapped here, so cityscapesScripts' ``createTrainIdLabelImgs`` is not needed.
    """

    def __init__(self, root: str | os.PathLike, split: str = "train",
                 transform: SegTransform | None = None, seed: int = 0) -> None:
        root = Path(root)
        image_dir = _require_dir(root / "leftImg8bit" / split, f"Cityscapes '{split}' image")
        images = sorted(image_dir.glob("*/*_leftImg8bit.png"))
        if not images:
            raise DataError(f"{image_dir}: no */*_leftImg8bit.png images found")
        samples = []
        for img in images:
            stem = img.name[: -len("_leftImg8bit.png")]
            label = root / "gtFine" / split / img.parent.name / f"{stem}_gtFine_labelIds.png"
            if not label.is_file():
                raise DataError(f"{label}: label file not found (for image {img})")
            samples.append((img, label))
        super().__init__(samples, CITYSCAPES_CLASSES, CITYSCAPES_PALETTE, transform, seed)

    def encode_label(self, raw: np.ndarray, path: Path) -> np.ndarray:
        _check_values(raw, 33, path, "is this a *_gtFine_labelIds.png file?")
        return cityscapes_labelid_to_trainid(raw).astype(np.int64)


def _listed_samples(root: Path, list_file: Path, image_dir: str, label_dir: str) -> list[tuple[Path, Path]]:
    """``(root/image_dir/{id}.jpg, root/label_dir/{id}.png)`` for the ids a split list names (sorted, once
    each); one DataError for a missing or empty list, or a file it names that is not there."""
    if not list_file.is_file():
        raise DataError(f"{list_file}: split list not found")
    ids = sorted({line.strip() for line in list_file.read_text().splitlines() if line.strip()})
    if not ids:
        raise DataError(f"{list_file}: split list is empty")
    samples = [(root / image_dir / f"{i}.jpg", root / label_dir / f"{i}.png") for i in ids]
    for image, label in samples:
        for path, what in ((image, "image"), (label, "label")):
            if not path.is_file():
                raise DataError(f"{path}: {what} file not found (listed in {list_file})")
    return samples


def _reduce_zero_label(label: np.ndarray) -> np.ndarray:
    """mmsegmentation's ``reduce_zero_label``: 0 (background, "other") ignored, the classes one down."""
    ignore = (label == 0) | (label == IGNORE_INDEX)
    label = label - 1
    label[ignore] = IGNORE_INDEX
    return label


class PascalContextDataset(SegDataset):
    """PASCAL-Context as mmsegmentation's converter writes it: ``JPEGImages/{id}.jpg``,
    ``SegmentationClassContext/{id}.png`` (0 background, 1..59 classes) and
    ``ImageSets/SegmentationContext/{split}.txt``.

    With 59 classes background is ignored and classes shift down by one (mmsegmentation's
    ``reduce_zero_label``); with 60, background is class 0.
    """

    def __init__(self, root: str | os.PathLike, split: str = "train", num_classes: int = 59,
                 transform: SegTransform | None = None, seed: int = 0) -> None:
        if num_classes not in (59, 60):
            raise ValueError(f"PASCAL-Context has 59 or 60 classes, not {num_classes}")
        root = Path(root)
        samples = _listed_samples(root, root / "ImageSets" / "SegmentationContext" / f"{split}.txt", "JPEGImages",
                                  "SegmentationClassContext")
        self.reduce_zero_label = num_classes == 59
        classes, palette = ((PASCAL_CONTEXT_59_CLASSES, PASCAL_CONTEXT_59_PALETTE) if num_classes == 59
                            else (PASCAL_CONTEXT_60_CLASSES, PASCAL_CONTEXT_60_PALETTE))
        super().__init__(samples, classes, palette, transform, seed)

    def encode_label(self, raw: np.ndarray, path: Path) -> np.ndarray:
        _check_values(raw, 59, path, "expected 0 = background and 1..59 = the PASCAL-Context classes")
        label = raw.astype(np.int64)
        return _reduce_zero_label(label) if self.reduce_zero_label else label


class ADE20KDataset(SegDataset):
    """ADE20K (SceneParsing, ``ADEChallengeData2016``) as released and as mmsegmentation reads it:
    ``images/{split}/*.jpg`` with ``annotations/{split}/*.png`` of the same stems, splits ``training``
    and ``validation``; 0 ("other") ignored and 1..150 the classes 0..149 (``reduce_zero_label``)."""

    def __init__(self, root: str | os.PathLike, split: str = "training", transform: SegTransform | None = None,
                 seed: int = 0) -> None:
        root = Path(root)
        image_dir = _require_dir(root / "images" / split, f"ADE20K '{split}' image")
        images = sorted(image_dir.glob("*.jpg"))
        if not images:
            raise DataError(f"{image_dir}: no *.jpg images found")
        samples = [(img, root / "annotations" / split / f"{img.stem}.png") for img in images]
        for img, label in samples:
            if not label.is_file():
                raise DataError(f"{label}: label file not found (for image {img})")
        super().__init__(samples, ADE20K_CLASSES, ADE20K_PALETTE, transform, seed)

    def encode_label(self, raw: np.ndarray, path: Path) -> np.ndarray:
        _check_values(raw, 150, path, "expected 0 = other (ignored) and 1..150 = the ADE20K classes")
        return _reduce_zero_label(raw.astype(np.int64))


class VOCDataset(SegDataset):
    """PASCAL VOC 2012 segmentation as the development kit ships it: ``JPEGImages/{id}.jpg``,
    ``SegmentationClass/{id}.png`` (palette PNGs: 0 background, 1..20 the classes, 255 the outlines,
    ignored) and ``ImageSets/Segmentation/{split}.txt``. The split ``aug`` is the augmented set
    (SBD's labels, mmsegmentation's ``voc_aug.py`` converter): ``SegmentationClassAug/{id}.png`` listed in
    ``ImageSets/Segmentation/aug.txt``; ``train+aug`` (mmsegmentation's ``voc12aug`` training) both, an id in
    both read from ``SegmentationClass``."""

    def __init__(self, root: str | os.PathLike, split: str = "train", transform: SegTransform | None = None,
                 seed: int = 0) -> None:
        root = Path(root)
        samples: dict[str, tuple[Path, Path]] = {}
        for part in split.split("+"):
            labels = "SegmentationClassAug" if part == "aug" else "SegmentationClass"
            for image, label in _listed_samples(root, root / "ImageSets" / "Segmentation" / f"{part}.txt",
                                                "JPEGImages", labels):
                samples.setdefault(image.stem, (image, label))
        super().__init__(list(samples.values()), VOC_CLASSES, VOC_PALETTE, transform, seed)

    def encode_label(self, raw: np.ndarray, path: Path) -> np.ndarray:
        _check_values(raw, 20, path, "expected VOC's class indices 0..20 (a palette PNG) and 255")
        return raw.astype(np.int64)


class CocoStuffDataset(SegDataset):
    """COCO-Stuff 10k as the official HRNet code reads it (lib/datasets/cocostuff.py): ``{root}/{split}.lst``,
    a line per sample naming the image and the label PNG relative to ``root``
    (``val/image/COCO_train2014_000000000825.jpg val/label/COCO_train2014_000000000825.png``); the label
    holds the release's ids (0 unlabeled, 1..182, as in its ``.mat`` files), mapped to the 171 classes
    (:func:`~hrseg.meta.classes.coco_stuff_id_to_class`: unlabeled and the 11 unused ids ignored).
    COCO-Stuff 164k's PNGs count from 0 (0 = person): they are not this format."""

    def __init__(self, root: str | os.PathLike, split: str = "train", transform: SegTransform | None = None,
                 seed: int = 0) -> None:
        root = Path(root)
        list_file = root / f"{split}.lst"
        if not list_file.is_file():
            raise DataError(f"{list_file}: split list not found (COCO-Stuff: '<image> <label>' per line)")
        samples = []
        for number, line in enumerate(list_file.read_text().splitlines(), 1):
            if not line.strip():
                continue
            parts = line.split()
            if len(parts) != 2:
                raise DataError(f"{list_file}, line {number}: expected '<image> <label>', got {line.strip()!r}")
            image, label = root / parts[0], root / parts[1]
            for path, what in ((image, "image"), (label, "label")):
                if not path.is_file():
                    raise DataError(f"{path}: {what} file not found (listed in {list_file}, line {number})")
            samples.append((image, label))
        if not samples:
            raise DataError(f"{list_file}: split list is empty")
        self._classes_of = coco_stuff_id_to_class()
        super().__init__(samples, COCO_STUFF_CLASSES, COCO_STUFF_PALETTE, transform, seed)

    def encode_label(self, raw: np.ndarray, path: Path) -> np.ndarray:
        _check_values(raw, 182, path, "expected COCO-Stuff 10k's ids: 0 = unlabeled, 1..182 = the classes")
        return self._classes_of[raw].astype(np.int64)


class FolderSegDataset(SegDataset):
    """Any folder of images with a folder of class-index PNG masks of the same stems.

    Mask values are indices into ``classes``; 255 is ignored; any other value is an error.
    """

    def __init__(self, images_dir: str | os.PathLike, masks_dir: str | os.PathLike,
                 classes: Sequence[str], transform: SegTransform | None = None, seed: int = 0,
                 palette: np.ndarray | None = None, mask_suffix: str = ".png") -> None:
        images_dir = _require_dir(Path(images_dir), "images")
        masks_dir = _require_dir(Path(masks_dir), "masks")
        if not classes:
            raise ValueError("FolderSegDataset needs at least one class name")
        by_stem: dict[str, Path] = {}
        for img in sorted(images_dir.iterdir()):
            if img.suffix.lower() not in IMAGE_SUFFIXES or not img.is_file():
                continue
            if img.stem in by_stem:
                raise DataError(f"{img}: two images share the stem '{img.stem}' ({by_stem[img.stem].name})")
            by_stem[img.stem] = img
        if not by_stem:
            raise DataError(f"{images_dir}: no images found ({', '.join(IMAGE_SUFFIXES)})")
        samples = [(img, masks_dir / f"{stem}{mask_suffix}") for stem, img in sorted(by_stem.items())]
        missing = [str(mask) for _, mask in samples if not mask.is_file()]
        if missing:
            more = f" and {len(missing) - 3} more" if len(missing) > 3 else ""
            raise DataError(f"mask files not found: {', '.join(missing[:3])}{more}")
        pal = make_palette(len(classes)) if palette is None else palette
        super().__init__(samples, classes, pal, transform, seed)

    def encode_label(self, raw: np.ndarray, path: Path) -> np.ndarray:
        _check_values(raw, self.num_classes - 1, path,
                      f"masks must hold indices of the {self.num_classes} classes given")
        return raw.astype(np.int64)
