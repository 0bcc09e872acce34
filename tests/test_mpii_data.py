"""MPII's data and metric: the annotation files and the ground-truth .mat as the official HRNet code
reads them, PCKh equal to its ``MPIIDataset.evaluate`` (and mmpose 0.x's PCKh@0.1), and MPII-format
files through the pose task: evaluation, ``hrseg test pose``, a training that keeps best.pth by PCKh.

The MPII-format files are a small synthetic split drawn with MPII's 16 joints
(:mod:`hrseg.data.synthetic.mpii`): no MPII image is on this machine.
"""
from __future__ import annotations

import json
import logging
from pathlib import Path

import numpy as np
import pytest
import torch
from scipy.io import loadmat, savemat
from torch import nn

import hrseg
from hrseg.commands import test_pose
from hrseg.data.pose.mpii import MPII_JOINT_CODES, MpiiKeypoints, load_mpii_ground_truth, write_mpii_ground_truth
from hrseg.data.synthetic.mpii import ensure_synthetic_mpii
from hrseg.errors import ConfigError, DataError
from hrseg.evaluation.pckh import evaluate_pckh
from hrseg.meta.keypoints import MPII_PERSON
from hrseg.tasks.pose import TASK

REPO = Path(__file__).resolve().parents[1]


def official_evaluate(preds: np.ndarray, gt: dict) -> dict[str, float]:
    """deep-high-resolution-net's ``MPIIDataset.evaluate`` (lib/dataset/mpii.py), transcribed, on its
    .mat layout; plus mmpose 0.x's PCKh@0.1 (row 10 of the same grid)."""
    preds = preds[:, :, 0:2] + 1.0
    dataset_joints, jnt_missing = gt["dataset_joints"], gt["jnt_missing"]
    pos_gt_src, headboxes_src = gt["pos_gt_src"], gt["headboxes_src"]
    pos_pred_src = np.transpose(preds, [1, 2, 0])
    idx = {name: np.where(dataset_joints == name)[1][0] for name in MPII_JOINT_CODES}
    jnt_visible = 1 - jnt_missing
    uv_err = np.linalg.norm(pos_pred_src - pos_gt_src, axis=1)
    headsizes = np.linalg.norm(headboxes_src[1, :, :] - headboxes_src[0, :, :], axis=0) * 0.6
    scaled_uv_err = np.multiply(np.divide(uv_err, np.multiply(headsizes, np.ones((len(uv_err), 1)))), jnt_visible)
    jnt_count = np.sum(jnt_visible, axis=1)
    PCKh = np.divide(100. * np.sum(np.multiply(scaled_uv_err <= 0.5, jnt_visible), axis=1), jnt_count)
    rng = np.arange(0, 0.5 + 0.01, 0.01)
    pckAll = np.zeros((len(rng), 16))
    for r in range(len(rng)):
        pckAll[r, :] = np.divide(100. * np.sum(np.multiply(scaled_uv_err <= rng[r], jnt_visible), axis=1), jnt_count)
    PCKh = np.ma.array(PCKh, mask=False)
    PCKh.mask[6:8] = True
    jnt_count = np.ma.array(jnt_count, mask=False)
    jnt_count.mask[6:8] = True
    jnt_ratio = jnt_count / np.sum(jnt_count).astype(np.float64)
    out = {"Head": PCKh[idx["head"]], "Mean": np.sum(PCKh * jnt_ratio), "Mean@0.1": np.sum(pckAll[11, :] * jnt_ratio),
           "mmpose PCKh@0.1": np.sum(pckAll[10, :] * jnt_ratio)}
    for part, (left, right) in {"Shoulder": ("lsho", "rsho"), "Elbow": ("lelb", "relb"), "Wrist": ("lwri", "rwri"),
                                "Hip": ("lhip", "rhip"), "Knee": ("lkne", "rkne"), "Ankle": ("lank", "rank")}.items():
        out[part] = 0.5 * (PCKh[idx[left]] + PCKh[idx[right]])
    return {k: float(v) for k, v in out.items()}


def random_ground_truth(n: int, rng: np.random.Generator) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    joints = rng.uniform(50, 600, (n, 16, 2))
    visible = rng.random((n, 16)) > 0.15
    corner = rng.uniform(50, 500, (n, 2))
    headboxes = np.stack([corner, corner + rng.uniform(20, 80, (n, 2))], axis=1)
    return joints, visible, headboxes


def test_pckh_is_the_official_evaluation(tmp_path: Path):
    """On 60 random people (15% of joints missing, errors of about half a head size), every number of the
    official table, the official code reading the .mat hrseg writes; PCKh@0.1 is mmpose's (0.10), PCKh@0.11
    the official's "Mean@0.1"."""
    rng = np.random.default_rng(0)
    joints, visible, headboxes = random_ground_truth(60, rng)
    heads = np.linalg.norm(headboxes[:, 1] - headboxes[:, 0], axis=1)[:, None, None] * 0.6
    preds = joints - 1 + rng.normal(0, 0.3, joints.shape) * heads
    write_mpii_ground_truth(tmp_path / "gt_valid.mat", joints, visible, headboxes)
    ours = evaluate_pckh(preds, load_mpii_ground_truth(tmp_path / "gt_valid.mat"))
    theirs = official_evaluate(preds, loadmat(tmp_path / "gt_valid.mat"))
    for part in ("Head", "Shoulder", "Elbow", "Wrist", "Hip", "Knee", "Ankle"):
        assert ours[part] == pytest.approx(theirs[part] / 100, abs=1e-12), part
    assert ours["PCKh"] == pytest.approx(theirs["Mean"] / 100, abs=1e-12)
    assert ours["PCKh@0.11"] == pytest.approx(theirs["Mean@0.1"] / 100, abs=1e-12)
    assert ours["PCKh@0.1"] == pytest.approx(theirs["mmpose PCKh@0.1"] / 100, abs=1e-12)
    assert 0.02 < ours["PCKh@0.1"] < ours["PCKh@0.11"] < ours["PCKh"] < 0.9
    exact = evaluate_pckh(joints - 1, load_mpii_ground_truth(tmp_path / "gt_valid.mat"))
    assert set(exact.values()) == {1.0}
    with pytest.raises(DataError, match="60 people with 16 joints, but the predictions are 59"):
        evaluate_pckh(preds[:59], load_mpii_ground_truth(tmp_path / "gt_valid.mat"), source="gt_valid.mat")


def test_people_are_cropped_as_the_official_code(tmp_path: Path, caplog):
    """Centre moved down 15 scales and 1-based to 0-based, scale padded by 1.25, joints 0-based; a wider
    input widens the box; a person without a centre is left out with a warning; ids from the file names."""
    people = [{"image": "015601864.jpg", "center": [594.0, 257.0], "scale": 3.021,
               "joints": [[620.0 + i, 394.0 - i] for i in range(16)], "joints_vis": [1] * 15 + [0]},
              {"image": "015599452.jpg", "center": [-1, -1], "scale": 1.0, "joints": [[0, 0]] * 16,
               "joints_vis": [0] * 16}]
    (tmp_path / "valid.json").write_text(json.dumps(people))
    with caplog.at_level(logging.WARNING):
        square = MpiiKeypoints(tmp_path / "valid.json", tmp_path / "images", (256, 256)).gt_instances()
    assert "1 person(s) without a centre" in caplog.text
    (inst,) = square
    c, s = np.array([594.0, 257.0]), np.array([3.021, 3.021])  # the official _get_db, step by step
    c[1] = c[1] + 15 * s[1]
    s = s * 1.25
    c = c - 1
    np.testing.assert_allclose(inst.center, c)
    np.testing.assert_allclose(inst.scale, s)
    np.testing.assert_allclose(inst.joints, np.asarray(people[0]["joints"]) - 1)
    assert inst.joints_vis.tolist() == [1.0] * 15 + [0.0] and inst.image_id == 15601864 and inst.ann_id == 0
    assert inst.image_file == tmp_path / "images" / "015601864.jpg"
    (wide,) = MpiiKeypoints(tmp_path / "valid.json", tmp_path / "images", (256, 192)).gt_instances()
    np.testing.assert_allclose(wide.scale, [s[0], s[0] * 256 / 192])
    assert MpiiKeypoints(tmp_path / "valid.json", tmp_path, (256, 256)).default_keypoints() is MPII_PERSON


@pytest.mark.parametrize("content, message", [
    ({"images": [], "annotations": []}, "expected MPII's annotation format, a JSON list of people"),
    ([{"image": "a.jpg", "center": [1, 2], "scale": 1.0, "joints": [[0, 0]] * 16}], r"person 0 lacks.*joints_vis"),
    ([{"image": "a.jpg", "center": [1, 2], "scale": 0, "joints": [[0, 0]] * 16, "joints_vis": [1] * 16}],
     "person 0 .* is not an MPII annotation"),
    ([{"image": "a.jpg", "center": [1, 2], "scale": 1, "joints": [[0, 0]] * 16, "joints_vis": [1] * 16},
      {"image": "b.jpg", "center": [1, 2], "scale": 1, "joints": [[0, 0]] * 15, "joints_vis": [1] * 15}],
     "person 1 .*15 joints"),
])
def test_a_bad_annotation_file_is_one_error_naming_it(tmp_path: Path, content, message):
    path = tmp_path / "valid.json"
    path.write_text(json.dumps(content))
    with pytest.raises(DataError, match=message) as e:
        MpiiKeypoints(path, tmp_path)
    assert str(path) in str(e.value)


def test_a_bad_ground_truth_file_is_one_error_naming_it(tmp_path: Path):
    savemat(tmp_path / "other.mat", {"preds": np.zeros((3, 16, 2))})
    (tmp_path / "text.mat").write_text("not a mat file")
    for name, message in (("other.mat", "lacks pos_gt_src, jnt_missing, headboxes_src"),
                          ("text.mat", "not a MATLAB .mat file"), ("missing.mat", "not found")):
        with pytest.raises(DataError, match=message) as e:
            load_mpii_ground_truth(tmp_path / name)
        assert str(tmp_path / name) in str(e.value)
    joints, visible, boxes = random_ground_truth(4, np.random.default_rng(1))
    write_mpii_ground_truth(tmp_path / "gt.mat", joints, visible, boxes)
    gt = load_mpii_ground_truth(tmp_path / "gt.mat")
    assert gt.joint_codes == MPII_JOINT_CODES and gt.visible.dtype == bool
    np.testing.assert_array_equal(gt.joints, joints)
    np.testing.assert_array_equal(gt.headboxes, boxes)


@pytest.fixture(scope="module")
def mpii_root(tmp_path_factory) -> Path:
    """A small synthetic split in MPII's layout (hrseg.data.synthetic.mpii)."""
    root = tmp_path_factory.mktemp("mpii")
    ensure_synthetic_mpii(root, num_train=24, num_val=8, image_size=(192, 192), log=None)
    return root



MPII_OPTIONS = {"data.format": "mpii", "data.train.ann_file": "annot/train.json", "data.train.img_dir": "images/train",
                "data.val.ann_file": "annot/valid.json", "data.val.img_dir": "images/val",
                "data.val.gt_file": "annot/gt_valid.mat", "data.input_size": [128, 128], "data.heatmap_size": [32, 32],
                "data.num_workers": 0, "model.name": "pose_hrnet_w18_small_v1"}


class _Oracle(nn.Module):
    """Gives the val set's own target heatmaps, batch after batch: a perfect network for that order."""

    def __init__(self, dataset) -> None:
        super().__init__()
        self.maps = torch.stack([dataset[i]["target"] for i in range(len(dataset))])
        self.next = 0
        self.anchor = nn.Parameter(torch.zeros(()))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        out = self.maps[self.next: self.next + len(x)]
        self.next += len(x)
        return out + 0 * self.anchor


def test_a_perfect_network_scores_one_and_noise_less(mpii_root: Path, tmp_path: Path):
    """Through the task's dataset and evaluation (DARK's targets and decoding: sub-pixel exact): the official
    crops, the decoder, the +1 and the rows of the .mat line up (a subset of the images included), so a
    perfect network's PCKh is 1 and its results file lists each person once; one off by pixels scores less."""
    cfg = TASK.load_config(None, {**MPII_OPTIONS, "data.root": str(mpii_root), "test.flip": False,
                                  "data.unbiased_encoding": True, "test.decoder": "dark", "test.optimize": False})
    people = json.loads((mpii_root / "annot" / "valid.json").read_text())
    ids = sorted({int(Path(p["image"]).stem) for p in people})
    cfg["data"]["val"]["img_ids"] = ids[1:]
    dataset = TASK.build_dataset(cfg, "val")
    assert dataset.keypoints is MPII_PERSON and 0 < len(dataset) < len(people)
    metrics, details = TASK.evaluate(_Oracle(dataset), dataset, cfg, out_dir=tmp_path)
    assert set(metrics.values()) == {1.0}, metrics
    results = json.loads(Path(details["results"]).read_text())
    assert sorted(r["person"] for r in results) == [i.ann_id for i in dataset.instances]
    # the official pred.mat layout: a 1-based row per person of the file, zeros for those left out
    preds = loadmat(tmp_path / "results_keypoints_val.mat")["preds"]
    assert preds.shape == (len(people), 16, 2)
    rows = [r["person"] for r in results]
    keypoints = np.array([r["keypoints"] for r in results]).reshape(-1, 16, 3)[..., :2]
    np.testing.assert_allclose(preds[rows], keypoints + 1, atol=1e-3)
    assert not preds[sorted(set(range(len(people))) - set(rows))].any()
    gt = load_mpii_ground_truth(mpii_root / "annot" / "gt_valid.mat").take(np.array(rows))
    assert np.abs(preds[rows] - gt.joints)[gt.visible].max() < 0.5  # the perfect network's joints, 1-based
    for cells, low, high in ((2, 0.9, 1.0), (4, 0.0, 0.5)):  # 8 or 16 crop pixels, about 0.4 or 0.75 head sizes
        shifted = _Oracle(dataset)
        shifted.maps = torch.roll(shifted.maps, cells, dims=-1)
        worse = TASK.evaluate(shifted, dataset, cfg)[0]
        assert worse["PCKh@0.1"] == 0.0 and low <= worse["PCKh"] <= high, (cells, worse)


def test_training_and_testing_on_mpii_files(mpii_root: Path, tmp_path: Path, capsys):
    """configs/pose/synthetic_mpii.py (the synthetic split in MPII's format, ``data.synthetic``), one epoch:
    best.pth kept by PCKh, MPII's joints recorded; ``hrseg test pose`` of it prints the PCKh table and writes
    the same PCKh."""
    options = {"data.root": str(mpii_root), "data.synthetic.num_train": 24, "data.synthetic.num_val": 8,
               "data.synthetic.image_size": [192, 192], "work_dir": str(tmp_path / "run"), "train.max_epochs": 1,
               "data.batch_size": 8, "data.num_workers": 0}
    final = TASK.train(TASK.load_config(REPO / "configs" / "pose" / "synthetic_mpii.py", options))
    assert set(final) >= {"PCKh", "Head", "PCKh@0.1"} and 0.0 <= final["PCKh"] <= 1.0
    model, cfg = TASK.load_model(tmp_path / "run" / "best.pth")
    assert cfg["data"]["keypoints"]["names"] == list(MPII_PERSON.names) and cfg["data"]["format"] == "mpii"
    args = ["--weights", str(tmp_path / "run" / "best.pth"), "--out-dir", str(tmp_path / "test"),
            "--cfg-options", f"data.root={mpii_root}"]
    assert test_pose.main(args) == 0
    printed = capsys.readouterr().out
    assert "MPII PCKh" in printed and "| Head | Shoulder |" in printed
    tested = json.loads((tmp_path / "test" / "metrics_test.json").read_text())
    assert tested["PCKh"] == pytest.approx(final["PCKh"], abs=1e-9)


def _test_split(mpii_root: Path) -> str:
    """MPII's test file as the official ``annot/test.json`` is: the val people without their joints."""
    path = mpii_root / "annot" / "test.json"
    people = json.loads((mpii_root / "annot" / "valid.json").read_text())
    path.write_text(json.dumps([{k: v for k, v in p.items() if k not in ("joints", "joints_vis")} for p in people]))
    return "annot/test.json"


def test_the_test_split_is_predicted_into_the_official_pred_mat(mpii_root: Path, tmp_path: Path, capsys):
    """The test file has no joints: its people are cropped as the val file's, predicted, and written in the
    official pred.mat layout (the same as the val file's for the same network); no PCKh, no .mat needed."""
    options = {**MPII_OPTIONS, "data.root": str(mpii_root), "test.flip": False, "test.optimize": False}
    cfg = TASK.load_config(None, options)
    val_set = TASK.build_dataset(cfg, "val")
    TASK.evaluate(_Oracle(val_set), val_set, cfg, out_dir=tmp_path / "val")
    cfg = TASK.load_config(None, {**options, "data.val.ann_file": _test_split(mpii_root), "data.val.gt_file": None})
    test_set = TASK.build_dataset(cfg, "val")
    assert not test_set.coco.annotated and len(test_set) == len(val_set)
    assert [i.center.tolist() for i in test_set.instances] == [i.center.tolist() for i in val_set.instances]
    metrics, details = TASK.evaluate(_Oracle(val_set), test_set, cfg, out_dir=tmp_path / "test")
    assert metrics == {}
    np.testing.assert_array_equal(loadmat(tmp_path / "test" / "results_keypoints_val.mat")["preds"],
                                  loadmat(tmp_path / "val" / "results_keypoints_val.mat")["preds"])
    TASK.report((metrics, details), cfg, test_set, "test")
    assert "no metrics (the split has no joints to score" in capsys.readouterr().out
    (mpii_root / "annot" / "mixed.json").write_text(json.dumps(
        json.loads((mpii_root / "annot" / "test.json").read_text())[:1]
        + json.loads((mpii_root / "annot" / "valid.json").read_text())[1:2]))
    with pytest.raises(DataError, match="person 1 has joints where person 0 has none"):
        MpiiKeypoints(mpii_root / "annot" / "mixed.json", mpii_root)


def test_mpii_config_errors(mpii_root: Path):
    """What cannot work with MPII's files is said when the config is read or the val set built."""
    with pytest.raises(ConfigError, match="data.val.coco_split, data.val.det_file with data.format 'mpii'"):
        TASK.load_config(None, {"data.format": "mpii", "data.val.coco_split": "a", "data.val.det_file": "d.json"})
    with pytest.raises(ConfigError, match="data.format is 'coco' or 'mpii'"):
        TASK.load_config(None, {"data.format": "lsp"})
    cfg = TASK.load_config(None, {**MPII_OPTIONS, "data.root": str(mpii_root), "data.val.gt_file": None})
    with pytest.raises(ConfigError, match="data.val.gt_file: MPII's PCKh needs its ground-truth .mat"):
        TASK.build_dataset(cfg, "val")
    cfg["data"]["val"].update(ann_file="annot/train.json", img_dir="images/train")
    cfg["data"]["val"]["gt_file"] = "annot/gt_valid.mat"
    dataset = TASK.build_dataset(cfg, "val")
    with pytest.raises(DataError, match="people, but .*train.json lists"):
        TASK.evaluate(hrseg.build_model("pose_hrnet_w18_small_v1", num_joints=16), dataset, cfg)


def test_the_official_mpii_recipes(mpii_root: Path):
    """configs/pose/hrnet_w{32,48}_mpii_256x256.py: the official YAMLs' MPII fields (256x256 crops, 64x64
    heatmaps, rotation 30, scale 0.25, no half body, flip test) on MPII's files, 16 joints."""
    for width in (32, 48):
        cfg = TASK.load_config(REPO / "configs" / "pose" / f"hrnet_w{width}_mpii_256x256.py")
        data = cfg["data"]
        assert (data["format"], data["input_size"], data["heatmap_size"], data["sigma"]) == ("mpii", [256, 256],
                                                                                              [64, 64], 2.0)
        assert (data["augment"]["rotation_factor"], data["augment"]["scale_factor"],
                data["augment"]["half_body_prob"], data["augment"]["flip"]) == (30, 0.25, 0.0, True)
        assert (data["val"]["gt_file"], cfg["test"]["flip"], cfg["model"]["num_joints"]) == ("annot/gt_valid.mat",
                                                                                               True, 16)
        assert cfg["model"]["pretrained"] == f"hrnet_w{width}.msra_imagenet_pose"


def test_a_published_mpii_file_tested_with_the_recipe(publish_as, mpii_root: Path, tmp_path: Path, capsys):
    """``hrseg test pose hrnet_w32_mpii_256x256 --weights pose_hrnet_w32.mmpose0x_mpii_256x256`` (a small
    16-joint model served under that record's name): PCKh on MPII-format files."""
    record = publish_as(hrseg.build_model("pose_hrnet_w18_small_v1", num_joints=16),
                        "pose_hrnet_w32.mmpose0x_mpii_256x256", "pose_hrnet_w18_small_v1")
    args = ["hrnet_w32_mpii_256x256", "--weights", record.name, "--out-dir", str(tmp_path), "--cfg-options",
            f"data.root={mpii_root}", "data.num_workers=0", "data.val.img_dir=images/val"]
    assert test_pose.main(args) == 0
    assert "MPII PCKh" in capsys.readouterr().out
    tested = json.loads((tmp_path / "metrics_test.json").read_text())
    assert 0.0 <= tested["PCKh"] <= 1.0 and tested["run"]["weights"] == record.name
    # the test split, for the benchmark: the predictions in the official pred.mat layout, no metrics
    split = [f"data.val.ann_file={_test_split(mpii_root)}", "data.val.gt_file=None"]
    assert test_pose.main([*args[:4], str(tmp_path / "test_split"), *args[5:], *split]) == 0
    assert "no metrics (the split has no joints to score" in capsys.readouterr().out
    people = json.loads((mpii_root / "annot" / "test.json").read_text())
    assert loadmat(tmp_path / "test_split" / "results_keypoints_test.mat")["preds"].shape == (len(people), 16, 2)
