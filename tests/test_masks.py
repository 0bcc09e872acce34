"""Instance masks: COCO polygons and RLE (crowd) in the adapter, masks through flip / zoom-out /
zoom-in crop, the dataset's mask targets, mask AP equal to pycocotools, Mask R-CNN HRNetV2p
forward/backward, the detection task's box + mask evaluation and the mask drawing."""
from __future__ import annotations

import logging

import contextlib
import io
import json
from pathlib import Path

import cv2
import numpy as np
import pytest
import torch
from pycocotools.coco import COCO
from pycocotools.cocoeval import COCOeval

import hrseg
from hrseg.data.det.coco_instances import CocoInstances
from hrseg.data.det.dataset import CocoDetection
from hrseg.data.det.transforms import DetAugment
from hrseg.data.det.instance_masks import decode_rle, encode_mask, instance_mask
from hrseg.errors import DataError
from hrseg.evaluation import evaluate_masks
from hrseg.evaluation.coco_boxes import STAT_NAMES
from hrseg.models.mask_rcnn import HRNetMaskRCNN, mask_model
from hrseg.tasks.detection import detect, evaluate_dataset, load_det_config
from hrseg.visualization.boxes import draw_boxes

REPO = Path(__file__).resolve().parents[1]


@pytest.fixture(scope="module")
def coco_mini(shared_data) -> COCO:
    with contextlib.redirect_stdout(io.StringIO()):
        return COCO(str(shared_data / "coco_mini" / "instances.json"))


def test_polygons_and_crowd_rle_decode_as_pycocotools(coco_mini: COCO) -> None:
    kinds = set()
    for ann in coco_mini.dataset["annotations"]:
        img = coco_mini.imgs[ann["image_id"]]
        mask = instance_mask(ann, img["height"], img["width"])
        assert mask.dtype == np.uint8 and np.array_equal(mask, coco_mini.annToMask(ann))
        kinds.add((ann["iscrowd"], type(ann["segmentation"]).__name__))
        rle = encode_mask(mask)  # JSON-ready and lossless
        assert isinstance(rle["counts"], str) and np.array_equal(decode_rle(json.loads(json.dumps(rle))), mask)
    assert kinds == {(0, "list"), (1, "dict")}  # polygons and the crowd regions' uncompressed RLE


@pytest.mark.parametrize("seg, match", [
    ([[1, 2, 3, 4]], "polygon"), ([], "empty"), ({"size": [5, 5], "counts": [1, 2]}, "summing"),
    ({"size": [9, 9], "counts": "abc"}, "size"), ("nonsense", "polygons or an RLE")])
def test_malformed_segmentations_name_the_file_and_annotation(seg, match) -> None:
    with pytest.raises(DataError, match=rf"ann\.json: annotation id 17.*{match}"):
        instance_mask({"id": 17, "segmentation": seg}, 5, 5, "ann.json")


def _two_objects(h: int = 80, w: int = 100) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    masks = np.zeros((2, h, w), np.uint8)
    masks[0, 30:50, 40:70] = 1  # 20 x 30 near the centre
    masks[1, 2:10, 2:12] = 1  # a small one in the top-left corner
    boxes = np.array([[40, 30, 70, 50], [2, 2, 12, 10]], np.float32)
    return masks, boxes, np.array([1, 2])


def _centroid(mask: np.ndarray) -> np.ndarray:
    ys, xs = np.nonzero(mask)
    return np.array([xs.mean(), ys.mean()])


def test_masks_follow_the_flip() -> None:
    masks, boxes, labels = _two_objects()
    image = np.zeros(masks.shape[1:] + (3,), np.uint8)
    _, b, lab, m = DetAugment(flip_prob=1.0)(image, boxes, labels, np.random.default_rng(0), masks=masks)
    assert m.shape == masks.shape and lab.tolist() == [1, 2]
    assert np.array_equal(m, masks[:, :, ::-1])  # same area, mirrored position
    np.testing.assert_allclose(b[0], [100 - 70, 30, 100 - 40, 50])


def test_masks_follow_the_zoom_out_and_the_zoom_in_crop() -> None:
    masks, boxes, labels = _two_objects()
    image = np.zeros(masks.shape[1:] + (3,), np.uint8)
    centre = np.array([49.5, 39.5])  # the affine zooms about the canvas centre
    rng = np.random.default_rng(0)
    _, b, lab, m = DetAugment(flip_prob=0.0, scale_range=(0.5, 0.5))(image, boxes, labels, rng, masks=masks)
    assert len(m) == len(b) == len(lab) == 2
    assert abs(m[0].sum() / masks[0].sum() - 0.25) < 0.05
    np.testing.assert_allclose(_centroid(m[0]), centre + 0.5 * (_centroid(masks[0]) - centre), atol=1.0)
    # zoomed 2x the corner object leaves the canvas: its box, label and mask are dropped together
    _, b, lab, m = DetAugment(flip_prob=0.0, scale_range=(2.0, 2.0))(image, boxes, labels, rng, masks=masks)
    assert lab.tolist() == [1] and m.shape == (1,) + masks.shape[1:]
    assert abs(m[0].sum() / masks[0].sum() - 4.0) < 0.2
    np.testing.assert_allclose(_centroid(m[0]), centre + 2.0 * (_centroid(masks[0]) - centre), atol=1.0)
    ys, xs = np.nonzero(m[0])
    np.testing.assert_allclose(b[0], [xs.min(), ys.min(), xs.max() + 1, ys.max() + 1], atol=1.5)
    # a mask cut by the canvas edge keeps only its visible part
    big = masks.copy()
    big[0, 30:50, 40:99] = 1
    _, _, _, m = DetAugment(flip_prob=0.0, scale_range=(2.0, 2.0))(image, boxes, labels, rng, masks=big)
    assert m[0].sum() < 4 * big[0].sum() * 0.8 and m[0][:, -1].any()


def test_dataset_targets_carry_masks(shared_data) -> None:
    inst = CocoInstances(shared_data / "coco_mini" / "instances.json")
    image_id = inst.image_ids[0]
    ds = CocoDetection(inst, shared_data / "coco_mini" / "images", train=True,
                       augment=DetAugment(flip_prob=1.0), img_ids=[image_id], masks=True)
    image, target = ds[0]
    n, h, w = target["masks"].shape
    assert n == len(target["boxes"]) > 0 and (h, w) == tuple(image.shape[1:])
    plain = inst.targets(image_id, masks=True)
    assert np.array_equal(target["masks"].numpy(), plain.masks[:, :, ::-1])
    assert "masks" not in CocoDetection(inst, shared_data / "coco_mini" / "images", img_ids=[image_id])[0][1]


def _perturbed_results(gt: COCO, seed: int = 0) -> list[dict]:
    rng = np.random.default_rng(seed)
    results = []
    for ann in gt.dataset["annotations"]:
        img = gt.imgs[ann["image_id"]]
        mask = gt.annToMask(ann)
        kind = int(rng.integers(5))
        if kind == 1:
            mask = cv2.dilate(mask, np.ones((7, 7), np.uint8))
        elif kind == 2:
            mask = cv2.erode(mask, np.ones((5, 5), np.uint8))
        elif kind == 3:
            mask = np.roll(mask, int(rng.integers(-15, 16)), axis=int(rng.integers(2)))
        elif kind == 4 and ann.get("iscrowd"):
            continue
        cat = ann["category_id"] if rng.random() > 0.1 else int(rng.choice(sorted(gt.cats)))
        results.append({"image_id": ann["image_id"], "category_id": cat, "segmentation": encode_mask(mask),
                        "score": round(float(rng.random()), 4)})
        if rng.random() < 0.2:  # a false positive somewhere else in the image
            fp = np.zeros((img["height"], img["width"]), np.uint8)
            fp[:40, :60] = 1
            results.append({"image_id": ann["image_id"], "category_id": ann["category_id"],
                            "segmentation": encode_mask(fp), "score": round(float(rng.random()) * 0.5, 4)})
    return results


def _pycocotools(gt: COCO, results: list[dict], img_ids=None) -> list[float]:
    with contextlib.redirect_stdout(io.StringIO()):
        ev = COCOeval(gt, gt.loadRes(json.loads(json.dumps(results))), "segm")
        if img_ids is not None:
            ev.params.imgIds = sorted(img_ids)
        ev.evaluate(), ev.accumulate(), ev.summarize()
    return [float(v) for v in ev.stats]


def test_mask_ap_equals_pycocotools_on_perturbed_masks(coco_mini: COCO, shared_data, tmp_path) -> None:
    results = _perturbed_results(coco_mini)
    path = tmp_path / "segm.json"
    path.write_text(json.dumps(results))
    ours = evaluate_masks(shared_data / "coco_mini" / "instances.json", path, verbose=False)
    ref = _pycocotools(coco_mini, results)
    assert list(ours) == list(STAT_NAMES) and [ours[k] for k in STAT_NAMES] == ref
    assert 0.2 < ours["AP"] < 0.9  # perturbed, not perfect
    val = [i for i, im in coco_mini.imgs.items() if im["coco_split"] == "val2017"]
    assert [evaluate_masks(coco_mini, results, img_ids=val, verbose=False)[k] for k in STAT_NAMES] == \
        _pycocotools(coco_mini, results, val)
    perfect = [{"image_id": a["image_id"], "category_id": a["category_id"], "score": 1.0,
                "segmentation": encode_mask(coco_mini.annToMask(a))} for a in coco_mini.dataset["annotations"]
               if not a["iscrowd"]]
    assert evaluate_masks(coco_mini, perfect, verbose=False)["AP"] == pytest.approx(1.0)


def test_mask_results_are_checked(coco_mini: COCO, caplog) -> None:
    ann = coco_mini.dataset["annotations"][0]
    bad = {"image_id": ann["image_id"], "category_id": ann["category_id"], "score": 0.5,
           "segmentation": encode_mask(np.ones((8, 8), np.uint8))}
    with pytest.raises(DataError, match=f"mask results: result for image id {ann['image_id']}: RLE size"):
        evaluate_masks(coco_mini, [bad], verbose=False)
    with pytest.raises(DataError, match="segmentation"):
        evaluate_masks(coco_mini, [{k: v for k, v in bad.items() if k != "segmentation"}], verbose=False)
    with caplog.at_level(logging.WARNING, logger="hrseg"):
        assert evaluate_masks(coco_mini, [], verbose=False)["AP"] == 0.0
    assert "no masks" in caplog.text


@pytest.mark.parametrize("name", ["det_maskrcnn_hrnetv2p_w18", "det_maskrcnn_hrnetv2p_w32"])
def test_mask_rcnn_registered_with_the_official_mask_branch(name) -> None:
    with torch.device("meta"):
        model = hrseg.build_model(name)
    heads = model.roi_heads
    assert isinstance(model, HRNetMaskRCNN) and mask_model(model)
    assert heads.mask_roi_pool.output_size == (14, 14) and heads.mask_roi_pool.featmap_names == ["p2", "p3", "p4", "p5"]
    assert len(heads.mask_head) == 4 and heads.mask_predictor.mask_fcn_logits.out_channels == 81
    assert heads.mask_predictor.conv5_mask.out_channels == 256


def test_mask_rcnn_forward_backward_shapes() -> None:
    model = hrseg.build_model("det_maskrcnn_hrnetv2p_w18_small_v1", num_classes=3, min_size=96, max_size=96,
                              out_channels=32, representation_size=64, mask_channels=32, mask_convs=2,
                              rpn_post_nms_top_n_train=64, box_batch_size_per_image=32)
    masks = torch.zeros(1, 96, 96, dtype=torch.uint8)
    masks[0, 20:70, 30:60] = 1
    target = {"boxes": torch.tensor([[30.0, 20.0, 60.0, 70.0]]), "labels": torch.tensor([2]), "masks": masks}
    losses = model.train()([torch.rand(3, 96, 96)] * 2, [target] * 2)
    assert set(losses) == {"loss_classifier", "loss_box_reg", "loss_mask", "loss_objectness", "loss_rpn_box_reg"}
    sum(losses.values()).backward()
    grad = model.roi_heads.mask_predictor.mask_fcn_logits.weight.grad
    assert grad is not None and grad.abs().sum() > 0
    assert model.backbone.body.backbone.conv1.weight.grad.abs().sum() > 0
    with torch.no_grad():
        out = model.eval()([torch.rand(3, 80, 112)])[0]
    n = len(out["boxes"])
    assert out["masks"].shape == (n, 1, 80, 112) and out["labels"].shape == (n,)


class _Oracle(torch.nn.Module):
    """A 'Mask R-CNN' answering each image with its ground truth (in the dataset's order)."""

    def __init__(self, dataset: CocoDetection) -> None:
        super().__init__()
        self.w = torch.nn.Parameter(torch.zeros(()))
        self.queue = [dataset.instances.targets(i, masks=True) for i in dataset.image_ids]
        self.roi_heads = type("Heads", (torch.nn.Module,), {"has_mask": lambda self: True})()

    def forward(self, images):
        out = []
        for _ in images:
            t = self.queue.pop(0)
            n = len(t.boxes)
            out.append({"boxes": torch.from_numpy(t.boxes), "labels": torch.from_numpy(t.labels),
                        "scores": torch.linspace(0.9, 0.5, n), "masks": torch.from_numpy(t.masks)[:, None].float()})
        return out


def test_detection_task_reports_box_and_mask_ap_and_draws_masks(shared_data, tmp_path) -> None:
    cfg = load_det_config(REPO / "configs" / "det" / "mini_maskrcnn.py")
    assert cfg["model"]["name"] == "det_maskrcnn_hrnetv2p_w18_small_v1"
    inst = CocoInstances(shared_data / "coco_mini" / "instances.json")
    ids = inst.image_ids[:6]
    ds = CocoDetection(inst, shared_data / "coco_mini" / "images", img_ids=ids)
    out = tmp_path / "boxes_run"  # the mask results go beside the box results, whatever the folder's name
    out.mkdir()
    metrics = evaluate_dataset(_Oracle(ds), ds, inst.categories, out / "results_boxes.json", verbose=False)
    assert metrics["AP"] == pytest.approx(1.0) and metrics["mask_AP"] == pytest.approx(1.0)
    written = json.loads((out / "results_masks.json").read_text())
    assert written and all("bbox" not in r and isinstance(r["segmentation"]["counts"], str) for r in written)
    assert all("segmentation" not in r for r in json.loads((out / "results_boxes.json").read_text()))
    # inference: detections carry their RLE; the drawing fills them translucently with an outline
    image = ds.read(ids[0])
    oracle = _Oracle(CocoDetection(inst, shared_data / "coco_mini" / "images", img_ids=ids[:1]))
    found = detect(oracle, image, inst.categories, score_thr=0.0)
    assert found and all("segmentation" in d for d in found)
    drawn = draw_boxes(image, found[:1])
    mask = decode_rle(found[0]["segmentation"]).astype(bool)
    inner = cv2.erode(mask.astype(np.uint8), np.ones((9, 9), np.uint8)).astype(bool)
    x1, y1, x2, y2 = (int(v) for v in found[0]["bbox"])
    outside = np.ones_like(mask)
    outside[max(0, y1 - 30):y2 + 30, max(0, x1 - 30):x2 + 30] = False
    assert (drawn[inner] != image[inner]).any(axis=1).mean() > 0.95  # tinted inside
    assert np.array_equal(drawn[outside], image[outside])  # untouched away from the detection


def test_mmdet_mask_rcnn_layout_mask_head_loads(official_state) -> None:
    from hrseg.errors import CheckpointError
    from hrseg.models.mask_rcnn import convert_mmdet_mask_head

    state = official_state("mmdet_mask_rcnn_hrnetv2p_w32_coco.json")
    with torch.device("meta"):
        model = hrseg.build_model("det_maskrcnn_hrnetv2p_w32")
    ours = {k: v.shape for k, v in model.state_dict().items() if ".mask_" in k}
    converted = convert_mmdet_mask_head(state)
    assert {k: v.shape for k, v in converted.items()} == ours  # every mask-branch tensor, right shapes
    logits = converted["roi_heads.mask_predictor.mask_fcn_logits.weight"]
    assert logits[0].abs().sum() == 0 and torch.equal(logits[1:], state["roi_head.mask_head.conv_logits.weight"])
    with pytest.raises(CheckpointError, match="mask head"):
        convert_mmdet_mask_head(official_state("mmdet_faster_rcnn_hrnetv2p_w32_coco.json"))
