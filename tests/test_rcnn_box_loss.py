"""The RoI box loss's smooth-L1 beta (hrseg.models.rcnn_heads): torchvision's at 1/9, the official HRNet
detection configs' (mmdetection 1.x BBoxHead) at 1.0, and everything else torchvision's RoIHeads; the mask
targets of HRNet-Object-Detection (mmdetection 1.x)."""
from __future__ import annotations

import cv2
import numpy as np
import pytest
import torch
from torchvision.models.detection.roi_heads import RoIHeads, fastrcnn_loss

import hrseg
from hrseg.errors import ConfigError
from hrseg.models.rcnn_heads import TORCHVISION_BOX_BETA, RCNNRoIHeads, box_loss, mask_targets
from hrseg.recipes import CONFIG_DIR, load_recipe


def _sampled(seed: int = 0, rois: int = 64, classes: int = 5):
    g = torch.Generator().manual_seed(seed)
    logits = torch.randn(rois, classes, generator=g)
    regression = torch.randn(rois, classes * 4, generator=g) * 2
    labels = [torch.randint(0, classes, (rois // 2,), generator=g) for _ in range(2)]
    targets = [torch.randn(rois // 2, 4, generator=g) * 2 for _ in range(2)]
    return logits, regression, labels, targets


def _mmdet_v1_loss_bbox(regression, labels, targets, classes):
    """mmdetection 1.x BBoxHead.loss: weighted_smoothl1(pos_bbox_pred, bbox_targets[pos], bbox_weights[pos],
    avg_factor=bbox_targets.size(0)) with smooth_l1_loss's beta 1.0."""
    labels, targets = torch.cat(labels), torch.cat(targets)
    pos = labels > 0
    pred = regression.view(len(regression), classes, 4)[pos, labels[pos]]
    diff = (pred - targets[pos]).abs()
    loss = torch.where(diff < 1.0, 0.5 * diff * diff / 1.0, diff - 0.5 * 1.0)
    return loss.sum() / len(labels)


def test_box_loss_is_torchvisions_at_one_ninth_and_mmdetections_at_one():
    logits, regression, labels, targets = _sampled()
    assert torch.cat(labels).gt(0).sum() > 10
    ours = box_loss(logits, regression, labels, targets, TORCHVISION_BOX_BETA)
    theirs = fastrcnn_loss(logits, regression, labels, targets)
    assert torch.equal(ours[0], theirs[0]) and torch.allclose(ours[1], theirs[1], rtol=1e-6, atol=0)
    classification, regression_loss = box_loss(logits, regression, labels, targets, 1.0)
    assert torch.equal(classification, theirs[0])
    assert torch.allclose(regression_loss, _mmdet_v1_loss_bbox(regression, labels, targets, 5), rtol=1e-6, atol=0)
    # smooth_l1(d, 1) = 9 smooth_l1(d / 9, 1 / 9): torchvision's own loss on scaled deltas agrees
    scaled = fastrcnn_loss(logits, regression / 9, labels, [t / 9 for t in targets])[1] * 9
    assert torch.allclose(regression_loss, scaled, rtol=1e-5, atol=0)
    assert not torch.allclose(regression_loss, theirs[1], rtol=1e-2)


def _mask_rcnn(**options):
    return hrseg.build_model("det_maskrcnn_hrnetv2p_w18_small_v1", num_classes=3, min_size=96, max_size=96,
                             out_channels=32, representation_size=64, mask_channels=32, mask_convs=2,
                             rpn_post_nms_top_n_train=64, box_batch_size_per_image=32, **options)


def _losses(model, seed: int = 0):
    masks = torch.zeros(2, 96, 96, dtype=torch.uint8)
    masks[0, 20:70, 30:60] = 1
    masks[1, 5:40, 50:90] = 1
    target = {"boxes": torch.tensor([[30.0, 20.0, 60.0, 70.0], [50.0, 5.0, 90.0, 40.0]]),
              "labels": torch.tensor([2, 1]), "masks": masks}
    images = [torch.rand(3, 96, 96, generator=torch.Generator().manual_seed(seed)) for _ in range(2)]
    torch.manual_seed(seed)  # the samplers' draws
    return model.train()(images, [target] * 2)


def test_mask_rcnn_trains_as_torchvision_but_for_the_box_loss_beta():
    torch.manual_seed(0)
    model = _mask_rcnn()
    assert type(model.roi_heads) is RCNNRoIHeads and model.roi_heads.box_loss_beta == TORCHVISION_BOX_BETA
    ours = _losses(model)
    model.roi_heads.__class__ = RoIHeads  # torchvision's own heads, the same modules
    theirs = _losses(model)
    assert set(ours) == set(theirs) == {"loss_classifier", "loss_box_reg", "loss_mask", "loss_objectness",
                                        "loss_rpn_box_reg"}
    for key in ours:
        assert torch.allclose(ours[key], theirs[key], rtol=1e-6, atol=1e-7), key
    model.roi_heads.__class__ = RCNNRoIHeads
    model.roi_heads.box_loss_beta = 1.0
    official = _losses(model)
    assert official["loss_box_reg"] < ours["loss_box_reg"]  # smooth L1 decreases as beta grows
    for key in set(ours) - {"loss_box_reg"}:
        assert torch.allclose(official[key], ours[key], rtol=1e-6, atol=1e-7), key
    official["loss_box_reg"].backward()
    assert model.roi_heads.box_predictor.bbox_pred.weight.grad.abs().sum() > 0


def test_box_loss_beta_is_a_model_option_of_the_rcnn_detectors():
    assert hrseg.build_model("det_fasterrcnn_hrnetv2p_w18_small_v1", box_loss_beta=1.0,
                             min_size=64, max_size=64).roi_heads.box_loss_beta == 1.0
    multi = hrseg.build_model("multi_hrnetv2p_w18_small_v1", box_loss_beta=0.5, min_size=64, max_size=64)
    assert isinstance(multi.roi_heads, RCNNRoIHeads) and multi.roi_heads.box_loss_beta == 0.5
    with pytest.raises(ConfigError, match="box_loss_beta.*a number >= 0"):
        hrseg.build_model("det_fasterrcnn_hrnetv2p_w18_small_v1", box_loss_beta=-1.0)


@pytest.mark.parametrize("config, task", [("det/faster_rcnn_hrnetv2p_w18_1x_coco.py", "det"),
                                          ("det/mask_rcnn_hrnetv2p_w32_1x_coco.py", "det"),
                                          ("multi/multi_hrnetv2p_w32_1x_coco.py", "multi")])
def test_the_official_recipes_train_the_box_loss_at_beta_one(config, task):
    assert load_recipe(CONFIG_DIR / config, task)["model"]["box_loss_beta"] == 1.0


def _mask_target_single(pos_proposals, pos_assigned_gt_inds, gt_masks, mask_size):
    """HRNet-Object-Detection mmdet/core/mask/mask_target.py mask_target_single (mmdetection 1.x), mmcv.imresize
    being cv2.resize(img, (w, h), interpolation=cv2.INTER_LINEAR)."""
    num_pos = pos_proposals.size(0)
    mask_targets = []
    if num_pos > 0:
        proposals_np = pos_proposals.cpu().numpy()
        pos_assigned_gt_inds = pos_assigned_gt_inds.cpu().numpy()
        for i in range(num_pos):
            gt_mask = gt_masks[pos_assigned_gt_inds[i]]
            bbox = proposals_np[i, :].astype(np.int32)
            x1, y1, x2, y2 = bbox
            w = np.maximum(x2 - x1 + 1, 1)
            h = np.maximum(y2 - y1 + 1, 1)
            target = cv2.resize(gt_mask[y1:y1 + h, x1:x1 + w], (mask_size, mask_size), interpolation=cv2.INTER_LINEAR)
            mask_targets.append(target)
        mask_targets = torch.from_numpy(np.stack(mask_targets)).float().to(pos_proposals.device)
    else:
        mask_targets = pos_proposals.new_zeros((0, mask_size, mask_size))
    return mask_targets


def test_mask_targets_of_hrnet_object_detection():
    """model.mask_targets='mmdet1' (the multi-task recipe's): each RoI's integer crop of its mask resized with
    mmcv.imresize, as HRNet-Object-Detection's mask_target_single; torchvision's RoIAlign cut differs."""
    g = torch.Generator().manual_seed(0)
    masks = torch.zeros(3, 90, 120, dtype=torch.uint8)
    masks[0, 10:60, 20:90] = 1
    masks[1, 30:85, 5:50] = 1
    masks[2] = (torch.rand(90, 120, generator=g) > 0.5).to(torch.uint8)
    xy = torch.rand(40, 2, generator=g) * torch.tensor([100.0, 70.0])
    wh = torch.rand(40, 2, generator=g) * 40 + 0.3
    boxes = torch.cat([xy, (xy + wh).minimum(torch.tensor([119.0, 89.0]))], 1)
    boxes[0] = torch.tensor([5.7, 5.2, 6.1, 5.9])  # under a pixel: the crop's w, h at least 1
    matched = torch.randint(0, 3, (40,), generator=g)
    ours = mask_targets(masks, boxes, matched, 28, "mmdet1")
    theirs = _mask_target_single(boxes, matched, list(masks.numpy()), 28)
    assert torch.equal(ours, theirs) and set(ours.unique().tolist()) == {0.0, 1.0}
    assert not torch.equal(ours, mask_targets(masks, boxes, matched, 28))  # torchvision's soft cut
    assert mask_targets(masks, boxes[:0], matched[:0], 28, "mmdet1").shape == (0, 28, 28)


def test_mask_targets_is_a_model_option():
    recipe = load_recipe(CONFIG_DIR / "multi/multi_hrnetv2p_w32_1x_coco.py", "multi")
    assert recipe["model"]["mask_targets"] == "mmdet1"
    with torch.device("meta"):
        multi = hrseg.build_model("multi_hrnetv2p_w18_small_v1", mask_targets="mmdet1", keypoints=False)
        conventions = hrseg.build_model("det_maskrcnn_hrnetv2p_w18_small_v1", mmdet_conventions=True)
        plain = hrseg.build_model("det_maskrcnn_hrnetv2p_w18_small_v1")
    kinds = [m.roi_heads.mask_target_kind for m in (multi, conventions, plain)]
    assert kinds == ["mmdet1", "mmdet", "torchvision"]
    with pytest.raises(ConfigError, match="mask_targets"):
        hrseg.build_model("det_maskrcnn_hrnetv2p_w18_small_v1", mask_targets="detectron")
