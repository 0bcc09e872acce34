"""The LIP recipe's training augmentation against a transcription of the official code:
HRNet-Semantic-Segmentation (branch HRNet-OCR) lib/datasets/lip.py ``__getitem__`` (flip with the
left/right swap, then the image squashed to the crop) and lib/datasets/base_dataset.py
``gen_sample`` / ``multi_scale_aug`` / ``rand_crop`` (a scale of 0.5 + randint(0, 11) / 10, black
padding, a random crop). The test protocol is checked in tests/test_seg_protocols.py."""
from __future__ import annotations

from pathlib import Path

import cv2
import numpy as np
import pytest
from PIL import Image

from hrseg.data.seg.datasets import SegDataset
from hrseg.data.seg.transforms import long_side_size, sample_scale
from hrseg.tasks.segmentation import build_dataset, load_seg_config

CONFIG = Path(__file__).resolve().parents[1] / "configs" / "seg" / "hrnetv2_w48_lip_473x473.py"
OFFICIAL_SCALES = [0.5 + k / 10.0 for k in range(11 + 1)]  # random.randint(0, SCALE_FACTOR 11) includes 11


def official_sample(image: np.ndarray, label: np.ndarray, flip: bool, scale: float, crop: tuple[int, int],
                    base: int) -> tuple[np.ndarray, np.ndarray]:
    """lip.py __getitem__ (train) then gen_sample(multi_scale=True, is_flip=False), up to the crop:
    the padded image and label the random crop is taken from."""
    if flip:  # lip.py: image[:, ::-1], label[:, ::-1], then right_idx [15, 17, 19] <-> left_idx [14, 16, 18]
        image, label = np.ascontiguousarray(image[:, ::-1]), label[:, ::-1].copy()
        for right, left in ((15, 14), (17, 16), (19, 18)):
            right_pos, left_pos = np.where(label == right), np.where(label == left)
            label[right_pos], label[left_pos] = left, right
    image = cv2.resize(image, crop, interpolation=cv2.INTER_LINEAR)  # resize_image(..., self.crop_size), square
    label = cv2.resize(label, crop, interpolation=cv2.INTER_NEAREST)
    long_size = int(base * scale + 0.5)  # multi_scale_aug
    h, w = image.shape[:2]
    if h > w:
        new_h, new_w = long_size, int(w * long_size / h + 0.5)
    else:
        new_w, new_h = long_size, int(h * long_size / w + 0.5)
    image = cv2.resize(image, (new_w, new_h), interpolation=cv2.INTER_LINEAR)
    label = cv2.resize(label, (new_w, new_h), interpolation=cv2.INTER_NEAREST)
    ph, pw = max(crop[0] - new_h, 0), max(crop[1] - new_w, 0)  # rand_crop: pad_image
    image = cv2.copyMakeBorder(image, 0, ph, 0, pw, cv2.BORDER_CONSTANT, value=(0.0, 0.0, 0.0))
    label = cv2.copyMakeBorder(label, 0, ph, 0, pw, cv2.BORDER_CONSTANT, value=(255,))
    return image, label


def _official_match(image: np.ndarray, label: np.ndarray, out_image: np.ndarray, out_label: np.ndarray,
                    crop: tuple[int, int], base: int) -> tuple[bool, float] | None:
    """The (flip, scale) of the official sample whose crop is hrseg's, or None."""
    ch, cw = crop
    for flip in (False, True):
        for scale in OFFICIAL_SCALES:
            img, lbl = official_sample(image, label, flip, scale, crop, base)
            for y in range(lbl.shape[0] - ch + 1):  # rand_crop: random.randint(0, new_h - crop_h)
                for x in range(lbl.shape[1] - cw + 1):
                    if np.array_equal(lbl[y:y + ch, x:x + cw], out_label) and \
                            np.array_equal(img[y:y + ch, x:x + cw], out_image):
                        return flip, scale
    return None


@pytest.fixture(scope="module")
def lip_train(tmp_path_factory: pytest.TempPathFactory) -> SegDataset:
    """The LIP recipe's training set on a one-image LIP layout, at a 20x20 crop (base size 20)."""
    root = tmp_path_factory.mktemp("lip")
    for folder in ("TrainVal_images/train_images", "TrainVal_parsing_annotations/train_segmentations"):
        (root / folder).mkdir(parents=True)
    rng = np.random.default_rng(0)
    Image.fromarray(rng.integers(0, 256, (30, 50, 3), dtype=np.uint8)).save(root / "TrainVal_images/train_images/a.jpg")
    Image.fromarray(rng.integers(0, 20, (30, 50), dtype=np.uint8)).save(
        root / "TrainVal_parsing_annotations/train_segmentations/a.png")
    (root / "TrainVal_images/train_id.txt").write_text("a\n")
    cfg = load_seg_config(CONFIG, [f"data.root={root}", "data.crop_size=[20,20]", "data.base_size=20"])
    dataset = build_dataset(cfg, "train")
    dataset.normalize_images = False  # uint8 crops: compared with the official uint8 ones before input_transform
    return dataset


def test_training_sample_is_one_the_official_code_draws(lip_train: SegDataset) -> None:
    image, label, _ = lip_train.load(0)  # 30x50: squashed to 20x20, so the aspect changes
    seen = set()
    for seed in range(24):
        out_image, out_label = lip_train.transform(image, label, np.random.default_rng(seed))
        found = _official_match(image, label.astype(np.uint8), out_image.permute(1, 2, 0).numpy(),
                                out_label.numpy(), (20, 20), 20)
        assert found is not None, f"seed {seed}: no official (flip, scale, crop) gives hrseg's sample"
        seen.add((found[0], found[1] < 1.0, found[1] > 1.0))
    # (flip, padded: scale < 1, cropped: scale > 1): each kind was checked, the flipped padded one included
    assert {(True, True, False), (True, False, True), (False, True, False), (False, False, True)} <= seen


def test_recipe_scales_and_sizes_are_the_official_ones() -> None:
    data = load_seg_config(CONFIG)["data"]
    rng = np.random.default_rng(0)
    drawn = {round(sample_scale(data["scale_range"], data["scale_step"], rng), 9) for _ in range(600)}
    assert drawn == {round(s, 9) for s in OFFICIAL_SCALES}
    # at 473: the long side multi_scale_aug gives, int(473 * scale + 0.5), for each scale
    sizes = sorted(long_side_size((473, 473), data["base_size"] * s) for s in drawn)
    assert sizes == [(int(473 * s + 0.5),) * 2 for s in OFFICIAL_SCALES]
    assert (data["squash"], data["pad_value"], data["crop_size"]) == (True, [0, 0, 0], [473, 473])
