"""The multi-task evaluation equals pycocotools on the same detections (real COCO photographs), and
the train / test tools run the whole flow. Instances without masks leave their images out of the
mask AP (said under the table); a missing head and a head that found nothing are said there too."""
from __future__ import annotations

import contextlib
import io
import json
import shutil
from pathlib import Path

import numpy as np
import pytest
import torch
from pycocotools import mask as mask_utils
from pycocotools.coco import COCO
from pycocotools.cocoeval import COCOeval
from torch import nn

from hrseg.data.det.coco_instances import CocoInstances
from hrseg.data.multi.dataset import MultiTaskDataset
from hrseg.data.pose.coco_keypoints import load_coco_keypoints
from hrseg.data.synthetic.multi import dataset_paths, ensure_synthetic_multi
from hrseg.errors import DataError
from hrseg.meta.keypoints import OKS_SIGMAS
from hrseg.tasks.multi_eval import evaluate_multitask, format_multitask


class FixedOutputs(nn.Module):
    """Stands in for the model: the outputs of an image are made up from its ground truth (boxes
    shifted, masks moved, keypoints jittered, scores drawn; seeded by the image id), so that APs
    are neither 0 nor 1. ``order`` is the image ids in the order the evaluation reads them."""

    def __init__(self, instances: CocoInstances, keypoints: COCO, people_twice: bool = False) -> None:
        super().__init__()
        self.people_twice = people_twice  # keypoint logits, and each person again at half the score
        self.weight = nn.Parameter(torch.zeros(1))
        self.heads = {"boxes": True, "masks": True, "keypoints": True, "segmentation": False}
        self.roi_heads = nn.Module()
        self.roi_heads.keypoint_label = instances.label_of[1]
        self.instances, self.keypoints = instances, keypoints
        self.order: list[int] = []

    def output(self, image_id: int) -> dict[str, torch.Tensor]:
        instances, rng = self.instances, np.random.default_rng(image_id)
        img = instances.coco.imgs[image_id]
        anns = [a for a in instances.coco.imgToAnns.get(image_id, []) if not a.get("iscrowd", 0)]
        shift = rng.integers(-6, 7, size=(len(anns), 2))
        boxes = np.array([[x + dx, y + dy, x + bw + dx, y + bh + dy] for (x, y, bw, bh), (dx, dy)
                          in zip([a["bbox"] for a in anns], shift)], np.float32).reshape(-1, 4).round(2)
        masks = [np.roll(instances.coco.annToMask(a), (int(dy), int(dx)), (0, 1)) for a, (dx, dy) in zip(anns, shift)]
        kps = np.zeros((len(anns), 17, 3), np.float32)
        for i, a in enumerate(anns):
            record = self.keypoints.anns.get(a["id"])
            if record is not None:
                kps[i, :, :2] = np.asarray(record["keypoints"], np.float32).reshape(17, 3)[:, :2]
                kps[i, :, :2] += rng.integers(-4, 5, size=(17, 2))
                kps[i, :, 2] = 1
            elif self.people_twice:  # a pose of its own (not all at the origin, where OKS-NMS would merge them)
                kps[i, :, :2] = boxes[i, :2] + rng.uniform(0, 1, (17, 2)) * (boxes[i, 2:] - boxes[i, :2])
        out = {"boxes": torch.from_numpy(boxes),
               "labels": torch.tensor([instances.label_of[a["category_id"]] for a in anns], dtype=torch.int64),
               "scores": torch.from_numpy(rng.integers(1, 99999, len(anns)) / 100000.0).float(),
               "masks": torch.from_numpy(np.stack(masks)[:, None].astype(np.float32) if masks else
                                         np.zeros((0, 1, img["height"], img["width"]), np.float32)),
               "keypoints": torch.from_numpy(kps)}
        if self.people_twice:
            out["keypoints_scores"] = torch.from_numpy(rng.uniform(0.0, 1.0, (len(anns), 17))).float()
            again = out["labels"] == self.roi_heads.keypoint_label
            twice = {k: v[again].clone() for k, v in out.items()}
            twice["scores"] *= 0.5
            out = {k: torch.cat([v, twice[k]]) for k, v in out.items()}
        return out

    def forward(self, images):
        return [self.output(self.order.pop(0)) for _ in images]


def _cocoeval(gt: COCO, dets: list[dict], kind: str, img_ids, cat_ids=None) -> np.ndarray:
    with contextlib.redirect_stdout(io.StringIO()):
        ev = COCOeval(gt, gt.loadRes(dets), kind)
        ev.params.imgIds = sorted(img_ids)
        if cat_ids is not None:
            ev.params.catIds = sorted(cat_ids)
        ev.evaluate()
        ev.accumulate()
        ev.summarize()
    return ev.stats


def _records(model: FixedOutputs, image_ids) -> tuple[list[dict], list[dict], list[dict]]:
    """The box, mask and person-keypoint records of the model's outputs, made here as the COCO
    results format says (not by the evaluation's code)."""
    instances = model.instances
    boxes, masks, people = [], [], []
    for image_id in image_ids:
        out = model.output(image_id)
        for box, label, score, mask, kps in zip(out["boxes"].numpy(), out["labels"].tolist(), out["scores"].tolist(),
                                                out["masks"].numpy(), out["keypoints"].numpy()):
            cat = instances.cat_ids[label - 1]
            x1, y1, x2, y2 = (float(v) for v in box)
            record = {"image_id": image_id, "category_id": cat, "score": round(score, 5)}
            boxes.append({**record, "bbox": [round(x1, 2), round(y1, 2), round(x2 - x1, 2), round(y2 - y1, 2)]})
            rle = mask_utils.encode(np.asfortranarray(mask[0] >= 0.5))
            masks.append({**record, "segmentation": {"size": rle["size"], "counts": rle["counts"].decode()}})
            if cat == 1:
                people.append({**record, "keypoints": kps.reshape(-1).round(2).tolist()})
    return boxes, masks, people


def test_box_mask_and_keypoint_ap_equal_pycocotools_on_real_coco(shared_data, capsys):
    coco = shared_data / "coco_mini"
    instances = CocoInstances(coco / "instances.json")
    keypoints = load_coco_keypoints(coco / "person_keypoints.json")
    dataset = MultiTaskDataset(instances, coco / "images", keypoints, heads=("masks", "keypoints"))
    model = FixedOutputs(instances, keypoints)
    model.order = list(dataset.image_ids)  # the evaluation reads the dataset in order
    metrics, skipped = evaluate_multitask(model, dataset, instances.categories, OKS_SIGMAS, batch_size=3,
                                          vis_thr=None, oks_thr=None)
    assert skipped == ["mIoU skipped: the model has no segmentation head"]

    boxes, masks, people = _records(model, dataset.image_ids)
    ids = dataset.image_ids
    box_stats = _cocoeval(instances.coco, boxes, "bbox", ids, instances.cat_ids)
    mask_stats = _cocoeval(instances.coco, masks, "segm", ids, instances.cat_ids)
    kp_stats = _cocoeval(keypoints, people, "keypoints", ids)
    assert 0.2 < box_stats[0] < 0.95 and 0.1 < mask_stats[0] < 0.95 and 0.1 < kp_stats[0] < 0.95
    assert metrics["AP"] == pytest.approx(box_stats[0], abs=1e-12)
    assert metrics["AP50"] == pytest.approx(box_stats[1], abs=1e-12)
    assert metrics["mask_AP"] == pytest.approx(mask_stats[0], abs=1e-12)
    assert metrics["mask_AP75"] == pytest.approx(mask_stats[2], abs=1e-12)
    assert metrics["kp_AP"] == pytest.approx(kp_stats[0], abs=1e-12)
    assert metrics["kp_AP50"] == pytest.approx(kp_stats[1], abs=1e-12)
    table = format_multitask(metrics, "coco_mini", skipped)
    assert f"| boxes | {box_stats[0]:.3f} |" in table and "(mIoU skipped" in table
    assert f"| keypoints, detected people | {kp_stats[0]:.3f} |" in table


def test_people_are_rescored_and_oks_nmsed_as_the_top_down_pose_test(shared_data):
    """The default keypoint evaluation scores each person by its box score times the mean
    keypoint confidence above 0.2 and drops a pose within OKS 0.9 of a better one:
    the duplicates (half the box score) go, the rest is pycocotools on those records."""
    coco = shared_data / "coco_mini"
    instances = CocoInstances(coco / "instances.json")
    keypoints = load_coco_keypoints(coco / "person_keypoints.json")
    dataset = MultiTaskDataset(instances, coco / "images", keypoints, heads=("masks", "keypoints"))
    model = FixedOutputs(instances, keypoints, people_twice=True)
    model.order = list(dataset.image_ids)
    metrics, _ = evaluate_multitask(model, dataset, instances.categories, OKS_SIGMAS, batch_size=3)

    people = []
    for image_id in dataset.image_ids:
        out = model.output(image_id)
        alone = (out["labels"] == model.roi_heads.keypoint_label).nonzero().flatten()
        alone = alone[:len(alone) // 2]  # the originals; their duplicates follow
        for i in alone.tolist():
            confidence = out["keypoints_scores"][i].double().numpy()
            seen = confidence > 0.2
            score = float(out["scores"][i]) * (confidence[seen].mean() if seen.any() else 0.0)
            points = out["keypoints"][i].double().numpy().round(2)
            points[:, 2] = 1.0
            people.append({"image_id": image_id, "category_id": 1, "keypoints": points.reshape(-1).tolist(),
                           "score": round(score, 5)})
    kp_stats = _cocoeval(keypoints, people, "keypoints", dataset.image_ids)
    assert metrics["kp_AP"] == pytest.approx(kp_stats[0], abs=1e-12)
    assert metrics["kp_AP75"] == pytest.approx(kp_stats[2], abs=1e-12)
    model.order = list(dataset.image_ids)  # the same outputs again
    plain, _ = evaluate_multitask(model, dataset, instances.categories, OKS_SIGMAS, batch_size=3, vis_thr=None,
                                  oks_thr=None)
    assert plain["kp_AP"] != pytest.approx(metrics["kp_AP"], abs=1e-3)  # the duplicates and box scores count


def test_a_dataset_without_keypoints_skips_the_keypoint_ap(shared_data):
    coco = shared_data / "coco_mini"
    instances = CocoInstances(coco / "instances.json", [25560])
    dataset = MultiTaskDataset(instances, coco / "images", None, heads=("masks", "keypoints"))
    model = FixedOutputs(instances, load_coco_keypoints(coco / "person_keypoints.json"))
    model.order = list(dataset.image_ids)
    metrics, skipped = evaluate_multitask(model, dataset, instances.categories, OKS_SIGMAS)
    assert "kp_AP" not in metrics and "AP" in metrics and "mask_AP" in metrics
    assert skipped[0].startswith("keypoint AP skipped: the dataset has no keypoint annotations")


@pytest.fixture(scope="module")
def synthetic_val(tmp_path_factory) -> dict[str, Path]:
    """The synthetic multi-task split's val files: 6 images of people and cars, every instance masked."""
    root = tmp_path_factory.mktemp("synthetic_multi")
    ensure_synthetic_multi(root, num_train=1, num_val=6, image_size=(128, 192), log=None)
    return dataset_paths(root, "val")


def _without_masks(paths: dict[str, Path], out: Path, image_ids=None) -> Path:
    """The val instances file with one instance of each of ``image_ids`` (None: every instance)
    stripped of its ``segmentation``, written to ``out``."""
    doc = json.loads(paths["instances"].read_text())
    for image_id in image_ids or ():
        ann = next(a for a in doc["annotations"] if a["image_id"] == image_id and not a.get("iscrowd"))
        del ann["segmentation"]
    if image_ids is None:
        for ann in doc["annotations"]:
            del ann["segmentation"]
    out.write_text(json.dumps(doc))
    return out


def _evaluate_synthetic(paths: dict[str, Path], instances_file: Path, model_type: type = FixedOutputs):
    """evaluate_multitask of a :class:`FixedOutputs` (made up from the complete file) on the
    split with ``instances_file``: (model, dataset, metrics, skip lines)."""
    instances = CocoInstances(instances_file)
    keypoints = load_coco_keypoints(paths["person_keypoints"])
    dataset = MultiTaskDataset(instances, paths["images"], keypoints, heads=("masks", "keypoints"))
    model = model_type(CocoInstances(paths["instances"]), keypoints)
    model.order = list(dataset.image_ids)
    metrics, skipped = evaluate_multitask(model, dataset, instances.categories, OKS_SIGMAS, vis_thr=None,
                                          oks_thr=None)
    return model, dataset, metrics, skipped


def test_instances_without_masks_leave_their_images_out_of_the_mask_ap(synthetic_val, tmp_path):
    """pycocotools cannot score an image whose instance has no mask (it raised KeyError): the
    mask AP is pycocotools' on the other images, the box AP still on all of them."""
    ids = sorted(CocoInstances(synthetic_val["instances"]).image_ids)
    edited = _without_masks(synthetic_val, tmp_path / "instances.json", [ids[1]])
    model, dataset, metrics, skipped = _evaluate_synthetic(synthetic_val, edited)
    assert skipped[0] == "mask AP on 5 of 6 images (1 has instances without masks)"
    boxes, masks, _ = _records(model, ids)
    gt = CocoInstances(edited)
    box_stats = _cocoeval(gt.coco, boxes, "bbox", ids, gt.cat_ids)
    mask_stats = _cocoeval(gt.coco, masks, "segm", [i for i in ids if i != ids[1]], gt.cat_ids)
    assert 0.05 < mask_stats[0] < 0.95
    assert metrics["AP"] == pytest.approx(box_stats[0], abs=1e-12)
    assert metrics["mask_AP"] == pytest.approx(mask_stats[0], abs=1e-12)
    assert metrics["mask_AP50"] == pytest.approx(mask_stats[1], abs=1e-12)
    table = format_multitask(metrics, "synthetic", skipped)
    assert "| masks |" in table and "(mask AP on 5 of 6 images (1 has instances without masks))" in table


def test_a_box_only_file_skips_the_mask_ap_and_keeps_the_box_ap(synthetic_val, tmp_path):
    ids = sorted(CocoInstances(synthetic_val["instances"]).image_ids)
    edited = _without_masks(synthetic_val, tmp_path / "instances.json")
    model, _, metrics, skipped = _evaluate_synthetic(synthetic_val, edited)
    assert skipped[0] == "mask AP skipped: no val image has masks for all its instances"
    assert not any(k.startswith("mask_") for k in metrics)
    gt = CocoInstances(edited)
    assert metrics["AP"] == pytest.approx(_cocoeval(gt.coco, _records(model, ids)[0], "bbox", ids, gt.cat_ids)[0],
                                          abs=1e-12)
    assert "| masks |" not in format_multitask(metrics, "synthetic", skipped)


class NoMaskHead(FixedOutputs):
    def __init__(self, *args) -> None:
        super().__init__(*args)
        self.heads = dict(self.heads, masks=False)


def test_a_model_without_a_mask_head_says_so(synthetic_val):
    _, _, metrics, skipped = _evaluate_synthetic(synthetic_val, synthetic_val["instances"], NoMaskHead)
    assert skipped[0] == "mask AP skipped: the model has no mask head"
    assert "mask_AP" not in metrics and "AP" in metrics


class WithSemantics(FixedOutputs):
    """Predicts class 1 everywhere: the mIoU is the share of class 1 among the labelled pixels."""

    def __init__(self, *args) -> None:
        super().__init__(*args)
        self.heads, self.seg_classes = dict(self.heads, segmentation=True), 7

    def output(self, image_id: int) -> dict[str, torch.Tensor]:
        img = self.instances.coco.imgs[image_id]
        return dict(super().output(image_id), semantic=torch.ones(img["height"], img["width"], dtype=torch.int64))


def test_label_maps_missing_for_some_or_all_images_are_said(synthetic_val, tmp_path):
    """--semantic-dir of an empty folder reported mIoU null with no reason; a missing folder was silent."""
    instances = CocoInstances(synthetic_val["instances"])
    keypoints = load_coco_keypoints(synthetic_val["person_keypoints"])
    with pytest.raises(DataError, match="nowhere: not a folder .the semantic label maps"):
        MultiTaskDataset(instances, synthetic_val["images"], keypoints, tmp_path / "nowhere")
    some = tmp_path / "some"
    some.mkdir()
    ids = sorted(instances.image_ids)
    for image_id in ids[:2]:
        name = Path(instances.coco.imgs[image_id]["file_name"]).stem + ".png"
        shutil.copy(synthetic_val["semantic"] / name, some / name)
    for folder, note in [(tmp_path, "mIoU skipped: none of the 6 images has a label map (<image stem>.png) in "),
                         (some, "mIoU over the 2 of 6 images with a label map in ")]:
        dataset = MultiTaskDataset(instances, synthetic_val["images"], keypoints, folder)
        model = WithSemantics(instances, keypoints)
        model.order = list(dataset.image_ids)
        metrics, skipped = evaluate_multitask(model, dataset, instances.categories, OKS_SIGMAS)
        assert f"{note}{folder}" in skipped and ("mIoU" in metrics) == (folder == some)
    assert 0 < metrics["mIoU"] < 1


class NoPeople(FixedOutputs):
    """Finds the cars only: no person, so no keypoint result."""

    def output(self, image_id: int) -> dict[str, torch.Tensor]:
        out = super().output(image_id)
        cars = out["labels"] != self.roi_heads.keypoint_label
        return {k: v[cars] for k, v in out.items()}


class Nothing(FixedOutputs):
    def output(self, image_id: int) -> dict[str, torch.Tensor]:
        return {k: v[:0] for k, v in super().output(image_id).items()}


def _no_detection_stats(coco: COCO, img_ids, cat_ids, names, keypoints: bool = False) -> dict[str, float]:
    """pycocotools' stats of no detections, worked out from the ground truth alone: -1 for an area
    range without an instance it counts (crowds, and for keypoints people without a labelled
    keypoint, are ignored), else 0."""
    anns = [a for a in coco.loadAnns(coco.getAnnIds(imgIds=list(img_ids), catIds=list(cat_ids or [])))
            if not a.get("iscrowd") and (not keypoints or a["num_keypoints"] > 0)]
    ranges = {"s": (0, 32 ** 2), "m": (32 ** 2, 96 ** 2), "l": (96 ** 2, 1e10)}
    expected = {}
    for name in names:
        low, high = ranges.get(name.rstrip(")")[-1].lower(), (0, 1e10))
        expected[name] = 0.0 if any(low <= a["area"] <= high for a in anns) else -1.0
    return expected


@pytest.mark.parametrize("model_type, notices", [
    (NoPeople, ["keypoint AP: the model detected no people"]),
    (Nothing, ["box AP: the model detected nothing", "mask AP: the model predicted no masks",
               "keypoint AP: the model detected no people"])])
def test_a_head_that_found_nothing_scores_as_pycocotools_with_a_line_not_a_warning(synthetic_val, recwarn,
                                                                                    model_type, notices):
    """No results score 0 where there is ground truth and -1 where there is none (an area range
    without people), as pycocotools and every other evaluation of hrseg say; the table says why."""
    _, dataset, metrics, skipped = _evaluate_synthetic(synthetic_val, synthetic_val["instances"], model_type)
    assert skipped == ["mIoU skipped: the model has no segmentation head", *notices]
    kp_names = [k for k in metrics if k.startswith("kp_")]
    expected = _no_detection_stats(dataset.keypoint_coco, dataset.image_ids, None, kp_names, keypoints=True)
    assert {k: metrics[k] for k in kp_names} == expected and -1.0 in expected.values()
    if model_type is Nothing:
        box_names = [k for k in metrics if k[:2] in ("AP", "AR")]
        expected = _no_detection_stats(dataset.instances.coco, dataset.image_ids, dataset.instances.cat_ids, box_names)
        assert {k: metrics[k] for k in box_names} == expected and -1.0 in expected.values()
        assert {k: metrics["mask_" + k] for k in box_names} == expected
    else:
        assert metrics["AP"] > 0 and metrics["mask_AP"] > 0
    assert not [w for w in recwarn if "to evaluate" in str(w.message)]
    table = format_multitask(metrics, "synthetic", skipped)
    assert "| keypoints, detected people | 0.000 |" in table and f"({notices[-1]})" in table


@pytest.mark.slow
def test_train_and_test_tools_run_the_whole_flow(tmp_path, capsys):
    from hrseg.commands import test_multi, train_multi

    work = tmp_path / "run"
    options = ["--cfg-options", f"data.root={tmp_path / 'data'}", "data.synthetic.num_train=4",
               "data.synthetic.num_val=2", "data.synthetic.image_size=[128,192]", "data.batch_size=2",
               "data.val_batch_size=2", "data.num_workers=0", "train.max_epochs=1", "model.min_size=128",
               "model.max_size=192"]
    assert train_multi.main(["--work-dir", str(work), *options]) == 0
    out = capsys.readouterr().out
    assert "| head | AP | AP50 |" in out and "| segmentation | mIoU" in out
    log = (work / "log.csv").read_text().splitlines()[0]
    for term in ("loss_mask", "loss_keypoint", "loss_seg", "loss_classifier", "masked_mask_images"):
        assert term in log
    ckpt = torch.load(work / "latest.pth", map_location="cpu", weights_only=True)
    meta = ckpt["meta"]["model"]
    assert meta["task"] == "multi" and [c["name"] for c in meta["classes"]] == ["person", "car"]
    assert meta["semantic_classes"][0] == "road" and len(meta["keypoints"]["names"]) == 17
    assert test_multi.main(["multi/synthetic_mini", "--weights", str(work / "latest.pth"), "--out-dir", str(tmp_path),
                            *options]) == 0
    assert json.loads((tmp_path / "metrics_test.json").read_text())["mIoU"] >= 0
