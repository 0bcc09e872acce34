"""mmdetection's FCOS HRNetV2p files: its file's layout loads whole into ``det_fcos`` with mmdetection's head,
the first convolution reversed so that RGB input equals mmdetection's BGR one, the head, test and losses
equal to a transcription of mmdetection 2.x's (``FCOSHead.forward_single``, ``_get_points_single``,
``_get_bboxes_single``, ``multiclass_nms``, ``get_targets``, ``loss``), a training run, and a published FCOS
name through ``hrseg test det``."""
from __future__ import annotations

import json
import math
import sys
from pathlib import Path

import pytest
import torch
import torch.nn.functional as F
from torchvision.ops import batched_nms

import hrseg
from hrseg.errors import ConfigError
from hrseg.models.detection import MMDetFCOS
from hrseg.tasks.detection import TASK as DET_TASK
from hrseg.weights import get_weights
from hrseg.weights.layouts import convert, detect_layout

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO / "tools"))
import test_det  # noqa: E402
import train_det  # noqa: E402


def _small_fcos(seed: int = 0) -> MMDetFCOS:
    """A small FCOS with mmdetection's head whose random weights find things (scores near 0.5)."""
    torch.manual_seed(seed)
    model = hrseg.build_model("det_fcos_hrnetv2p_w18_small_v1", head_type="mmdetection", min_size=160,
                              max_size=224)
    with torch.no_grad():
        for conv in (model.head.conv_cls, model.head.conv_reg, model.head.conv_centerness):
            conv.weight.normal_(0, 0.05)
            conv.bias.zero_()
        for i, scale in enumerate(model.head.scales):
            scale.scale.fill_(0.5 + 0.1 * i)
    return model.eval()


def _forward_single(head, x: torch.Tensor, level: int, stride: int):  # FCOSHead.forward_single, transcribed
    cls_feat, reg_feat = x, x
    for m in head.cls_convs:
        cls_feat = F.relu(F.group_norm(F.conv2d(cls_feat, m.conv.weight, padding=1), 32, m.gn.weight, m.gn.bias))
    for m in head.reg_convs:
        reg_feat = F.relu(F.group_norm(F.conv2d(reg_feat, m.conv.weight, padding=1), 32, m.gn.weight, m.gn.bias))
    cls_score = F.conv2d(cls_feat, head.conv_cls.weight, head.conv_cls.bias, padding=1)
    bbox_pred = F.conv2d(reg_feat, head.conv_reg.weight, head.conv_reg.bias, padding=1)
    centerness = F.conv2d(cls_feat, head.conv_centerness.weight, head.conv_centerness.bias, padding=1)
    bbox_pred = (head.scales[level].scale * bbox_pred).float().exp()  # norm_on_bbox False
    return cls_score, bbox_pred, centerness


def _get_points_single(featmap_size, stride):
    h, w = featmap_size
    y, x = torch.meshgrid(torch.arange(0, h * stride, stride, dtype=torch.float32),
                          torch.arange(0, w * stride, stride, dtype=torch.float32), indexing="ij")
    return torch.stack((x.reshape(-1), y.reshape(-1)), dim=-1) + stride // 2


def _distance2bbox(points, distance, max_shape):
    x1 = (points[:, 0] - distance[:, 0]).clamp(min=0, max=max_shape[1])
    y1 = (points[:, 1] - distance[:, 1]).clamp(min=0, max=max_shape[0])
    x2 = (points[:, 0] + distance[:, 2]).clamp(min=0, max=max_shape[1])
    y2 = (points[:, 1] + distance[:, 3]).clamp(min=0, max=max_shape[0])
    return torch.stack([x1, y1, x2, y2], -1)


def mmdet_detect(model: MMDetFCOS, image: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """mmdetection 2.x's FCOS test of one image, transcribed, on hrseg's resized and padded input; the boxes
    scaled back to the image as torchvision's transform does. Labels 0..79."""
    images, _ = model.transform([image])
    img_shape = images.image_sizes[0]
    features = list(model.backbone(images.tensors).values())
    mlvl_bboxes, mlvl_scores, mlvl_centerness = [], [], []
    for level, (x, stride) in enumerate(zip(features, (8, 16, 32, 64, 128))):
        cls_score, bbox_pred, centerness = _forward_single(model.head, x, level, stride)
        points = _get_points_single(x.shape[-2:], stride)
        scores = cls_score[0].permute(1, 2, 0).reshape(-1, 80).sigmoid()
        centerness = centerness[0].permute(1, 2, 0).reshape(-1).sigmoid()
        bbox_pred = bbox_pred[0].permute(1, 2, 0).reshape(-1, 4)
        nms_pre = 1000
        if nms_pre > 0 and scores.shape[0] > nms_pre:
            max_scores, _ = (scores * centerness[:, None]).max(dim=1)
            _, topk_inds = max_scores.topk(nms_pre)
            points, bbox_pred = points[topk_inds, :], bbox_pred[topk_inds, :]
            scores, centerness = scores[topk_inds, :], centerness[topk_inds]
        mlvl_bboxes.append(_distance2bbox(points, bbox_pred, max_shape=img_shape))
        mlvl_scores.append(scores)
        mlvl_centerness.append(centerness)
    multi_bboxes, multi_scores = torch.cat(mlvl_bboxes), torch.cat(mlvl_scores)
    score_factors = torch.cat(mlvl_centerness)
    # multiclass_nms(score_thr 0.05, nms iou 0.5, max_num 100, score_factors=centerness)
    bboxes = multi_bboxes[:, None].expand(multi_scores.size(0), 80, 4)
    scores = multi_scores * score_factors[:, None]
    labels = torch.arange(80, dtype=torch.long)[None].expand_as(scores)
    bboxes, scores, labels = bboxes.reshape(-1, 4), scores.reshape(-1), labels.reshape(-1)
    inds = (scores > 0.05).nonzero(as_tuple=False).squeeze(1)
    bboxes, scores, labels = bboxes[inds], scores[inds], labels[inds]
    keep = batched_nms(bboxes, scores, labels, 0.5)[:100]
    ratio_h, ratio_w = image.shape[-2] / img_shape[0], image.shape[-1] / img_shape[1]
    return bboxes[keep] * torch.tensor([ratio_w, ratio_h, ratio_w, ratio_h]), scores[keep], labels[keep]


@pytest.mark.parametrize("shape", [(3, 150, 220), (3, 201, 133)])
def test_the_head_and_test_are_mmdetections(shape):
    model = _small_fcos()
    image = torch.rand(shape, generator=torch.Generator().manual_seed(1))
    with torch.no_grad():
        ours = model([image])[0]
        boxes, scores, labels = mmdet_detect(model, image)
    assert 10 < len(scores) <= 100, len(scores)  # the test is exercised, the cap included where it binds
    torch.testing.assert_close(ours["scores"], scores, rtol=1e-5, atol=1e-6)
    torch.testing.assert_close(ours["boxes"], boxes, rtol=1e-5, atol=1e-3)
    assert torch.equal(ours["labels"], labels + 1)  # hrseg's labels: mmdetection's + 1 (0 the background)


def test_mmdetections_file_loads_whole_and_takes_rgb(official_state, tmp_path: Path):
    """reference/checkpoint_layouts' FCOS W32 (mmdetection's keys and shapes) loads strictly into
    det_fcos_hrnetv2p_w32 with mmdetection's head (37,297,690 parameters, as the reference counts), and the
    reversed first convolution on RGB gives what the file's own gives on BGR."""
    state = official_state("mmdet_fcos_hrnetv2p_w32_gn_head_coco.json")
    assert detect_layout(state) == "mmdet_fcos"
    path = tmp_path / "fcos_w32.pth"
    torch.save({"state_dict": state, "meta": {"CLASSES": []}}, path)
    model = hrseg.build_model("det_fcos_hrnetv2p_w32", weights=str(path), head_type="mmdetection").eval()
    assert isinstance(model, MMDetFCOS) and sum(p.numel() for p in model.parameters()) == 37_297_690
    assert torch.equal(model.head.scales[3].scale, state["bbox_head.scales.3.scale"])
    as_published = hrseg.build_model("det_fcos_hrnetv2p_w32", head_type="mmdetection").eval()
    as_published.load_state_dict({**convert(state).state,
                                  "backbone.body.backbone.conv1.weight": state["backbone.conv1.weight"]})
    rgb = torch.randn(1, 3, 64, 96, generator=torch.Generator().manual_seed(2))  # normalised, RGB order
    with torch.no_grad():
        ours = model.backbone(rgb)
        theirs = as_published.backbone(rgb.flip(1))  # mmdetection's input: the same numbers, BGR
    for level in ours:
        torch.testing.assert_close(ours[level], theirs[level], rtol=1e-4, atol=1e-5)


def test_the_records_and_their_models():
    record = get_weights("det_fcos_hrnetv2p_w32.mmdet_coco_2x_ms640-800")
    assert record.layout == "mmdet_fcos" and record.metric == "box AP 41.9" and record.sha256 == "b6f2b49f"
    assert record.model_options() == {"num_classes": 81, "head_type": "mmdetection"}
    assert get_weights("coco", "det_fcos_hrnetv2p_w18").name == "det_fcos_hrnetv2p_w18.mmdet_coco_2x_ms640-800"
    assert get_weights("coco_1x", "det_fcos_hrnetv2p_w32").url.endswith("20201211_134730-cb8055c0.pth")
    with pytest.raises(ConfigError, match="head_type is 'torchvision' or 'mmdetection'"):
        hrseg.build_model("det_fcos_hrnetv2p_w18_small_v1", head_type="mmdet")


INF = 1e8
STRIDES = (8, 16, 32, 64, 128)


def _get_target_single(gt_bboxes, gt_labels, points, regress_ranges, num_classes):  # mmdetection 2.x, transcribed
    num_points, num_gts = points.size(0), gt_labels.size(0)
    if num_gts == 0:
        return gt_labels.new_full((num_points,), num_classes), gt_bboxes.new_zeros((num_points, 4))
    areas = ((gt_bboxes[:, 2] - gt_bboxes[:, 0]) * (gt_bboxes[:, 3] - gt_bboxes[:, 1]))[None].repeat(num_points, 1)
    regress_ranges = regress_ranges[:, None, :].expand(num_points, num_gts, 2)
    gt_bboxes = gt_bboxes[None].expand(num_points, num_gts, 4)
    xs = points[:, 0][:, None].expand(num_points, num_gts)
    ys = points[:, 1][:, None].expand(num_points, num_gts)
    bbox_targets = torch.stack((xs - gt_bboxes[..., 0], ys - gt_bboxes[..., 1], gt_bboxes[..., 2] - xs,
                                gt_bboxes[..., 3] - ys), -1)
    inside_gt_bbox_mask = bbox_targets.min(-1)[0] > 0  # center_sampling False
    max_regress_distance = bbox_targets.max(-1)[0]
    inside_regress_range = ((max_regress_distance >= regress_ranges[..., 0])
                            & (max_regress_distance <= regress_ranges[..., 1]))
    areas[inside_gt_bbox_mask == 0] = INF
    areas[inside_regress_range == 0] = INF
    min_area, min_area_inds = areas.min(dim=1)
    labels = gt_labels[min_area_inds]
    labels[min_area == INF] = num_classes
    return labels, bbox_targets[range(num_points), min_area_inds]


def _mmdet_fcos_loss(cls_scores, bbox_preds, centernesses, gt_bboxes, gt_labels, num_classes):
    """FCOSHead.loss + get_targets (regress_ranges the default, norm_on_bbox False), FocalLoss (its Python
    version), IoULoss (-log, eps 1e-6, bbox_overlaps aligned) and CrossEntropyLoss(use_sigmoid), transcribed."""
    points = [_get_points_single(c.shape[-2:], s) for c, s in zip(cls_scores, STRIDES)]
    ranges = torch.cat([p.new_tensor(r)[None].expand_as(p) for p, r in
                        zip(points, ((-1, 64), (64, 128), (128, 256), (256, 512), (512, INF)))])
    num_points = [len(p) for p in points]
    per_image = [_get_target_single(b, lab, torch.cat(points), ranges, num_classes)
                 for b, lab in zip(gt_bboxes, gt_labels)]
    labels = [torch.cat([t[0].split(num_points)[i] for t in per_image]) for i in range(len(points))]
    bbox_targets = [torch.cat([t[1].split(num_points)[i] for t in per_image]) for i in range(len(points))]
    num_imgs = cls_scores[0].size(0)
    flat_cls = torch.cat([c.permute(0, 2, 3, 1).reshape(-1, num_classes) for c in cls_scores])
    flat_bbox = torch.cat([b.permute(0, 2, 3, 1).reshape(-1, 4) for b in bbox_preds])
    flat_ctr = torch.cat([c.permute(0, 2, 3, 1).reshape(-1) for c in centernesses])
    flat_labels, flat_targets = torch.cat(labels), torch.cat(bbox_targets)
    flat_points = torch.cat([p.repeat(num_imgs, 1) for p in points])
    pos_inds = ((flat_labels >= 0) & (flat_labels < num_classes)).nonzero().reshape(-1)
    target = F.one_hot(flat_labels, num_classes + 1)[:, :num_classes].float()
    pred_sigmoid = flat_cls.sigmoid()
    pt = (1 - pred_sigmoid) * target + pred_sigmoid * (1 - target)
    focal_weight = (0.25 * target + 0.75 * (1 - target)) * pt.pow(2.0)
    loss_cls = (F.binary_cross_entropy_with_logits(flat_cls, target, reduction="none") * focal_weight).sum() / (
        len(pos_inds) + num_imgs)
    pos_targets, pos_points = flat_targets[pos_inds], flat_points[pos_inds]
    left_right, top_bottom = pos_targets[:, [0, 2]], pos_targets[:, [1, 3]]
    ctr = torch.sqrt((left_right.min(dim=-1)[0] / left_right.max(dim=-1)[0])
                     * (top_bottom.min(dim=-1)[0] / top_bottom.max(dim=-1)[0]))

    def distance2bbox(p, d):
        return torch.stack([p[:, 0] - d[:, 0], p[:, 1] - d[:, 1], p[:, 0] + d[:, 2], p[:, 1] + d[:, 3]], -1)

    b1, b2 = distance2bbox(pos_points, flat_bbox[pos_inds]), distance2bbox(pos_points, pos_targets)
    wh = (torch.min(b1[:, 2:], b2[:, 2:]) - torch.max(b1[:, :2], b2[:, :2])).clamp(min=0)
    overlap = wh[:, 0] * wh[:, 1]
    union = (b1[:, 2] - b1[:, 0]) * (b1[:, 3] - b1[:, 1]) + (b2[:, 2] - b2[:, 0]) * (b2[:, 3] - b2[:, 1]) - overlap
    ious = (overlap / torch.max(union, union.new_tensor([1e-6]))).clamp(min=1e-6)
    loss_bbox = (-ious.log() * ctr).sum() / ctr.sum()
    loss_ctr = F.binary_cross_entropy_with_logits(flat_ctr[pos_inds], ctr)
    return {"classification": loss_cls, "bbox_regression": loss_bbox, "bbox_ctrness": loss_ctr}, len(pos_inds)


def _ground_truth(seed: int, size=(256, 320)):
    """Boxes of every scale (so that each level has positives), overlapping; the last image has none."""
    g = torch.Generator().manual_seed(seed)
    boxes, labels = [], []
    for n in (6, 9, 0):
        wh = torch.exp(torch.empty(n, 2).uniform_(2.0, 5.6, generator=g))
        xy = torch.rand(n, 2, generator=g) * torch.tensor([size[1], size[0]])
        corner = torch.tensor([size[1], size[0]] * 2, dtype=torch.float32)
        boxes.append(torch.cat([xy - wh / 2, xy + wh / 2], 1).clamp(min=0).minimum(corner))
        labels.append(torch.randint(0, 80, (n,), generator=g))
    return boxes, labels


def test_the_losses_equal_mmdetections():
    """fcos_losses against the transcription of mmdetection 2.x's FCOSHead.loss on random outputs of a
    256x320 batch: three images, the last without boxes."""
    from hrseg.models.fcos_mmdet import REGRESS_RANGES, fcos_losses
    g = torch.Generator().manual_seed(0)
    sizes = [(256 // s + (s == 128), 320 // s) for s in STRIDES]
    cls = [torch.randn(3, 80, h, w, generator=g) - 2 for h, w in sizes]
    dist = [torch.exp(torch.randn(3, 4, h, w, generator=g) + math.log(s) + 1) for (h, w), s in zip(sizes, STRIDES)]
    ctr = [torch.randn(3, 1, h, w, generator=g) for h, w in sizes]
    boxes, labels = _ground_truth(0)
    expected, num_pos = _mmdet_fcos_loss(cls, dist, ctr, boxes, labels, 80)
    assert num_pos > 20
    points = [_get_points_single(c.shape[-2:], s) for c, s in zip(cls, STRIDES)]
    ranges = torch.cat([p.new_tensor(r).expand(len(p), 2) for p, r in zip(points, REGRESS_RANGES)])

    def flat(levels):
        return torch.cat([x.permute(0, 2, 3, 1).reshape(3, -1, x.shape[1]) for x in levels], 1)
    got = fcos_losses(flat(cls), flat(dist), flat(ctr), torch.cat(points), ranges, boxes, labels)
    assert got.keys() == expected.keys()
    for key in got:
        assert torch.allclose(got[key], expected[key], rtol=1e-5, atol=0), (key, got[key], expected[key])
    shifted = fcos_losses(flat(cls), flat(dist), flat(ctr), torch.cat(points) + 4, ranges, boxes, labels)
    assert not torch.allclose(shifted["bbox_regression"], expected["bbox_regression"], rtol=1e-3)
    empty = fcos_losses(flat(cls)[2:], flat(dist)[2:], flat(ctr)[2:], torch.cat(points), ranges, boxes[2:], labels[2:])
    assert empty["bbox_regression"] == 0 and empty["bbox_ctrness"] == 0 and empty["classification"] > 0


def test_the_model_trains_with_mmdetections_losses_on_its_points():
    """MMDetFCOS.compute_loss: the points of torchvision's anchors are mmdetection's, the levels' ranges
    its, the labels its (hrseg's - 1); the gradients reach the head and the backbone."""
    from hrseg.models.fcos_mmdet import REGRESS_RANGES, fcos_losses
    model = _small_fcos().train()
    captured = {}
    model.head.register_forward_hook(lambda m, args, out: captured.update(features=args[0], out=out))
    boxes, labels = _ground_truth(1, size=(160, 224))
    images = [torch.rand(3, 160, 224), torch.rand(3, 160, 200), torch.rand(3, 160, 224)]
    losses = model(images, [{"boxes": b, "labels": lab + 1} for b, lab in zip(boxes, labels)])
    points = [_get_points_single(f.shape[-2:], s) for f, s in zip(captured["features"], STRIDES)]
    ranges = torch.cat([p.new_tensor(r).expand(len(p), 2) for p, r in zip(points, REGRESS_RANGES)])
    out = captured["out"]
    expected = fcos_losses(out["cls_logits"], out["bbox_regression"], out["bbox_ctrness"], torch.cat(points),
                           ranges, boxes, labels)
    for key in expected:
        assert torch.equal(losses[key], expected[key]), key
    sum(losses.values()).backward()
    assert model.head.scales[0].scale.grad is not None and model.head.cls_convs[0].conv.weight.grad.abs().sum() > 0
    assert model.backbone.body.backbone.conv1.weight.grad.abs().sum() > 0


def test_the_detection_task_trains_it(tmp_path: Path):
    """One epoch of the synthetic split through the training tool with mmdetection's head (it was refused
    before it had mmdetection's losses)."""
    config = tmp_path / "fcos_mmdet_mini.py"
    config.write_text(f"_base_ = [{str(REPO / 'configs' / 'det' / 'mini_fasterrcnn.py')!r}]\n"
                      "model = dict(_delete_=True, name='det_fcos_hrnetv2p_w18_small_v1', head_type='mmdetection', "
                      "min_size=96, max_size=96, out_channels=32)\n")
    options = ["data.root=" + str(tmp_path / "data"), "data.synthetic.num_train=8", "data.synthetic.num_val=2",
               "data.synthetic.image_size=[96,96]", "data.num_workers=0", "data.batch_size=4", "train.max_epochs=1",
               "optimizer.bias_lr_mult=2.0", "optimizer.bias_decay_mult=0.0", "schedule.warmup=constant"]
    assert train_det.main([str(config), "--cfg-options", *options, "--work-dir", str(tmp_path / "run")]) == 0
    log = (tmp_path / "run" / "log.csv").read_text().splitlines()
    header, last = log[0].split(","), log[-1].split(",")
    assert "bbox_ctrness" in header and math.isfinite(float(last[header.index("bbox_ctrness")]))
    assert (tmp_path / "run" / "latest.pth").exists()


def test_a_published_fcos_name_through_hrseg_test(publish_as, shared_data: Path, tmp_path: Path, capsys):
    """``hrseg test det --weights <mmdetection FCOS name>`` (a small model with mmdetection's head served under
    it) on the COCO sample: the model is built with mmdetection's head from the record, and scored."""
    record = publish_as(_small_fcos(), "det_fcos_hrnetv2p_w18.mmdet_coco_1x", "det_fcos_hrnetv2p_w18_small_v1")
    coco = shared_data / "coco_mini"
    args = ["--weights", record.name, "--ann-file", str(coco / "instances.json"), "--img-dir", str(coco / "images"),
            "--out-dir", str(tmp_path / "test"), "--cfg-options", "model.min_size=128", "model.max_size=160",
            "test.backend=torch"]
    assert test_det.main(args) == 0
    assert "AP50" in capsys.readouterr().out
    metrics = json.loads((tmp_path / "test" / "metrics_test.json").read_text())
    assert 0.0 <= metrics["AP"] <= 1.0 and metrics["run"]["weights"] == record.name
    model, cfg = DET_TASK.load_model(record.name)
    assert isinstance(model, MMDetFCOS) and cfg["model"]["head_type"] == "mmdetection"
