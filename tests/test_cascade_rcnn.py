"""mmdetection's Cascade (Mask) R-CNN HRNetV2p files: the three stages' test equal to a transcription of
mmdetection 2.x's (``CascadeRoIHead.simple_test``, ``BBoxHead.regress_by_class`` / ``get_bboxes``,
``delta2bbox``, ``multiclass_nms``, ``FCNMaskHead`` and ``merge_aug_masks``) on the same proposals, the file's
keys (mmdetection's names, background last) loading whole, the records, and the training equal to a
transcription of ``CascadeRoIHead.forward_train``."""
from __future__ import annotations

import numpy as np
import pytest
import torch
import torch.nn.functional as F
from torchvision.ops import batched_nms

import hrseg
from hrseg.errors import CheckpointError
from hrseg.models.cascade_rcnn import HRNetCascadeRCNN
from hrseg.models.mask_rcnn import is_mask_model
from hrseg.tasks.detection import TASK as DET_TASK
from hrseg.weights import get_weights
from hrseg.weights.detector import load_published_detector
from hrseg.weights.layouts import convert, detect_layout

STDS = ([0.1, 0.1, 0.2, 0.2], [0.05, 0.05, 0.1, 0.1], [0.033, 0.033, 0.067, 0.067])


def _small_cascade(masks: bool = False) -> HRNetCascadeRCNN:
    """A small Cascade (Mask) R-CNN whose random classifiers favour a few classes, so that boxes pass 0.05."""
    torch.manual_seed(0)
    kind = "det_cascademaskrcnn" if masks else "det_cascadercnn"
    model = hrseg.build_model(f"{kind}_hrnetv2p_w18_small_v1", min_size=160, max_size=224)
    with torch.no_grad():
        for predictor in model.roi_heads.box_predictors:
            predictor.cls_score.bias[1:6] = 4.0
            predictor.bbox_pred.weight.normal_(0, 0.02)
        for predictor in model.roi_heads.mask_predictors:  # the background's mask row: zero, as a converted file's
            predictor.mask_fcn_logits.weight[0] = 0.0
            predictor.mask_fcn_logits.bias[0] = 0.0
    return model.eval()


def delta2bbox(rois, deltas, stds, max_shape, wh_ratio_clip=16 / 1000):  # mmdet 2.x, means 0
    denorm = deltas * deltas.new_tensor(stds).view(1, -1)
    dx, dy, dw, dh = denorm[:, 0::4], denorm[:, 1::4], denorm[:, 2::4], denorm[:, 3::4]
    max_ratio = np.abs(np.log(wh_ratio_clip))
    dw, dh = dw.clamp(min=-max_ratio, max=max_ratio), dh.clamp(min=-max_ratio, max=max_ratio)
    px = ((rois[:, 0] + rois[:, 2]) * 0.5).unsqueeze(1).expand_as(dx)
    py = ((rois[:, 1] + rois[:, 3]) * 0.5).unsqueeze(1).expand_as(dy)
    pw = (rois[:, 2] - rois[:, 0]).unsqueeze(1).expand_as(dw)
    ph = (rois[:, 3] - rois[:, 1]).unsqueeze(1).expand_as(dh)
    gw, gh = pw * dw.exp(), ph * dh.exp()
    gx, gy = px + pw * dx, py + ph * dy
    x1 = (gx - gw * 0.5).clamp(min=0, max=max_shape[1])
    y1 = (gy - gh * 0.5).clamp(min=0, max=max_shape[0])
    x2 = (gx + gw * 0.5).clamp(min=0, max=max_shape[1])
    y2 = (gy + gh * 0.5).clamp(min=0, max=max_shape[0])
    return torch.stack([x1, y1, x2, y2], dim=-1).view(deltas.size())


def mmdet_simple_test(model: HRNetCascadeRCNN, features, proposals: torch.Tensor, img_shape) -> tuple:
    """CascadeRoIHead.simple_test for one image (the stages' weights read from hrseg's model, whose
    classifier rows are mmdetection's rotated: the background first here, last in mmdetection)."""
    heads = model.roi_heads
    rois = proposals
    ms_scores = []
    for i in range(3):
        fc = heads.box_heads[i]
        x = heads.box_roi_pool(features, [rois], [img_shape]).flatten(1)
        x = F.relu(F.linear(F.relu(F.linear(x, fc.fc6.weight, fc.fc6.bias)), fc.fc7.weight, fc.fc7.bias))
        w = heads.box_predictors[i].cls_score.weight
        b = heads.box_predictors[i].cls_score.bias
        cls_score = F.linear(x, torch.cat([w[1:], w[:1]]), torch.cat([b[1:], b[:1]]))  # mmdetection's row order
        bbox_pred = F.linear(x, heads.box_predictors[i].bbox_pred.weight, heads.box_predictors[i].bbox_pred.bias)
        ms_scores.append(cls_score)
        rois = delta2bbox(rois, bbox_pred, STDS[i], img_shape)  # regress_by_class (class-agnostic)
    cls_score = sum(ms_scores) / float(len(ms_scores))
    scores = F.softmax(cls_score, dim=1)  # get_bboxes: the last stage's boxes are `rois` now
    # multiclass_nms(score_thr 0.05, nms 0.5, max_per_img 100)
    num_classes = scores.size(1) - 1
    bboxes = rois[:, None].expand(scores.size(0), num_classes, 4)
    scores = scores[:, :-1]
    labels = torch.arange(num_classes, dtype=torch.long)[None].expand_as(scores)
    bboxes, scores, labels = bboxes.reshape(-1, 4), scores.reshape(-1), labels.reshape(-1)
    inds = (scores > 0.05).nonzero(as_tuple=False).squeeze(1)
    bboxes, scores, labels = bboxes[inds], scores[inds], labels[inds]
    keep = batched_nms(bboxes, scores, labels, 0.5)[:100]
    return bboxes[keep], scores[keep], labels[keep]


@pytest.mark.parametrize("shape", [(3, 150, 220), (3, 201, 133)])
def test_the_cascade_is_mmdetections(shape):
    model = _small_cascade()
    image = torch.rand(shape, generator=torch.Generator().manual_seed(3))
    with torch.no_grad():
        images, _ = model.transform([image])
        features = model.backbone(images.tensors)
        proposals, _ = model.rpn(images, features)
        ours = model.roi_heads(features, proposals, images.image_sizes)[0][0]
        boxes, scores, labels = mmdet_simple_test(model, features, proposals[0], images.image_sizes[0])
    assert 10 < len(scores) <= 100, len(scores)
    torch.testing.assert_close(ours["scores"], scores, rtol=1e-4, atol=1e-6)
    torch.testing.assert_close(ours["boxes"], boxes, rtol=1e-4, atol=1e-3)
    assert torch.equal(ours["labels"], labels + 1)  # hrseg's labels: mmdetection's + 1
    with torch.no_grad():  # the whole model: the same detections scaled to the image
        whole = model([image])[0]
    assert len(whole["scores"]) == len(scores)


def mmdet_merged_masks(model: HRNetCascadeRCNN, features, boxes: torch.Tensor, labels: torch.Tensor,
                       img_shape) -> torch.Tensor:
    """simple_test's mask part: each stage's FCNMaskHead (4 conv + ReLU, 2x deconv + ReLU, conv_logits with
    mmdetection's 80 rows) on the detected boxes, sigmoid, merge_aug_masks' mean, the detected class."""
    heads = model.roi_heads
    pooled = heads.mask_roi_pool(features, [boxes], [img_shape])
    aug_masks = []
    for i in range(3):
        x = pooled
        for block in heads.mask_heads[i]:
            x = F.relu(F.conv2d(x, block[0].weight, block[0].bias, padding=1))
        predictor = heads.mask_predictors[i]
        x = F.relu(F.conv_transpose2d(x, predictor.conv5_mask.weight, predictor.conv5_mask.bias, stride=2))
        logits = F.conv2d(x, predictor.mask_fcn_logits.weight[1:], predictor.mask_fcn_logits.bias[1:])
        aug_masks.append(logits.sigmoid())
    merged = sum(aug_masks) / len(aug_masks)
    return merged[torch.arange(len(labels)), labels - 1]


def test_the_cascade_masks_are_mmdetections():
    model = _small_cascade(masks=True)
    image = torch.rand((3, 150, 220), generator=torch.Generator().manual_seed(4))
    with torch.no_grad():
        images, _ = model.transform([image])
        features = model.backbone(images.tensors)
        proposals, _ = model.rpn(images, features)
        ours = model.roi_heads(features, proposals, images.image_sizes)[0][0]
        theirs = mmdet_merged_masks(model, features, ours["boxes"], ours["labels"], images.image_sizes[0])
    assert len(ours["labels"]) > 10 and ours["masks"].shape == (len(ours["labels"]), 1, 28, 28)
    torch.testing.assert_close(ours["masks"][:, 0], theirs, rtol=1e-5, atol=1e-6)


class _TracedHeads(torch.nn.Module):
    """The cascade's inference on given features and proposals, as an exported graph runs it."""

    def __init__(self, model: HRNetCascadeRCNN, keys: list[str], image_size: tuple[int, int]) -> None:
        super().__init__()
        self.heads, self.keys, self.image_size = model.roi_heads, keys, image_size

    def forward(self, proposals: torch.Tensor, *levels: torch.Tensor) -> tuple[torch.Tensor, ...]:
        found = self.heads(dict(zip(self.keys, levels)), [proposals], [self.image_size])[0][0]
        return found["boxes"], found["labels"], found["masks"]


def test_the_traced_cascade_takes_its_counts_from_the_data():
    """Traced on one image's proposals, the heads run on another's with other counts of proposals and
    detections (a count taken with len() is fixed at the trace's: an exported trained model failed on
    photographs with another number of detections than its trace image)."""
    model = _small_cascade(masks=True)
    with torch.no_grad():
        images, _ = model.transform([torch.rand((3, 150, 220), generator=torch.Generator().manual_seed(4))])
        features = model.backbone(images.tensors)
        proposals, _ = model.rpn(images, features)
        heads = _TracedHeads(model, list(features), images.image_sizes[0])
        levels = tuple(features.values())
        traced = torch.jit.trace(heads, (proposals[0][:12], *levels), check_trace=False)
        for n in (5, 40):
            ours, theirs = traced(proposals[0][:n], *levels), heads(proposals[0][:n], *levels)
            assert len(theirs[0]) != len(heads(proposals[0][:12], *levels)[0])  # other counts than the trace's
            for a, b in zip(ours, theirs):
                torch.testing.assert_close(a, b)


def _mmdet_state(model: HRNetCascadeRCNN) -> dict[str, torch.Tensor]:
    """``model``'s weights as mmdetection names and orders them (the inverse of the conversion, written out)."""
    out = {}
    for key, value in model.state_dict().items():
        for ours, theirs in (("backbone.body.backbone.", "backbone."),
                             ("backbone.body.neck.reduction.", "neck.reduction_conv.conv."),
                             ("rpn.head.conv.0.0.", "rpn_head.rpn_conv."),
                             ("rpn.head.cls_logits.", "rpn_head.rpn_cls."),
                             ("rpn.head.bbox_pred.", "rpn_head.rpn_reg.")):
            if key.startswith(ours):
                out[theirs + key[len(ours):]] = value
        if key.startswith("backbone.body.neck.level_convs."):
            i, rest = key[len("backbone.body.neck.level_convs."):].split(".", 1)
            out[f"neck.fpn_convs.{i}.conv.{rest}"] = value
        if key.startswith("roi_heads.mask_"):  # mask_heads.i.conv.0.param, mask_predictors.i.layer.param
            _, part, i, layer, *_, param = key.split(".")
            name = ({"conv5_mask": "upsample", "mask_fcn_logits": "conv_logits"}[layer] if part == "mask_predictors"
                    else f"convs.{layer}.conv")
            out[f"roi_head.mask_head.{i}.{name}.{param}"] = value[1:] if name == "conv_logits" else value
        if key.startswith("roi_heads.box_"):
            _, part, i, layer, rest = key.split(".")
            name = {"fc6": "shared_fcs.0", "fc7": "shared_fcs.1", "cls_score": "fc_cls", "bbox_pred": "fc_reg"}[layer]
            out[f"roi_head.bbox_head.{i}.{name}.{rest}"] = (torch.cat([value[1:], value[:1]]) if layer == "cls_score"
                                                            else value)
    return out


@pytest.mark.parametrize("masks", [False, True])
def test_mmdetections_keys_load_whole(tmp_path, masks):
    """The file's keys (written out from a model: mmdetection's names, each stage's background row last, 80
    mask rows) load whole and give back the model's weights; the person-detector loader names the model."""
    model = _small_cascade(masks)
    state = _mmdet_state(model)
    assert detect_layout(state) == "mmdet_cascade_rcnn" and len(state) == len(model.state_dict())
    path = tmp_path / "cascade_rcnn_hrnetv2p_w18_small.pth"
    torch.save({"state_dict": state, "meta": {}}, path)
    name = f"det_{'cascademaskrcnn' if masks else 'cascadercnn'}_hrnetv2p_w18_small_v1"
    loaded = hrseg.build_model(name, weights=str(path))
    for key, value in model.state_dict().items():
        assert torch.equal(loaded.state_dict()[key], value), key
    assert type(loaded.roi_heads.box_roi_pool).__name__ == "AlignedRoIAlign"  # mmdetection's conventions came along
    assert type(loaded.roi_heads.mask_roi_pool).__name__ == ("AlignedRoIAlign" if masks else "NoneType")
    detector, _ = load_published_detector(path)
    assert isinstance(detector, HRNetCascadeRCNN) and detector.roi_heads.has_mask() == masks
    if masks:
        broken = {k: v for k, v in state.items() if k != "roi_head.mask_head.2.upsample.bias"}
        with pytest.raises(CheckpointError, match=r"masks\.pth: stage 2: not an mmdetection Mask R-CNN mask head"):
            convert(broken, path=tmp_path / "masks.pth")


def test_the_records():
    record = get_weights("coco", "det_cascadercnn_hrnetv2p_w32")
    assert record.name == "det_cascadercnn_hrnetv2p_w32.mmdet_coco_20e" and record.metric == "box AP 43.3"
    assert record.layout == "mmdet_cascade_rcnn" and record.sha256 == "928455a4"
    masked = get_weights("coco", "det_cascademaskrcnn_hrnetv2p_w40")
    assert masked.metric == "box AP 45.1 / mask AP 39.3" and masked.sha256 == "969c4610"
    assert is_mask_model(masked.model) and not is_mask_model(record.model)  # the data loads masks for it


def crop_and_resize_loss(logits, rois, gt_masks, gt_labels, gt_index):
    """mmdetection 2.x's mask loss: mask_target (BitmapMasks.crop_and_resize: mmcv's RoIAlign, aligned=True,
    adaptive sampling, binarised at 0.5) and mask_cross_entropy on the label's channel, averaged."""
    from torchvision.ops import roi_align
    targets, labels = [], []
    for r, masks, lab, idx in zip(rois, gt_masks, gt_labels, gt_index):
        boxes = torch.cat([idx[:, None].float(), r], 1)
        targets.append(roi_align(masks[:, None].float(), boxes, (28, 28), 1.0, 0, True)[:, 0] >= 0.5)
        labels.append(lab[idx])
    labels = torch.cat(labels)
    return F.binary_cross_entropy_with_logits(logits[torch.arange(len(labels)), labels], torch.cat(targets).float())


def mmdet_forward_train(heads, features, proposals, image_shapes, targets, beta, mmdet_targets=False):
    """CascadeRoIHead.forward_train, transcribed for a sampler that keeps every RoI: per stage MaxIoUAssigner
    (pos = neg = min_pos IoU 0.5 / 0.6 / 0.7, no low-quality matches) on the proposals, the ground truth added
    in front (AssignResult.add_gt_), positives then negatives (SamplingResult), BBoxHead.loss (cross-entropy;
    smooth L1 of the positives' class-agnostic deltas / the sampled RoIs) and the mask loss on the positives,
    times stage_loss_weights; refine_bboxes: delta2bbox of the detached deltas clipped, the ground truth
    dropped. Row order hrseg's (the background first)."""
    from torchvision.models.detection.roi_heads import maskrcnn_loss
    from torchvision.ops import box_iou
    losses = {}
    for i, (iou_thr, weight) in enumerate(zip((0.5, 0.6, 0.7), (1.0, 0.5, 0.25))):
        rois, labels, deltas_t, is_gt, pos_rois, pos_gt = [], [], [], [], [], []
        for props, t in zip(proposals, targets):
            gt = t["boxes"]
            overlaps = box_iou(gt, props)
            max_overlaps, argmax = overlaps.max(dim=0)
            assigned = torch.where(max_overlaps >= iou_thr, argmax + 1, 0)
            bboxes = torch.cat([gt, props])
            assigned = torch.cat([torch.arange(1, len(gt) + 1), assigned])
            pos, neg = torch.where(assigned > 0)[0], torch.where(assigned == 0)[0]
            order = torch.cat([pos, neg])
            rois.append(bboxes[order])
            labels.append(torch.cat([t["labels"][assigned[pos] - 1], torch.zeros(len(neg), dtype=torch.long)]))
            matched = gt[assigned[pos] - 1]
            p, std = bboxes[pos], torch.tensor(STDS[i])
            pw, ph = p[:, 2] - p[:, 0], p[:, 3] - p[:, 1]
            gw, gh = matched[:, 2] - matched[:, 0], matched[:, 3] - matched[:, 1]
            d = torch.stack([((matched[:, 0] + matched[:, 2]) - (p[:, 0] + p[:, 2])) * 0.5 / pw,
                             ((matched[:, 1] + matched[:, 3]) - (p[:, 1] + p[:, 3])) * 0.5 / ph,
                             torch.log(gw / pw), torch.log(gh / ph)], -1) / std  # bbox2delta
            deltas_t.append(d)
            is_gt.append(torch.cat([pos < len(gt), torch.zeros(len(neg), dtype=torch.bool)]))
            pos_rois.append(bboxes[pos])
            pos_gt.append(assigned[pos] - 1)
        x = heads.box_heads[i](heads.box_roi_pool(features, rois, image_shapes))
        cls_score, bbox_pred = heads.box_predictors[i](x)
        all_labels = torch.cat(labels)
        positive = all_labels > 0
        losses[f"loss_classifier_{i}"] = weight * F.cross_entropy(cls_score, all_labels)
        losses[f"loss_box_reg_{i}"] = weight * F.smooth_l1_loss(bbox_pred[positive], torch.cat(deltas_t), beta=beta,
                                                                reduction="sum") / len(all_labels)
        if heads.has_mask():
            pooled = heads.mask_roi_pool(features, pos_rois, image_shapes)
            logits = heads.mask_predictors[i](heads.mask_heads[i](pooled))
            loss = crop_and_resize_loss if mmdet_targets else maskrcnn_loss
            losses[f"loss_mask_{i}"] = weight * loss(logits, pos_rois, [t["masks"] for t in targets],
                                                     [t["labels"] for t in targets], pos_gt)
        counts = [len(r) for r in rois]
        refined = [delta2bbox(r, d, STDS[i], shape) for r, d, shape in
                   zip(rois, bbox_pred.detach().split(counts), image_shapes)]
        proposals = [b[~g] for b, g in zip(refined, is_gt)]
    return losses


@pytest.mark.parametrize("masks, conventions", [(False, False), (True, False), (True, True)])
def test_the_cascade_trains_as_mmdetection(masks, conventions):
    """Every stage's losses against the transcription of mmdetection 2.x's forward_train on the same RPN
    proposals (the sampler keeps every RoI, so that the draws do not matter), at beta 1.0 (mmdetection's);
    the mask targets torchvision's, or with ``mmdet_conventions`` mmdetection's (crop_and_resize)."""
    torch.manual_seed(0)
    kind = "det_cascademaskrcnn" if masks else "det_cascadercnn"
    model = hrseg.build_model(f"{kind}_hrnetv2p_w18_small_v1", num_classes=4, min_size=128, max_size=160,
                              out_channels=32, representation_size=64, rpn_post_nms_top_n_train=60,
                              box_batch_size_per_image=100000, box_positive_fraction=1.0, box_loss_beta=1.0,
                              mmdet_conventions=conventions).train()
    assert model.roi_heads.box_loss_beta == 1.0
    captured = {}
    model.roi_heads.register_forward_pre_hook(lambda m, args: captured.update(args=args))
    shapes = [(128, 150), (128, 128)]
    targets = []
    for n, (h, w) in enumerate(shapes):
        boxes = torch.tensor([[10.0, 12.0, 70.0, 90.0], [60.0, 40.0, 120.0, 110.0], [5.0, 70.0, 40.0, 120.0]])[:3 - n]
        masks_ = torch.zeros(len(boxes), h, w, dtype=torch.uint8)
        for k, b in enumerate(boxes.int()):
            masks_[k, b[1]:b[3], b[0]:b[2]] = 1
        targets.append({"boxes": boxes, "labels": torch.tensor([1, 3, 2])[:len(boxes)], "masks": masks_})
    losses = model([torch.rand(3, h, w) for h, w in shapes], targets)
    features, proposals, image_shapes, scaled_targets = captured["args"]
    expected = mmdet_forward_train(model.roi_heads, features, proposals, image_shapes, scaled_targets, 1.0,
                                   conventions)
    assert set(expected) <= set(losses) and len(expected) == (9 if masks else 6)
    for key, value in expected.items():
        assert torch.allclose(losses[key], value, rtol=1e-4, atol=1e-6), (key, losses[key], value)
    assert expected["loss_box_reg_1"] > 0 and expected["loss_box_reg_2"] > 0  # positives at every stage
    sum(losses.values()).backward()
    assert all(p.bbox_pred.weight.grad.abs().sum() > 0 for p in model.roi_heads.box_predictors)


@pytest.mark.parametrize("masks", [False, True])
def test_the_recipes_conventions_are_the_published_files(masks):
    """``model.mmdet_conventions`` (the Cascade recipe's) builds the model a published file's loading gives:
    unrounded anchors, aligned RoIAlign with adaptive sampling for boxes and masks, the same detections."""
    from hrseg.models.mmdet_conventions import AlignedRoIAlign, UnroundedAnchorGenerator, use_mmdet_conventions
    kind = "det_cascademaskrcnn" if masks else "det_cascadercnn"
    torch.manual_seed(0)
    ours = hrseg.build_model(f"{kind}_hrnetv2p_w18_small_v1", min_size=128, max_size=160, mmdet_conventions=True)
    torch.manual_seed(0)
    loaded = hrseg.build_model(f"{kind}_hrnetv2p_w18_small_v1", min_size=128, max_size=160)
    assert not isinstance(loaded.roi_heads.box_roi_pool, AlignedRoIAlign)
    use_mmdet_conventions(loaded)  # what hrseg.weights.mmdet.apply_conventions does to a published file's model
    assert isinstance(ours.rpn.anchor_generator, UnroundedAnchorGenerator)
    pools = [ours.roi_heads.box_roi_pool] + ([ours.roi_heads.mask_roi_pool] if masks else [])
    assert all(isinstance(p, AlignedRoIAlign) and p.sampling_ratio == 0 for p in pools)
    image = [torch.rand(3, 128, 150)]
    with torch.no_grad():
        for model in (ours, loaded):  # classifiers that find something (as _small_cascade's)
            for predictor in model.roi_heads.box_predictors:
                predictor.cls_score.bias[1:6] = 4.0
        a, b = ours.eval()(image)[0], loaded.eval()(image)[0]
    assert len(a["boxes"]) > 0 and a.keys() == b.keys() and all(torch.equal(a[k], b[k]) for k in a)


def train_mini(tmp_path, model: str) -> tuple[list[str], dict]:
    """One epoch of a small detector (``model``: the fields of its ``dict(...)``) on the synthetic split through
    the training tool: the log's columns and the metrics."""
    import json
    import sys
    from pathlib import Path

    repo = Path(__file__).resolve().parents[1]
    sys.path.insert(0, str(repo / "tools"))
    import train_det
    config = tmp_path / "mini.py"
    config.write_text(f"_base_ = [{str(repo / 'configs' / 'det' / 'mini_maskrcnn.py')!r}]\n"
                      f"model = dict(_delete_=True, min_size=96, max_size=96, out_channels=32, representation_size=64, "
                      f"box_batch_size_per_image=64, {model})\n")
    options = ["data.root=" + str(tmp_path / "data"), "data.synthetic.num_train=8", "data.synthetic.num_val=2",
               "data.synthetic.image_size=[96,96]", "data.num_workers=0", "data.batch_size=4", "train.max_epochs=1"]
    assert train_det.main([str(config), "--cfg-options", *options, "--work-dir", str(tmp_path / "run")]) == 0
    columns = (tmp_path / "run" / "log.csv").read_text().splitlines()[0].split(",")
    return columns, json.loads((tmp_path / "run" / "metrics.json").read_text())["metrics"]


def test_the_detection_task_trains_it(tmp_path, shared_data):
    """One epoch of a small Cascade Mask R-CNN on the synthetic split through the training tool (box and mask
    AP scored), where a training run was refused before."""
    columns, metrics = train_mini(tmp_path, "name='det_cascademaskrcnn_hrnetv2p_w18_small_v1'")
    assert "loss_box_reg_2" in columns and "loss_mask_2" in columns and "mask_AP" in metrics


def test_a_published_cascade_mask_name_through_hrseg_test(publish_as, shared_data, tmp_path, capsys):
    """``hrseg test det --weights <Cascade Mask R-CNN name>`` (a small model served under it) on the COCO
    sample: box and mask AP, as a Mask R-CNN's."""
    import json
    import sys
    from pathlib import Path

    sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "tools"))
    import test_det

    record = publish_as(_small_cascade(masks=True), "det_cascademaskrcnn_hrnetv2p_w18.mmdet_coco_20e",
                        "det_cascademaskrcnn_hrnetv2p_w18_small_v1")
    coco = shared_data / "coco_mini"
    args = ["--weights", record.name, "--ann-file", str(coco / "instances.json"), "--img-dir", str(coco / "images"),
            "--out-dir", str(tmp_path / "test"), "--cfg-options", "model.min_size=128", "model.max_size=160",
            "model.rpn_pre_nms_top_n_test=100", "model.rpn_post_nms_top_n_test=50", "model.box_detections_per_img=3",
            "test.backend=torch"]  # 50 proposals, 3 masks an image: a quick evaluation
    assert test_det.main(args) == 0
    metrics = json.loads((tmp_path / "test" / "metrics_test.json").read_text())
    assert 0.0 <= metrics["AP"] <= 1.0 and 0.0 <= metrics["mask_AP"] <= 1.0
    assert "mask" in capsys.readouterr().out.lower()
