"""Segmentation datasets, label tables, palettes and transforms."""
from __future__ import annotations

import shutil
from pathlib import Path

import cv2
import numpy as np
import pytest
import torch
from PIL import Image

from hrseg.data.seg.datasets import CityscapesDataset, FolderSegDataset, PascalContextDataset, read_label
from hrseg.meta.classes import (
    CITYSCAPES_CLASSES, CITYSCAPES_LABELS, CITYSCAPES_PALETTE, PASCAL_CONTEXT_59_CLASSES,
    PASCAL_CONTEXT_59_PALETTE, PASCAL_CONTEXT_60_CLASSES, PASCAL_CONTEXT_60_PALETTE,
    cityscapes_labelid_to_trainid, cityscapes_trainid_to_labelid, make_palette,
)
from hrseg.visualization.segmentation import colorize, overlay
from hrseg.data.seg.transforms import (
    SegEvalTransform, SegTrainTransform, denormalize, normalize, seg_train_transform,
)
from hrseg.errors import DataError

FRAME = "frankfurt_000000_000294"


@pytest.fixture(scope="module")
def cityscapes_root(shared_data: Path) -> Path:
    return shared_data / "seg_mini" / "cityscapes"


def _gt(root: Path, kind: str) -> Path:
    return root / "gtFine" / "val" / "frankfurt" / f"{FRAME}_gtFine_{kind}.png"


def _write_png(path: Path, array: np.ndarray) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    Image.fromarray(array).save(path)
    return path


# --- label tables -----------------------------------------------------------------------------

def test_labelid_mapping_reproduces_real_train_ids(cityscapes_root: Path) -> None:
    """The real frame's two label files were downscaled separately by their source (the
    trainIds one from full-resolution polygons), so 77 of 32768 pixels on class borders and
    1-px wires differ. The mapping must explain everything else: for every labelId present
    nearly all its pixels carry our train id, and each differing pixel has a pixel of the
    file's class within 2 px."""
    label_ids = np.array(Image.open(_gt(cityscapes_root, "labelIds")))
    train_ids = np.array(Image.open(_gt(cityscapes_root, "labelTrainIds")))
    mapped = cityscapes_labelid_to_trainid(label_ids)
    assert mapped.dtype == np.uint8 and mapped.shape == label_ids.shape
    assert len(np.unique(train_ids)) == 11  # 10 train ids + ignore: the frame is not trivial
    for lid in np.unique(label_ids):  # the table itself is reproduced exactly, id by id
        sel = label_ids == lid
        values, counts = np.unique(train_ids[sel], return_counts=True)
        assert values[counts.argmax()] == mapped[sel][0], f"labelId {lid}"
        assert (train_ids[sel] == mapped[sel][0]).mean() > 0.9, f"labelId {lid}"
    differ = mapped != train_ids
    assert differ.sum() <= 77
    h, w = mapped.shape
    padded = np.pad(mapped, 2, mode="edge")
    near = np.stack([padded[dy:dy + h, dx:dx + w] for dy in range(5) for dx in range(5)])
    assert (near == train_ids).any(0)[differ].all()


def test_cityscapes_table() -> None:
    assert [lab.id for lab in CITYSCAPES_LABELS] == list(range(34))
    assert len(CITYSCAPES_CLASSES) == 19 and CITYSCAPES_PALETTE.shape == (19, 3)
    assert CITYSCAPES_CLASSES[:3] == ("road", "sidewalk", "building") and CITYSCAPES_CLASSES[-1] == "bicycle"
    assert CITYSCAPES_PALETTE[0].tolist() == [128, 64, 128] and CITYSCAPES_PALETTE[13].tolist() == [0, 0, 142]
    train = np.arange(19, dtype=np.uint8)
    np.testing.assert_array_equal(cityscapes_labelid_to_trainid(cityscapes_trainid_to_labelid(train)), train)
    assert cityscapes_trainid_to_labelid(np.array([255]))[0] == 0
    with pytest.raises(ValueError):
        cityscapes_labelid_to_trainid(np.array([300]))


def test_pascal_context_tables() -> None:
    assert len(PASCAL_CONTEXT_59_CLASSES) == 59 and len(set(PASCAL_CONTEXT_59_CLASSES)) == 59
    assert PASCAL_CONTEXT_60_CLASSES[0] == "background" and PASCAL_CONTEXT_60_CLASSES[1:] == PASCAL_CONTEXT_59_CLASSES
    assert list(PASCAL_CONTEXT_59_CLASSES) == sorted(PASCAL_CONTEXT_59_CLASSES)  # Detail ids sorted
    assert PASCAL_CONTEXT_60_PALETTE.shape == (60, 3) and PASCAL_CONTEXT_59_PALETTE.shape == (59, 3)


def test_colorize_and_overlay(cityscapes_root: Path) -> None:
    label = np.array(Image.open(_gt(cityscapes_root, "labelTrainIds"))).astype(np.int64)
    rgb = colorize(label, CITYSCAPES_PALETTE)
    assert rgb.shape == (*label.shape, 3) and rgb.dtype == np.uint8
    road = label == 0
    assert (rgb[road] == [128, 64, 128]).all() and (rgb[label == 255] == 0).all()
    image = np.full((*label.shape, 3), 100, np.uint8)
    assert np.array_equal(overlay(image, label, CITYSCAPES_PALETTE, alpha=0.0), image)
    full = overlay(image, label, CITYSCAPES_PALETTE, alpha=1.0)
    assert (full[road] == [128, 64, 128]).all() and (full[label == 255] == 100).all()
    with pytest.raises(ValueError, match="no colour"):
        colorize(np.array([[19]]), CITYSCAPES_PALETTE)
    pal = make_palette(30)
    assert pal.shape == (30, 3) and len({tuple(c) for c in pal}) == 30


# --- label reading ----------------------------------------------------------------------------

def test_read_label_palette_png_gives_indices(tmp_path: Path) -> None:
    values = np.array([[0, 1, 2], [3, 255, 1]], np.uint8)
    im = Image.fromarray(values, mode="P")
    im.putpalette(make_palette(256).ravel().tolist())
    im.save(tmp_path / "p.png")
    np.testing.assert_array_equal(read_label(tmp_path / "p.png"), values)


def test_read_label_errors(tmp_path: Path) -> None:
    with pytest.raises(DataError, match="not found"):
        read_label(tmp_path / "missing.png")
    (tmp_path / "bad.png").write_bytes(b"not a png")
    with pytest.raises(DataError, match="bad.png"):
        read_label(tmp_path / "bad.png")
    colour = np.zeros((4, 4, 3), np.uint8)
    colour[0, 0] = (255, 0, 0)
    _write_png(tmp_path / "colour.png", colour)
    with pytest.raises(DataError, match="colour image"):
        read_label(tmp_path / "colour.png")


# --- Cityscapes -------------------------------------------------------------------------------

def test_cityscapes_dataset_on_real_frame(cityscapes_root: Path) -> None:
    ds = CityscapesDataset(cityscapes_root, "val")
    assert len(ds) == 1 and ds.num_classes == 19
    image, label, meta = ds[0]
    assert image.shape == (128, 256, 3) and image.dtype == np.uint8
    assert label.dtype == np.int64
    label_ids = np.array(Image.open(_gt(cityscapes_root, "labelIds")))
    np.testing.assert_array_equal(label, cityscapes_labelid_to_trainid(label_ids))
    assert meta["file_name"] == f"{FRAME}_leftImg8bit.png" and meta["ori_shape"] == (128, 256)


def _copy_frame(src: Path, dst: Path, city: str = "frankfurt") -> tuple[Path, Path]:
    img = dst / "leftImg8bit" / "val" / city / f"{FRAME}_leftImg8bit.png"
    lab = dst / "gtFine" / "val" / city / f"{FRAME}_gtFine_labelIds.png"
    for s, d in ((src / "leftImg8bit" / "val" / "frankfurt" / img.name, img), (_gt(src, "labelIds"), lab)):
        d.parent.mkdir(parents=True, exist_ok=True)
        shutil.copy(s, d)
    return img, lab


def test_cityscapes_bad_inputs(cityscapes_root: Path, tmp_path: Path) -> None:
    with pytest.raises(DataError, match="not found"):
        CityscapesDataset(tmp_path, "val")
    img, lab = _copy_frame(cityscapes_root, tmp_path)
    lab.unlink()
    with pytest.raises(DataError, match=lab.name):
        CityscapesDataset(tmp_path, "val")
    _write_png(lab, np.zeros((64, 128), np.uint8))  # wrong size
    with pytest.raises(DataError, match="differs"):
        CityscapesDataset(tmp_path, "val")[0]
    _write_png(lab, np.full((128, 256), 40, np.uint8))  # not labelIds
    with pytest.raises(DataError, match="labelIds"):
        CityscapesDataset(tmp_path, "val")[0]
    lab.write_bytes(b"\x89PNG garbage")
    with pytest.raises(DataError, match=str(lab.name)):
        CityscapesDataset(tmp_path, "val")[0]
    img.write_bytes(b"")
    with pytest.raises(DataError, match=img.name):
        CityscapesDataset(tmp_path, "val")[0]


def test_cityscapes_sorted_over_cities(cityscapes_root: Path, tmp_path: Path) -> None:
    for city in ("zurich", "aachen", "bremen"):
        _copy_frame(cityscapes_root, tmp_path, city)
    ds = CityscapesDataset(tmp_path, "val")
    assert [img.parent.name for img, _ in ds.samples] == ["aachen", "bremen", "zurich"]


# --- PASCAL-Context ---------------------------------------------------------------------------

def _pascal_root(tmp_path: Path, labels: dict[str, np.ndarray]) -> Path:
    root = tmp_path / "VOC2010"
    rng = np.random.default_rng(0)
    for name, label in labels.items():
        img = rng.integers(0, 255, (*label.shape, 3), dtype=np.uint8)
        (root / "JPEGImages").mkdir(parents=True, exist_ok=True)
        cv2.imwrite(str(root / "JPEGImages" / f"{name}.jpg"), img)
        _write_png(root / "SegmentationClassContext" / f"{name}.png", label)
    split = root / "ImageSets" / "SegmentationContext" / "val.txt"
    split.parent.mkdir(parents=True, exist_ok=True)
    split.write_text("\n".join(reversed(list(labels))) + "\n")
    return root


def test_pascal_context_59_and_60(tmp_path: Path) -> None:
    raw = np.array([[0, 1, 2, 59], [255, 10, 0, 33]], np.uint8)
    root = _pascal_root(tmp_path, {"2008_000002": raw, "2008_000001": raw[::-1].copy()})
    ds59 = PascalContextDataset(root, "val", num_classes=59)
    assert [s[0].stem for s in ds59.samples] == ["2008_000001", "2008_000002"]  # sorted
    assert ds59.classes == PASCAL_CONTEXT_59_CLASSES
    _, label, meta = ds59[1]
    np.testing.assert_array_equal(label, [[255, 0, 1, 58], [255, 9, 255, 32]])
    assert meta["file_name"] == "2008_000002.jpg"
    ds60 = PascalContextDataset(root, "val", num_classes=60)
    _, label60, _ = ds60[1]
    np.testing.assert_array_equal(label60, raw.astype(np.int64))
    assert ds60.classes[0] == "background" and ds60.num_classes == 60


def test_pascal_context_errors(tmp_path: Path) -> None:
    root = _pascal_root(tmp_path, {"a": np.array([[0, 60]], np.uint8)})
    with pytest.raises(DataError, match="a.png"):
        PascalContextDataset(root, "val")[0]
    with pytest.raises(DataError, match="train.txt"):
        PascalContextDataset(root, "train")
    (root / "ImageSets" / "SegmentationContext" / "val.txt").write_text("a\nb\n")
    with pytest.raises(DataError, match="b.jpg"):
        PascalContextDataset(root, "val")
    with pytest.raises(ValueError):
        PascalContextDataset(root, "val", num_classes=21)


# --- generic folders --------------------------------------------------------------------------

def test_folder_dataset(tmp_path: Path, shared_data: Path) -> None:
    street = shared_data / "seg_mini" / "deeplab2_street"
    images, masks = tmp_path / "images", tmp_path / "masks"
    images.mkdir()
    shutil.copy(street / "leftImg8bit" / "dummy_000000_000000_leftImg8bit.png", images / "b_street.png")
    masks.mkdir()
    shutil.copy(street / "targets" / "eval_semantic_target.png", masks / "b_street.png")  # 16-bit train ids
    cv2.imwrite(str(images / "a_small.jpg"), np.zeros((8, 6, 3), np.uint8))
    _write_png(masks / "a_small.png", np.full((8, 6), 3, np.uint8))
    ds = FolderSegDataset(images, masks, CITYSCAPES_CLASSES)
    assert [img.name for img, _ in ds.samples] == ["a_small.jpg", "b_street.png"]
    _, label, _ = ds[1]
    assert set(np.unique(label).tolist()) == {0, 2, 8, 10, 13, 255}
    assert ds.palette.shape == (19, 3)

    small = FolderSegDataset(images, masks, ["bg", "fg"])
    with pytest.raises(DataError, match="a_small.png"):
        small[0]  # value 3 is not one of 2 classes
    (masks / "b_street.png").unlink()
    with pytest.raises(DataError, match="b_street.png"):
        FolderSegDataset(images, masks, CITYSCAPES_CLASSES)


# --- transforms -------------------------------------------------------------------------------

def _colour_coded(cityscapes_root: Path) -> tuple[np.ndarray, np.ndarray]:
    """A label map and an image painted with the label's colours: lets a test check alignment."""
    label = np.array(Image.open(_gt(cityscapes_root, "labelTrainIds"))).astype(np.int64)
    return colorize(label, CITYSCAPES_PALETTE), label


def test_train_transform_keeps_image_and_label_aligned(cityscapes_root: Path) -> None:
    image, label = _colour_coded(cityscapes_root)
    t = SegTrainTransform(crop_size=(96, 160), base_size=256, photometric=False)
    for seed in range(5):
        x, y = t(image, label, np.random.default_rng(seed))
        assert x.shape == (3, 96, 160) and x.dtype == torch.float32
        assert y.shape == (96, 160) and y.dtype == torch.int64
        assert set(np.unique(y.numpy())) <= set(np.unique(label))
        rgb, lab = denormalize(x).astype(int), y.numpy()
        valid = lab != 255
        match = (np.abs(rgb[valid] - CITYSCAPES_PALETTE[lab[valid]].astype(int)).max(1) <= 2).mean()
        assert match > 0.9, f"seed {seed}: only {match:.2f} of pixels show their label's colour"


def test_train_transform_is_deterministic_and_random(cityscapes_root: Path) -> None:
    image, label = _colour_coded(cityscapes_root)
    t = seg_train_transform("cityscapes", crop_size=(64, 128), base_size=256)
    a = t(image, label, np.random.default_rng(7))
    b = t(image, label, np.random.default_rng(7))
    c = t(image, label, np.random.default_rng(8))
    assert torch.equal(a[0], b[0]) and torch.equal(a[1], b[1])
    assert not torch.equal(a[0], c[0])


def test_train_transform_pads_small_images() -> None:
    image = np.full((20, 30, 3), 200, np.uint8)
    label = np.ones((20, 30), np.int64)
    t = SegTrainTransform(crop_size=(64, 64), base_size=None, scale_range=(1.0, 1.0), flip_prob=0.0,
                          photometric=False)
    x, y = t(image, label, np.random.default_rng(0))
    assert (y[:20, :30] == 1).all() and (y[20:] == 255).all() and (y[:, 30:] == 255).all()
    assert x[:, 20:, :].abs().max() < 0.03  # padded with the mean colour: ~0 after normalisation


def test_flip_flips_both() -> None:
    rng = np.random.default_rng(0)
    image = rng.integers(0, 255, (16, 24, 3), dtype=np.uint8)
    label = rng.integers(0, 19, (16, 24))
    t = SegTrainTransform(crop_size=(16, 24), base_size=None, scale_range=(1.0, 1.0), flip_prob=1.0,
                          photometric=False)
    x, y = t(image, label, rng)
    assert torch.equal(x, normalize(image[:, ::-1]))
    assert np.array_equal(y.numpy(), label[:, ::-1])


def test_photometric_changes_colours_only(cityscapes_root: Path) -> None:
    image, label = _colour_coded(cityscapes_root)
    kw = dict(crop_size=(128, 256), base_size=None, scale_range=(1.0, 1.0), flip_prob=0.0)
    plain = SegTrainTransform(photometric=False, **kw)
    photo = SegTrainTransform(photometric=True, **kw)
    changed = 0
    for seed in range(6):
        x0, y0 = plain(image, label, np.random.default_rng(seed))
        x1, y1 = photo(image, label, np.random.default_rng(seed))
        assert torch.equal(y0, y1)
        changed += int(not torch.equal(x0, x1))
    assert changed >= 3


def test_eval_transform(cityscapes_root: Path) -> None:
    image, label = _colour_coded(cityscapes_root)
    x, y = SegEvalTransform()(image, label)
    assert x.shape == (3, 128, 256) and torch.equal(y, torch.from_numpy(label))
    x, y = SegEvalTransform(size=512)(image, label)
    assert x.shape == (3, 256, 512) and y.shape == (128, 256)  # labels stay at full resolution
    x, y = SegEvalTransform(size=(64, 128), resize_label=True)(image, label)
    assert x.shape == (3, 64, 128) and y.shape == (64, 128)


def test_dataset_augmentation_depends_on_seed_epoch_index(cityscapes_root: Path) -> None:
    t = SegTrainTransform(crop_size=(64, 64), base_size=256)
    ds = CityscapesDataset(cityscapes_root, "val", transform=t, seed=3)
    a, b = ds[0], ds[0]
    assert torch.equal(a[0], b[0]) and torch.equal(a[1], b[1])
    ds.set_epoch(1)
    assert not torch.equal(ds[0][0], a[0])
    loader = torch.utils.data.DataLoader(ds, batch_size=1)
    images, labels, meta = next(iter(loader))
    assert images.shape == (1, 3, 64, 64) and labels.shape == (1, 64, 64)
    assert meta["file_name"] == [f"{FRAME}_leftImg8bit.png"]


def test_presets() -> None:
    assert seg_train_transform("cityscapes").crop_size == (512, 1024)
    # HRNet-OCR branch experiments/pascal_ctx/seg_hrnet_w48_cls59_520x520_*.yaml (master's older one: 480x480)
    assert seg_train_transform("pascal_context").crop_size == (520, 520)
    assert seg_train_transform("cityscapes").scale_step == 0.1
    with pytest.raises(ValueError, match="preset"):
        seg_train_transform("ade20k")


def test_official_scale_jitter_is_the_grid_0_5_to_2_1() -> None:
    from hrseg.data.seg.transforms import OFFICIAL_JITTER, sample_scale

    # official gen_sample: 0.5 + random.randint(0, 16) / 10.0 (randint includes 16)
    rng = np.random.default_rng(0)
    draws = [sample_scale(OFFICIAL_JITTER["scale_range"], OFFICIAL_JITTER["scale_step"], rng) for _ in range(3000)]
    values, counts = np.unique(np.round(draws, 6), return_counts=True)
    assert values.tolist() == [round(0.5 + k / 10, 6) for k in range(17)]
    assert counts.min() > 3000 / 17 * 0.7  # all equally likely
    assert OFFICIAL_JITTER["pad_value"] == (0, 0, 0)
    uniform = [sample_scale((0.5, 2.0), None, rng) for _ in range(200)]
    assert len(set(uniform)) == 200 and 0.5 <= min(uniform) and max(uniform) <= 2.0
