"""LIP human parsing: class tables, the left/right swap under flip (training and flip test), the
dataset adapter on the release layout, the synthetic parsing split and the recipes."""
from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import torch
from PIL import Image
from torch import nn

from hrseg.data.seg.lip import LIPDataset, lip_paths
from hrseg.data.seg.transforms import SegTrainTransform
from hrseg.data.synthetic.lip import generate_synthetic_lip, lip_parsing
from hrseg.data.synthetic.pose import Person, SceneParams, render_sample
from hrseg.errors import DataError
from hrseg.inference.segmentation import predict_scores
from hrseg.meta.classes import LIP_CLASSES, LIP_FLIP_PAIRS, LIP_PALETTE, flip_label_map, flip_permutation
from hrseg.tasks.segmentation import build_dataset, class_names, load_seg_config

CONFIGS = Path(__file__).resolve().parents[1] / "configs" / "seg"
L = {name: i for i, name in enumerate(LIP_CLASSES)}


def test_lip_tables_and_flip_permutation() -> None:
    assert len(LIP_CLASSES) == 20 and LIP_PALETTE.shape == (20, 3)
    assert [(LIP_CLASSES[a], LIP_CLASSES[b]) for a, b in LIP_FLIP_PAIRS] == [
        ("left-arm", "right-arm"), ("left-leg", "right-leg"), ("left-shoe", "right-shoe")]
    perm = flip_permutation(20, LIP_FLIP_PAIRS)
    assert perm.tolist() == [0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 15, 14, 17, 16, 19, 18]
    for bad in ([(14, 14)], [(14, 15), (15, 16)], [(14, 20)], [(1, 2, 3)]):
        with pytest.raises(ValueError, match="flip_pairs"):
            flip_permutation(20, bad)
    label = np.array([[14, 5, 255], [0, 19, 16]])
    assert flip_label_map(label, perm).tolist() == [[255, 5, 15], [17, 18, 0]]


def _half_label(h: int = 24, w: int = 32) -> np.ndarray:
    label = np.full((h, w), L["upper-clothes"], np.int64)
    label[:, :8] = L["left-arm"]
    label[:, -4:] = L["right-shoe"]
    label[0] = 255
    return label


def test_training_flip_swaps_left_and_right_classes() -> None:
    label = _half_label()
    image = np.zeros(label.shape + (3,), np.uint8)
    image[:, :8] = 255  # the arm is the bright band: after a flip it is on the right
    common = dict(crop_size=label.shape, base_size=None, scale_range=(1.0, 1.0), photometric=False)
    img, out = SegTrainTransform(flip_prob=1.0, flip_pairs=LIP_FLIP_PAIRS, **common)(image, label, 0)
    out = out.numpy()
    assert (out[1:, -8:] == L["right-arm"]).all() and (out[1:, :4] == L["left-shoe"]).all()
    assert (out[1:, 4:-8] == L["upper-clothes"]).all() and (out[0] == 255).all()
    assert (img[0, :, -8:] > img[0, :, :8].max()).all()  # the image flipped with the label
    _, plain = SegTrainTransform(flip_prob=1.0, **common)(image, label, 0)
    assert (plain.numpy()[1:, -8:] == L["left-arm"]).all()  # without pairs: mirrored only
    _, kept = SegTrainTransform(flip_prob=0.0, flip_pairs=LIP_FLIP_PAIRS, **common)(image, label, 0)
    assert np.array_equal(kept.numpy(), label)


class _SideModel(nn.Module):
    """Scores 'left-arm' on the left half of whatever it sees and 'right-arm' on the right half."""

    def __init__(self) -> None:
        super().__init__()
        self.w = nn.Parameter(torch.zeros(()))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        b, _, h, w = x.shape
        out = torch.zeros(b, 20, h, w) + self.w
        out[:, L["left-arm"], :, : w // 2] = 8.0
        out[:, L["right-arm"], :, w // 2:] = 8.0
        return out


def test_flip_test_swaps_left_and_right_scores() -> None:
    model = _SideModel().eval()
    image = np.zeros((16, 20, 3), np.uint8)
    swapped = predict_scores(model, image, dict(flip=True, flip_pairs=[list(p) for p in LIP_FLIP_PAIRS]))
    # the mirrored pass, its left/right classes swapped back, agrees with the plain pass
    assert swapped[L["left-arm"], :, :10].min() > 0.99 and swapped[L["right-arm"], :, 10:].min() > 0.99
    naive = predict_scores(model, image, dict(flip=True))
    assert abs(float(naive[L["left-arm"], :, :10].mean()) - 0.5) < 0.01  # a tie without the swap


@pytest.fixture(scope="module")
def lip_root(tmp_path_factory) -> Path:
    root = tmp_path_factory.mktemp("lip")
    generate_synthetic_lip(root, num_train=6, num_val=3, size=(96, 64), seed=1, log=None)
    return root


def test_lip_dataset_reads_the_release_layout(lip_root: Path) -> None:
    ds = LIPDataset(lip_root, "val")
    assert len(ds) == 3 and ds.num_classes == 20 and ds.flip_pairs == LIP_FLIP_PAIRS
    image, label, meta = ds.load(0)
    assert image.shape == (96, 64, 3) and label.dtype == np.int64 and label.max() <= 19
    assert meta["image_path"].endswith("TrainVal_images/val_images/val_000000.jpg")
    seen = np.zeros(20, bool)
    for i in range(len(LIPDataset(lip_root, "train"))):
        seen[np.unique(LIPDataset(lip_root, "train").load(i)[1])] = True
    assert seen[[L["background"], L["upper-clothes"], L["face"], L["left-shoe"], L["right-shoe"]]].all()


def test_lip_dataset_errors_name_the_file(lip_root: Path, tmp_path: Path) -> None:
    with pytest.raises(DataError, match="train_id.txt"):
        LIPDataset(tmp_path, "train")
    paths = lip_paths(tmp_path, "train")
    for key in ("images", "labels"):
        paths[key].mkdir(parents=True)
    paths["ids"].write_text("a\n")
    Image.fromarray(np.zeros((8, 8, 3), np.uint8)).save(paths["images"] / "a.jpg")
    with pytest.raises(DataError, match="a.png"):
        LIPDataset(tmp_path, "train")
    Image.fromarray(np.full((8, 8), 20, np.uint8)).save(paths["labels"] / "a.png")
    with pytest.raises(DataError, match=r"a\.png.*\[20\]"):
        LIPDataset(tmp_path, "train").load(0)


def test_synthetic_parsing_sides_are_the_figures_own() -> None:
    """A left shoe is drawn at the figure's left foot (its keypoints' side), whatever the view."""
    checked = 0
    for seed in range(12):
        _, labels, entities = render_sample(np.random.default_rng(seed), (160, 112),
                                            SceneParams(max_people=1, max_objects=0, min_person_height=96))
        parsing = lip_parsing(labels, entities)
        person = next(e for e in entities if isinstance(e, Person))
        for side, other in (("left", "right"), ("right", "left")):
            ys, xs = np.nonzero(parsing == L[f"{side}-shoe"])
            if len(xs) < 6:
                continue
            c = np.array([xs.mean(), ys.mean()])
            own = np.linalg.norm(c - (person.xy[f"{side}_ankle"] + person.xy[f"{side}_toe"]) / 2)
            far = np.linalg.norm(c - (person.xy[f"{other}_ankle"] + person.xy[f"{other}_toe"]) / 2)
            assert own < far
            checked += 1
    assert checked >= 12


def test_lip_configs(lip_root: Path) -> None:
    cfg = load_seg_config(CONFIGS / "hrnetv2_w48_lip_473x473.py")
    assert cfg["data"]["crop_size"] == [473, 473] and cfg["optimizer"]["lr"] == 7e-3
    assert cfg["optimizer"]["weight_decay"] == 5e-4 and cfg["train"]["max_epochs"] == 150
    assert cfg["data"]["batch_size"] * 4 == 40 and cfg["test"]["flip"]
    assert [tuple(p) for p in cfg["test"]["flip_pairs"]] == list(LIP_FLIP_PAIRS)
    assert load_seg_config(CONFIGS / "ocr_hrnetv2_w48_lip_473x473.py")["model"]["name"] == "seg_hrnetv2_ocr_w48"
    syn = load_seg_config(CONFIGS / "synthetic_lip.py", [f"data.root={lip_root}", "data.synthetic=None"])
    assert class_names(syn) == LIP_CLASSES
    train = build_dataset(syn, "train")
    assert isinstance(train, LIPDataset) and train.transform.flip_pairs == LIP_FLIP_PAIRS


def test_a_lip_config_flips_sides_in_its_flip_test_without_being_told() -> None:
    """data.type=lip with test.flip and no test.flip_pairs averaged the mirrored "left arm" into
    the left arm; the predictor and the evaluation now exchange LIP's pairs (a config's own win)."""
    import hrseg
    from hrseg.tasks.segmentation import TASK

    model = hrseg.build_model("seg_hrnetv2_w18_small_v1", num_classes=20).eval()
    cfg = load_seg_config(None, ["data.type=lip", "test.flip=True", "test.backend=torch"])
    assert cfg["test"]["flip_pairs"] == []
    assert [tuple(p) for p in TASK.predictor(model, cfg).test_cfg["flip_pairs"]] == list(LIP_FLIP_PAIRS)
    own = load_seg_config(None, ["data.type=lip", "test.backend=torch", "test.flip_pairs=[[1,2]]"])
    assert TASK.predictor(model, own).test_cfg["flip_pairs"] == [[1, 2]]
    assert TASK.predictor(model, load_seg_config(None, ["test.backend=torch"])).test_cfg["flip_pairs"] == []


def test_lip_outputs_use_the_lip_palette() -> None:
    from hrseg.tasks.segmentation import default_palette
    from hrseg.visualization.segmentation import palette_for

    cfg = load_seg_config(CONFIGS / "hrnetv2_w48_lip_473x473.py")
    assert np.array_equal(palette_for(default_palette(cfg), 20), LIP_PALETTE)
