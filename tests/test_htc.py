"""mmdetection's Hybrid Task Cascade HRNetV2p files: the test equal to a transcription of mmdetection 2.x's
(``FusedSemanticHead.forward``, ``HybridTaskCascadeRoIHead.simple_test``: the semantic embedding pooled into
the box and mask features, the mask information flow, ``merge_aug_masks``) on the same proposals, the file's keys
loading whole, the records, and the training equal to a transcription of its ``forward_train`` (interleaved
box and mask branches, the mask flow, the semantic loss on COCO-Stuff labels after ``Resize``, ``Pad`` and
``SegRescale``)."""
from __future__ import annotations

from pathlib import Path

import cv2
import numpy as np
import pytest
import torch
import torch.nn.functional as F
from torchvision.ops import box_iou, roi_align

import hrseg
from hrseg.models.cascade_rcnn import HRNetCascadeRCNN
from hrseg.models.fused_semantic import semantic_labels
from hrseg.models.mask_rcnn import is_mask_model
from hrseg.weights import get_weights
from hrseg.weights.detector import load_published_detector
from hrseg.weights.layouts import convert, detect_layout
from test_cascade_rcnn import STDS, _mmdet_state, crop_and_resize_loss, delta2bbox, mmdet_simple_test, train_mini


def _small_htc(**options) -> HRNetCascadeRCNN:
    """A small HTC under mmdetection's conventions whose random classifiers favour a few classes, its BatchNorm
    statistics those of random images (a new model's running statistics leave features near 0 in eval mode)."""
    torch.manual_seed(0)
    model = hrseg.build_model("det_htc_hrnetv2p_w18_small_v1", min_size=160, max_size=224, mmdet_conventions=True,
                              box_score_thresh=0.05, **options)
    for norm in model.modules():
        if isinstance(norm, torch.nn.modules.batchnorm._BatchNorm):
            norm.reset_running_stats()
            norm.momentum = None  # the running statistics: the mean over the passes, one here
    with torch.no_grad():
        model.backbone.train()(torch.rand(2, 3, 160, 224))
        for predictor in model.roi_heads.box_predictors:
            predictor.cls_score.bias[1:6] = 4.0
            predictor.cls_score.weight.normal_(0, 0.01)  # scores that depend on the features
            predictor.bbox_pred.weight.normal_(0, 0.02)
        for predictor in model.roi_heads.mask_predictors:  # the background's mask row: zero, as a converted file's
            predictor.mask_fcn_logits.weight[0] = 0.0
            predictor.mask_fcn_logits.bias[0] = 0.0
    return model.eval()


def fused_semantic_head(head, feats):
    """FusedSemanticHead.forward: ConvModules (conv + ReLU) written out with the model's weights."""
    def conv_module(conv, x, padding=0):
        return F.relu(F.conv2d(x, conv.weight, conv.bias, padding=padding))
    x = conv_module(head.lateral_convs[1], feats[1])
    for i, feat in enumerate(feats):
        if i != 1:
            feat = F.interpolate(feat, size=tuple(x.shape[-2:]), mode="bilinear", align_corners=True)
            x = x + conv_module(head.lateral_convs[i], feat)
    for conv in head.convs:
        x = conv_module(conv, x, 1)
    return F.conv2d(x, head.conv_logits.weight, head.conv_logits.bias), conv_module(head.conv_embedding, x)


def semantic_roi(semantic_feat, rois):
    """semantic_roi_extractor: mmcv RoIAlign (14, sampling_ratio 0, aligned) of the one stride-8 level."""
    return roi_align(semantic_feat, [rois], (14, 14), 1 / 8, 0, True)


def htc_mask_heads(heads, mask_feats, stages):
    """HTCMaskHead.forward of ``stages`` with the information flow: conv_res (1x1 + ReLU) of the previous
    head's features added, four 3x3 conv + ReLU (the features passed on), deconv + ReLU, conv_logits (80 rows)."""
    last_feat, out = None, []
    for i in stages:
        x = mask_feats
        if last_feat is not None:
            res = heads.mask_res[i - 1][0]
            x = x + F.relu(F.conv2d(last_feat, res.weight, res.bias))
        for block in heads.mask_heads[i]:
            x = F.relu(F.conv2d(x, block[0].weight, block[0].bias, padding=1))
        last_feat = x
        predictor = heads.mask_predictors[i]
        x = F.relu(F.conv_transpose2d(x, predictor.conv5_mask.weight, predictor.conv5_mask.bias, stride=2))
        out.append(F.conv2d(x, predictor.mask_fcn_logits.weight[1:], predictor.mask_fcn_logits.bias[1:]))
    return out


class _SemanticFused:
    """A model view whose box RoI pool adds the semantic RoI features, as HTC's ``_bbox_forward`` (the rest of
    the cascade's simple_test is the Cascade R-CNN transcription's)."""

    def __init__(self, model, semantic_feat):
        heads = model.roi_heads

        def box_roi_pool(features, boxes, shapes):
            pooled = heads.box_roi_pool(features, boxes, shapes)
            return pooled + F.adaptive_avg_pool2d(semantic_roi(semantic_feat, boxes[0]), pooled.shape[-2:])
        self.roi_heads = type("Heads", (), {"box_roi_pool": staticmethod(box_roi_pool), "box_heads": heads.box_heads,
                                            "box_predictors": heads.box_predictors})()


@pytest.mark.parametrize("shape", [(3, 150, 220), (3, 201, 133)])
def test_htc_is_mmdetections(shape):
    model = _small_htc()
    heads = model.roi_heads
    image = torch.rand(shape, generator=torch.Generator().manual_seed(3))
    with torch.no_grad():
        images, _ = model.transform([image])
        features = model.backbone(images.tensors)
        proposals, _ = model.rpn(images, features)
        ours = heads(features, proposals, images.image_sizes)[0][0]
        _, semantic_feat = fused_semantic_head(heads.semantic_head, list(features.values()))
        boxes, scores, labels = mmdet_simple_test(_SemanticFused(model, semantic_feat), features, proposals[0],
                                                  images.image_sizes[0])
        mask_feats = heads.mask_roi_pool(features, [boxes], images.image_sizes) + semantic_roi(semantic_feat, boxes)
        merged = sum(m.sigmoid() for m in htc_mask_heads(heads, mask_feats, range(3))) / 3  # merge_aug_masks
    assert 10 < len(scores) <= 100, len(scores)
    torch.testing.assert_close(ours["scores"], scores, rtol=1e-4, atol=1e-6)
    torch.testing.assert_close(ours["boxes"], boxes, rtol=1e-4, atol=1e-3)
    assert torch.equal(ours["labels"], labels + 1)  # hrseg's labels: mmdetection's + 1
    torch.testing.assert_close(ours["masks"][:, 0], merged[torch.arange(len(labels)), labels], rtol=1e-4, atol=1e-4)
    assert ours["scores"].std() > 0.01
    with torch.no_grad():  # the semantic features move the scores, the mask flow the masks
        heads.semantic_head, semantic_head = None, heads.semantic_head
        unfused = heads(features, proposals, images.image_sizes)[0][0]
        heads.semantic_head, heads.mask_res = semantic_head, torch.nn.ModuleList()
        unflowed = heads(features, proposals, images.image_sizes)[0][0]
    assert len(unfused["scores"]) != len(scores) or not torch.allclose(unfused["scores"], ours["scores"])
    assert torch.equal(unflowed["scores"], ours["scores"]) and not torch.allclose(unflowed["masks"], ours["masks"])


def _htc_mmdet_state(model: HRNetCascadeRCNN) -> dict[str, torch.Tensor]:
    """The Cascade Mask R-CNN names (test_cascade_rcnn's inverse conversion) plus HTC's: the semantic head's
    ConvModules (``.conv.``) and each later mask head's ``conv_res``."""
    cascade = {k: v for k, v in model.state_dict().items() if not k.startswith("roi_heads.mask_res.")}
    out = _mmdet_state(type("Cascade", (), {"state_dict": lambda self: cascade})())
    for key, value in model.state_dict().items():
        if key.startswith("roi_heads.semantic_head."):
            part, *rest = key[len("roi_heads.semantic_head."):].split(".")
            index = [rest.pop(0)] if part in ("lateral_convs", "convs") else []
            conv = [] if part == "conv_logits" else ["conv"]
            out[".".join(["roi_head.semantic_head", part, *index, *conv, *rest])] = value
        if key.startswith("roi_heads.mask_res."):
            j, _, param = key[len("roi_heads.mask_res."):].split(".")
            out[f"roi_head.mask_head.{int(j) + 1}.conv_res.conv.{param}"] = value
    return out


def test_mmdetections_keys_load_whole(tmp_path):
    """The file's keys (written out from a model: mmdetection's names, 80 mask rows, the semantic head and
    conv_res) load whole and give back the model's weights; the detector loader names det_htc."""
    model = _small_htc()
    state = _htc_mmdet_state(model)
    assert "roi_head.semantic_head.lateral_convs.4.conv.weight" in state
    assert "roi_head.mask_head.2.conv_res.conv.bias" in state and "roi_head.mask_head.0.conv_res.conv.bias" not in state
    assert detect_layout(state) == "mmdet_cascade_rcnn" and len(state) == len(model.state_dict())
    path = tmp_path / "htc_hrnetv2p_w18_small.pth"
    torch.save({"state_dict": state, "meta": {}}, path)
    loaded = hrseg.build_model("det_htc_hrnetv2p_w18_small_v1", weights=str(path))
    for key, value in model.state_dict().items():
        assert torch.equal(loaded.state_dict()[key], value), key
    assert type(loaded.roi_heads.box_roi_pool).__name__ == "AlignedRoIAlign"  # mmdetection's conventions came along
    assert loaded.roi_heads.score_thresh == 0.001  # HTC's test threshold
    detector, _ = load_published_detector(path)
    assert isinstance(detector, HRNetCascadeRCNN) and detector.roi_heads.semantic_head is not None
    assert any("HTC" in note for note in convert(state, path=path).notes)


def test_the_records():
    record = get_weights("coco", "det_htc_hrnetv2p_w40")
    assert record.name == "det_htc_hrnetv2p_w40.mmdet_coco_20e" and record.metric == "box AP 46.4 / mask AP 40.8"
    assert record.layout == "mmdet_cascade_rcnn" and record.sha256 == "417c4d5b" and is_mask_model(record.model)
    assert get_weights("coco", "det_htc_hrnetv2p_w18").sha256 == "b266988c"


def mmdet_semantic_labels(maps, image_shapes, size):
    """The labels' pipeline, with OpenCV as mmcv: Resize (imrescale nearest, to the image's network size), Pad
    (size_divisor 32, 255), SegRescale(1/8) (nearest), then the batch padded with 255 to the features' size."""
    out = np.full((len(maps), *size), 255, np.int64)
    for k, (seg, (h, w)) in enumerate(zip(maps, image_shapes)):
        resized = cv2.resize(seg.numpy(), (w, h), interpolation=cv2.INTER_NEAREST)
        ph, pw = -(-h // 32) * 32, -(-w // 32) * 32
        padded = np.full((ph, pw), 255, np.uint8)
        padded[:h, :w] = resized
        small = cv2.resize(padded, (int(pw / 8 + 0.5), int(ph / 8 + 0.5)), interpolation=cv2.INTER_NEAREST)
        out[k, :small.shape[0], :small.shape[1]] = small
    return torch.from_numpy(out)


@pytest.mark.parametrize("size, shape", [((480, 640), (800, 1067)), ((375, 500), (800, 1067)),
                                         ((427, 640), (533, 800))])
def test_the_semantic_labels_are_mmdetections(size, shape):
    """COCO-Stuff-like maps (regions and 255s) at a photograph's size, resized to the network's image size."""
    rng = np.random.default_rng(0)
    seg = cv2.resize(rng.integers(0, 183, (size[0] // 16, size[1] // 16)).astype(np.uint8), size[::-1],
                     interpolation=cv2.INTER_NEAREST)
    seg[rng.random(size) < 0.05] = 255
    feature_size = (-(-shape[0] // 64) * 8, -(-shape[1] // 64) * 8)  # hrseg pads to 64
    ours = semantic_labels([torch.from_numpy(seg)], [shape], feature_size, 8)
    assert torch.equal(ours, mmdet_semantic_labels([torch.from_numpy(seg)], [shape], feature_size))


def _assign(props, target, iou_thr):
    """MaxIoUAssigner (pos = neg = min_pos IoU, no low-quality matches) with the ground truth added in front;
    a sampler that keeps every RoI: (rois, labels, positive rois, their ground-truth index, is-gt, deltas)."""
    gt = target["boxes"]
    max_overlaps, argmax = box_iou(gt, props).max(dim=0)
    bboxes = torch.cat([gt, props])
    assigned = torch.cat([torch.arange(1, len(gt) + 1), torch.where(max_overlaps >= iou_thr, argmax + 1, 0)])
    pos, neg = torch.where(assigned > 0)[0], torch.where(assigned == 0)[0]
    rois = bboxes[torch.cat([pos, neg])]
    labels = torch.cat([target["labels"][assigned[pos] - 1], torch.zeros(len(neg), dtype=torch.long)])
    is_gt = torch.cat([pos < len(gt), torch.zeros(len(neg), dtype=torch.bool)])
    return rois, labels, bboxes[pos], assigned[pos] - 1, is_gt


def _bbox2delta(p, matched, std):
    pw, ph = p[:, 2] - p[:, 0], p[:, 3] - p[:, 1]
    gw, gh = matched[:, 2] - matched[:, 0], matched[:, 3] - matched[:, 1]
    return torch.stack([((matched[:, 0] + matched[:, 2]) - (p[:, 0] + p[:, 2])) * 0.5 / pw,
                        ((matched[:, 1] + matched[:, 3]) - (p[:, 1] + p[:, 3])) * 0.5 / ph,
                        torch.log(gw / pw), torch.log(gh / ph)], -1) / torch.tensor(std)


def mmdet_htc_forward_train(heads, features, proposals, image_shapes, targets):
    """HybridTaskCascadeRoIHead.forward_train (mmdetection 2.x) for a sampler keeping every RoI: the semantic
    loss (mean over labelled pixels x 0.2), then per stage the box losses on the semantic-fused RoI features;
    interleaved: the boxes refined (detached, clipped, ground truth dropped), assigned and sampled again, the
    mask loss on their positives through the information flow; the next stage starts from the refinement."""
    losses = {}
    levels = list(features.values())
    logits, semantic_feat = fused_semantic_head(heads.semantic_head, levels)
    labels_map = mmdet_semantic_labels([t["semantic"] for t in targets], image_shapes, tuple(logits.shape[-2:]))
    losses["loss_semantic_seg"] = 0.2 * F.cross_entropy(logits, labels_map, ignore_index=255)

    def semantic(rois, size):
        pooled = roi_align(semantic_feat, rois, (14, 14), 1 / 8, 0, True)
        return F.adaptive_avg_pool2d(pooled, (size, size))
    for i, (iou_thr, weight) in enumerate(zip((0.5, 0.6, 0.7), (1.0, 0.5, 0.25))):
        sampled = [_assign(p, t, iou_thr) for p, t in zip(proposals, targets)]
        rois = [s[0] for s in sampled]
        x = heads.box_roi_pool(features, rois, image_shapes) + semantic(rois, 7)
        cls_score, bbox_pred = heads.box_predictors[i](heads.box_heads[i](x))
        all_labels = torch.cat([s[1] for s in sampled])
        deltas = torch.cat([_bbox2delta(s[2], t["boxes"][s[3]], STDS[i]) for s, t in zip(sampled, targets)])
        losses[f"loss_classifier_{i}"] = weight * F.cross_entropy(cls_score, all_labels)
        losses[f"loss_box_reg_{i}"] = weight * F.smooth_l1_loss(bbox_pred[all_labels > 0], deltas, beta=1.0,
                                                                reduction="sum") / len(all_labels)
        refined = [delta2bbox(r, d, STDS[i], shape) for r, d, shape in
                   zip(rois, bbox_pred.detach().split([len(r) for r in rois]), image_shapes)]
        proposals = [b[~s[4]] for b, s in zip(refined, sampled)]
        again = [_assign(p, t, iou_thr) for p, t in zip(proposals, targets)]
        pos_rois, pos_gt = [s[2] for s in again], [s[3] for s in again]
        mask_feats = heads.mask_roi_pool(features, pos_rois, image_shapes) + semantic(pos_rois, 14)
        mask_logits = htc_mask_heads(heads, mask_feats, range(i + 1))[-1]
        mask_logits = torch.cat([torch.zeros_like(mask_logits[:, :1]), mask_logits], 1)  # hrseg's labels 1..K
        losses[f"loss_mask_{i}"] = weight * crop_and_resize_loss(mask_logits, pos_rois, [t["masks"] for t in targets],
                                                                 [t["labels"] for t in targets], pos_gt)
    return losses


def test_htc_trains_as_mmdetection():
    """Every loss against the transcription on the same RPN proposals (the sampler keeps every RoI, so that the
    draws do not matter), under mmdetection's conventions (its mask targets, beta 1.0)."""
    torch.manual_seed(0)
    model = hrseg.build_model("det_htc_hrnetv2p_w18_small_v1", num_classes=4, min_size=128, max_size=160,
                              out_channels=32, representation_size=64, semantic_classes=7, rpn_post_nms_top_n_train=60,
                              box_batch_size_per_image=100000, box_positive_fraction=1.0, box_loss_beta=1.0,
                              mmdet_conventions=True).train()
    captured = {}
    model.roi_heads.register_forward_pre_hook(lambda m, args: captured.update(args=args))
    shapes = [(128, 150), (100, 100)]
    targets = []
    rng = np.random.default_rng(1)
    for n, (h, w) in enumerate(shapes):
        boxes = torch.tensor([[10.0, 12.0, 70.0, 90.0], [60.0, 40.0, 120.0, 99.0], [5.0, 70.0, 40.0, 99.0]])[:3 - n]
        masks_ = torch.zeros(len(boxes), h, w, dtype=torch.uint8)
        for k, b in enumerate(boxes.int()):
            masks_[k, b[1]:b[3], b[0]:b[2]] = 1
        seg = rng.integers(0, 7, (h, w)).astype(np.uint8)
        seg[rng.random((h, w)) < 0.1] = 255
        targets.append({"boxes": boxes, "labels": torch.tensor([1, 3, 2])[:len(boxes)], "masks": masks_,
                        "semantic": torch.from_numpy(seg)})
    losses = model([torch.rand(3, h, w) for h, w in shapes], targets)
    features, proposals, image_shapes, scaled_targets = captured["args"]
    assert image_shapes[1] != shapes[1]  # the second image was resized: its labels too
    expected = mmdet_htc_forward_train(model.roi_heads, features, proposals, image_shapes, scaled_targets)
    assert set(expected) <= set(losses) and len(expected) == 10
    for key, value in expected.items():
        assert torch.allclose(losses[key], value, rtol=1e-4, atol=1e-6), (key, losses[key], value)
    assert expected["loss_box_reg_2"] > 0 and expected["loss_semantic_seg"] > 0
    sum(losses.values()).backward()
    heads = model.roi_heads
    assert all(m[0].weight.grad.abs().sum() > 0 for m in heads.mask_res)  # the flow trains
    assert heads.semantic_head.conv_logits.weight.grad.abs().sum() > 0


def test_htc_without_semantic_maps_trains_its_other_branches():
    """Targets without ``semantic`` (a detection dataset without COCO-Stuff maps): the semantic loss is 0 and the
    embedding still trains through the box and mask features; ``semantic_classes=0`` builds HTC without it."""
    torch.manual_seed(0)
    model = hrseg.build_model("det_htc_hrnetv2p_w18_small_v1", num_classes=3, min_size=96, max_size=96,
                              out_channels=32, representation_size=64, semantic_classes=5).train()
    target = {"boxes": torch.tensor([[10.0, 12.0, 70.0, 90.0]]), "labels": torch.tensor([1]),
              "masks": torch.ones(1, 96, 96, dtype=torch.uint8)}
    losses = model([torch.rand(3, 96, 96)], [target])
    assert float(losses["loss_semantic_seg"].detach()) == 0.0
    sum(losses.values()).backward()
    heads = model.roi_heads
    assert heads.semantic_head.conv_embedding.weight.grad.abs().sum() > 0
    logits_grad = heads.semantic_head.conv_logits.weight.grad
    assert logits_grad is None or logits_grad.abs().sum() == 0
    bare = hrseg.build_model("det_htc_hrnetv2p_w18_small_v1", semantic_classes=0)
    assert bare.roi_heads.semantic_head is None and len(bare.roi_heads.mask_res) == 2


def _stuff_maps(coco_mini, out_dir, instances, count=2):
    """Label maps for the first ``count`` images: the column's label (so that a flip shows), 255 in a corner."""
    out_dir.mkdir(exist_ok=True)
    maps = {}
    for image_id in instances.image_ids[:count]:
        record = instances.coco.imgs[image_id]
        labels = np.tile((np.arange(record["width"]) // 8 % 183).astype(np.uint8), (record["height"], 1))
        labels[:20, :20] = 255
        cv2.imwrite(str(out_dir / (Path(record["file_name"]).stem + ".png")), labels)
        maps[image_id] = labels
    return maps


def test_the_dataset_carries_the_maps_through_the_augmentation(coco_mini, tmp_path):
    """``semantic_dir``: each image's map in ``target['semantic']``, flipped with the image, the zoom-out's border
    255 (not 0); a missing map skips the image in training (its file named); a map of another size is refused."""
    from hrseg.data.det.coco_instances import CocoInstances
    from hrseg.data.det.dataset import CocoDetection
    from hrseg.data.det.transforms import DetAugment
    from hrseg.data.common import SkippedSample
    from hrseg.errors import DataError

    instances = CocoInstances(coco_mini / "instances.json")
    maps = _stuff_maps(coco_mini, tmp_path / "stuff", instances)
    ids = list(maps)
    flipped = CocoDetection(instances, coco_mini / "images", train=True, augment=DetAugment(flip_prob=1.0),
                            img_ids=ids, semantic_dir=tmp_path / "stuff", masks=True)
    image, target = flipped[0]
    assert target["semantic"].dtype == torch.uint8 and np.array_equal(target["semantic"].numpy(),
                                                                      maps[ids[0]][:, ::-1])
    assert target["masks"].shape[1:] == target["semantic"].shape == image.shape[1:]
    zoomed = CocoDetection(instances, coco_mini / "images", train=True, img_ids=ids, semantic_dir=tmp_path / "stuff",
                           augment=DetAugment(flip_prob=0.0, scale_range=(0.5, 0.6)))
    semantic = zoomed[1][1]["semantic"].numpy()
    assert semantic[0, semantic.shape[1] // 2] == 255 and semantic[-1, -1] == 255  # the new border
    centre = semantic[semantic.shape[0] // 2, semantic.shape[1] // 4: 3 * semantic.shape[1] // 4]
    assert (centre < 183).all() and len(np.unique(centre)) > 3  # the columns' labels, shrunk
    (tmp_path / "stuff" / (Path(instances.coco.imgs[ids[1]]["file_name"]).stem + ".png")).unlink()
    skipped = flipped[1]
    assert isinstance(skipped, SkippedSample) and ".png: label file not found" in skipped.reason
    cv2.imwrite(str(tmp_path / "stuff" / (Path(instances.coco.imgs[ids[1]]["file_name"]).stem + ".png")),
                np.zeros((10, 12), np.uint8))
    with pytest.raises(DataError, match=r"\.png: a 12x10 label map"):
        flipped.read_semantic(ids[1], (480, 640))


def test_the_detection_task_trains_htc(tmp_path):
    """One epoch of a small HTC on the synthetic split through the training tool (no COCO-Stuff maps there: its
    semantic loss 0), box and mask AP scored."""
    columns, metrics = train_mini(tmp_path, "name='det_htc_hrnetv2p_w18_small_v1', semantic_classes=8")
    assert {"loss_semantic_seg", "loss_mask_2"} <= set(columns) and "mask_AP" in metrics


def test_htc_trains_on_coco_photographs_with_their_stuff_maps(coco_mini, tmp_path):
    """``data.train.semantic_dir`` through the training tool: two COCO photographs with label maps, one epoch,
    a semantic loss logged above 0."""
    import sys

    from hrseg.data.det.coco_instances import CocoInstances

    repo = Path(__file__).resolve().parents[1]
    sys.path.insert(0, str(repo / "tools"))
    import train_det
    ids = list(_stuff_maps(coco_mini, tmp_path / "stuff", CocoInstances(coco_mini / "instances.json")))
    options = ["model.name=det_htc_hrnetv2p_w18_small_v1", "model.min_size=96", "model.max_size=128",
               "model.out_channels=32", "model.representation_size=64", "model.box_batch_size_per_image=32",
               f"data.root={coco_mini}", "data.synthetic=None", "data.num_workers=0", "data.batch_size=2",
               "train.max_epochs=1",
               *[f"data.{split}.{key}={value}" for split in ("train", "val") for key, value in
                 (("ann_file", "instances.json"), ("img_dir", "images"), ("img_ids", f"[{ids[0]},{ids[1]}]"))],
               f"data.train.semantic_dir={tmp_path / 'stuff'}"]
    assert train_det.main(["--cfg-options", *options, "--work-dir", str(tmp_path / "run")]) == 0
    rows = (tmp_path / "run" / "log.csv").read_text().splitlines()
    column = rows[0].split(",").index("loss_semantic_seg")
    assert float(rows[-1].split(",")[column]) > 0


def test_a_published_htc_name_through_hrseg_test(shared_data, tmp_path, monkeypatch, capsys):
    """``hrseg test det --weights <HTC name>``: a small HTC's weights in mmdetection's layout served as the
    published file (a ``file://`` URL carrying its hash), downloaded, converted and evaluated on the COCO sample:
    box and mask AP."""
    import hashlib
    import json
    import sys
    from dataclasses import replace

    from hrseg import weights

    sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "tools"))
    import test_det

    monkeypatch.setenv("HRSEG_HOME", str(tmp_path / "home"))
    payload = tmp_path / "payload.pth"
    torch.save({"state_dict": _htc_mmdet_state(_small_htc()), "meta": {}}, payload)
    served = tmp_path / f"htc-{hashlib.sha256(payload.read_bytes()).hexdigest()[:8]}.pth"
    payload.rename(served)
    base = weights.get_weights("det_htc_hrnetv2p_w18.mmdet_coco_20e")
    record = replace(base, name="det_htc_hrnetv2p_w18_small_v1.mmdet_coco_20e", url=served.as_uri())
    monkeypatch.setitem(weights._BY_NAME, record.name, record)
    coco = shared_data / "coco_mini"
    args = ["--weights", record.name, "--ann-file", str(coco / "instances.json"), "--img-dir", str(coco / "images"),
            "--out-dir", str(tmp_path / "test"), "--cfg-options", "model.min_size=128", "model.max_size=160",
            "model.rpn_pre_nms_top_n_test=100", "model.rpn_post_nms_top_n_test=50", "model.box_detections_per_img=3",
            "test.backend=torch"]
    assert test_det.main(args) == 0
    metrics = json.loads((tmp_path / "test" / "metrics_test.json").read_text())
    assert 0.0 <= metrics["AP"] <= 1.0 and 0.0 <= metrics["mask_AP"] <= 1.0
