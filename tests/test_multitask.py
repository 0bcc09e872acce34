"""The multi-task model: every head on a real photograph, partial-label masking, a falling loss."""
from __future__ import annotations

import numpy as np
import pytest
import torch

import hrseg
from hrseg.data.det.coco_instances import CocoInstances
from hrseg.data.det.dataset import to_tensor
from hrseg.data.multi.dataset import MultiTaskDataset
from hrseg.data.pose.coco_keypoints import load_coco_keypoints
from hrseg.data.synthetic.multi import SEMANTIC_CLASSES, dataset_paths, ensure_synthetic_multi
from hrseg.utils.image_io import read_image

# A small multi-task model (the mini recipe's heads, fewer samples) for CPU tests.
SMALL = dict(min_size=128, max_size=192, out_channels=32, anchor_scale=4, representation_size=64,
             sampling_ratio=1, box_batch_size_per_image=32, rpn_pre_nms_top_n_train=100,
             rpn_post_nms_top_n_train=100, rpn_pre_nms_top_n_test=50, rpn_post_nms_top_n_test=50,
             mask_channels=16, mask_convs=1, keypoint_channels=16, keypoint_convs=1, keypoint_rois_per_image=8)


def small_model(**overrides):
    options = dict(SMALL, num_classes=3, seg_classes=len(SEMANTIC_CLASSES)) | overrides
    return hrseg.build_model("multi_hrnetv2p_w18_small_v1", **options)


@pytest.fixture(scope="module")
def synthetic(tmp_path_factory):
    root = tmp_path_factory.mktemp("synthetic_multi")
    ensure_synthetic_multi(root, num_train=4, num_val=2, image_size=(128, 192), log=None)
    paths = dataset_paths(root, "train")
    return MultiTaskDataset(CocoInstances(paths["instances"]), paths["images"],
                            load_coco_keypoints(paths["person_keypoints"]), paths["semantic"])


def test_random_weights_give_every_head_on_a_real_coco_photo(shared_data):
    photo = shared_data / "coco_mini" / "images" / "000000000785.jpg"
    image = read_image(photo)
    model = hrseg.build_model("multi_hrnetv2p_w18_small_v1", **dict(SMALL, num_classes=81, seg_classes=7,
                                                                   box_score_thresh=0.0)).eval()
    assert model.heads == {"boxes": True, "masks": True, "keypoints": True, "segmentation": True}
    with torch.no_grad():
        out = model([to_tensor(image)])[0]
    h, w = image.shape[:2]
    n = len(out["boxes"])
    assert n > 0
    assert out["masks"].shape == (n, 1, h, w)
    assert out["keypoints"].shape == (n, 17, 3) and out["keypoints_scores"].shape == (n, 17)
    assert out["semantic"].shape == (h, w) and int(out["semantic"].max()) < 7
    others = out["labels"] != 1  # keypoints for the person detections only
    assert torch.all(out["keypoints"][others] == 0)
    people = out["labels"] == 1
    if people.any():
        assert torch.all(out["keypoints"][people][..., 2] == 1)


def test_heads_are_optional():
    model = small_model(masks=False, keypoints=False, seg_classes=0)
    assert model.heads == {"boxes": True, "masks": False, "keypoints": False, "segmentation": False}
    assert not any(k.startswith(("roi_heads.mask", "roi_heads.keypoint", "seg_head")) for k in model.state_dict())


def _losses(model, images, targets, seed=0):
    torch.manual_seed(seed)  # the RPN and RoI samplers draw from torch's generator
    return model(images, targets)


@torch.no_grad()
def _values(model, images, targets, seed=0):
    return {k: float(v) for k, v in _losses(model, images, targets, seed).items()}


def test_an_image_without_masks_or_keypoints_contributes_no_loss(synthetic):
    model = small_model().train()
    (a, ta), (b, tb) = synthetic[0], synthetic[1]
    base = _values(model, [a, b], [ta, dict(tb, has_masks=torch.tensor(False), has_keypoints=torch.tensor(False))])
    assert base["masked_mask_images"] == 1 and base["masked_keypoint_images"] == 1
    garbage = dict(tb, masks=torch.ones_like(tb["masks"]), has_masks=torch.tensor(False),
                   keypoints=torch.rand_like(tb["keypoints"]) * 100, has_keypoints=torch.tensor(False))
    changed = _values(model, [a, b], [ta, garbage])
    assert changed["loss_mask"] == base["loss_mask"]
    assert changed["loss_keypoint"] == base["loss_keypoint"]
    used = _values(model, [a, b], [ta, dict(garbage, has_masks=torch.tensor(True))])
    assert used["loss_mask"] != base["loss_mask"]  # the flag is what kept them out
    none = _values(model, [a, b], [dict(ta, has_masks=torch.tensor(False), has_keypoints=torch.tensor(False)),
                                   dict(tb, has_masks=torch.tensor(False), has_keypoints=torch.tensor(False))])
    assert none["loss_mask"] == 0.0 and none["loss_keypoint"] == 0.0
    assert none["masked_mask_images"] == 2


def test_unlabelled_semantic_pixels_train_nothing(synthetic):
    model = small_model().train()
    (a, ta) = synthetic[0]
    losses = _values(model, [a], [dict(ta, semantic=torch.full_like(ta["semantic"], 255))])
    assert losses["loss_seg"] == 0.0
    assert _values(model, [a], [ta])["loss_seg"] > 0.5


def test_the_dataset_carries_every_label_and_flips_keypoints_with_their_pairs(synthetic):
    image, target = synthetic[0]
    assert image.shape == (3, 128, 192)
    assert set(target) >= {"boxes", "labels", "masks", "keypoints", "semantic", "has_masks", "has_keypoints"}
    kps = target["keypoints"]
    people = target["labels"] == 1
    assert bool(target["has_masks"]) and bool(target["has_keypoints"])
    assert torch.all(kps[~people][..., 2] == 0) and kps[people][..., 2].sum() > 0
    assert set(np.unique(target["semantic"].numpy())) <= set(range(7)) | {255}
    flipped = MultiTaskDataset(synthetic.instances, synthetic.img_dir, synthetic.keypoint_coco, synthetic.semantic_dir,
                               train=True, flip_prob=1.0)
    fimage, ft = flipped[0]
    assert torch.equal(fimage, image.flip(-1))
    assert torch.equal(ft["semantic"], target["semantic"].flip(-1))
    assert torch.allclose(ft["boxes"][:, 0], 192 - target["boxes"][:, 2])
    # left shoulder (5) of the flipped person is the mirrored right shoulder (6), mirrored as its box
    # (x -> 192 - x, torchvision's keypoint R-CNN flip; the top-down 191 - x put it 1 px off its box)
    i = int(torch.nonzero(people & (kps[:, 6, 2] > 0))[0])
    assert ft["keypoints"][i, 5, 2] == 1 and torch.isclose(ft["keypoints"][i, 5, 0], 192 - kps[i, 6, 0])
    assert torch.isclose(ft["boxes"][i, 2] - ft["keypoints"][i, 5, 0], kps[i, 6, 0] - target["boxes"][i, 0])


@pytest.mark.slow
def test_a_tiny_training_run_lowers_the_loss(synthetic):
    model = small_model().train()
    optimizer = torch.optim.AdamW(model.parameters(), lr=2e-3)
    samples = [synthetic[i] for i in range(4)]
    totals = []
    for step in range(12):
        batch = samples[(step * 2) % 4:(step * 2) % 4 + 2]
        losses = _losses(model, [s[0] for s in batch], [s[1] for s in batch], seed=step)
        total = sum(v for k, v in losses.items() if k.startswith("loss"))
        optimizer.zero_grad()
        total.backward()
        optimizer.step()
        totals.append(float(total.detach()))
    assert np.mean(totals[-4:]) < 0.8 * np.mean(totals[:4]), totals


def test_heatmap_keypoint_loss_is_zero_on_its_targets_and_decodes_back():
    from hrseg.codecs.heatmap import encode
    from hrseg.models.multitask_keypoints import heatmap_keypoint_loss, heatmap_keypoints

    size, box = 56, np.array([10.0, 20.0, 66.0, 132.0], np.float32)  # 1 and 2 px per cell
    rng = np.random.default_rng(0)
    kps = np.zeros((1, 17, 3), np.float32)
    kps[0, :, 0] = rng.uniform(14, 62, 17)
    kps[0, :, 1] = rng.uniform(26, 126, 17)
    kps[0, :, 2] = 1
    kps[0, 3, 2] = 0  # unlabelled: weight 0
    cells = (kps[0, :, :2] - box[:2]) * (size / (box[2:] - box[:2])) - 0.5
    target, _ = encode(cells, kps[0, :, 2], (size, size), (size, size), 2.0)
    target[3] = 5.0  # whatever the unlabelled point's heatmap holds costs nothing
    rois, gt, matched = [torch.from_numpy(box[None])], [torch.from_numpy(kps)], [torch.tensor([0])]
    logits = torch.from_numpy(target[None])
    assert float(heatmap_keypoint_loss(logits, rois, gt, matched)) == 0.0
    assert float(heatmap_keypoint_loss(torch.zeros_like(logits), rois, gt, matched)) > 0
    points, scores = heatmap_keypoints(logits, rois)
    labelled = kps[0, :, 2] > 0
    error = np.abs(points[0][0, :, :2].numpy() - kps[0, :, :2])[labelled]
    assert error[:, 0].max() <= 0.75 and error[:, 1].max() <= 1.5  # within 3/4 of a cell: rounding + quarter shift
    assert torch.all(points[0][0, :, 2] == 1) and scores[0].shape == (1, 17)


def test_the_heatmap_keypoint_head_trains_and_predicts(synthetic):
    model = small_model(keypoint_loss="heatmap").train()
    (a, ta), (b, tb) = synthetic[0], synthetic[1]
    losses = _values(model, [a, b], [ta, tb])
    assert losses["loss_keypoint"] > 0
    with torch.no_grad():
        out = model.eval()([a])[0]
    assert out["keypoints"].shape == (len(out["boxes"]), 17, 3)
    with pytest.raises(hrseg.errors.ConfigError, match="keypoint_loss"):
        small_model(keypoint_loss="l1")


def test_gaussian_softmax_loss_is_least_at_its_target_and_the_head_trains(synthetic):
    from hrseg.codecs.heatmap import encode
    from hrseg.models.multitask_keypoints import gaussian_softmax_keypoint_loss

    size, box = 56, np.array([10.0, 20.0, 66.0, 132.0], np.float32)
    kps = np.zeros((1, 17, 3), np.float32)
    kps[0, :, 0], kps[0, :, 1], kps[0, :, 2] = 30.0, 70.0, 1.0
    kps[0, 5, 2] = 0  # unlabelled: left out
    cells = (kps[0, :, :2] - box[:2]) * (size / (box[2:] - box[:2])) - 0.5
    target, _ = encode(cells, np.ones(17), (size, size), (size, size), 2.0)
    q = torch.from_numpy(target[None]).flatten(2)
    q = q / q.sum(-1, keepdim=True)
    rois, gt, matched = [torch.from_numpy(box[None])], [torch.from_numpy(kps)], [torch.tensor([0])]
    best = torch.log(q.clamp_min(1e-30)).reshape(1, 17, size, size)  # softmax(best) == q
    at_target = float(gaussian_softmax_keypoint_loss(best, rois, gt, matched))
    entropy = float(-(q * torch.log(q.clamp_min(1e-30))).sum(-1).mean())
    assert at_target == pytest.approx(entropy, rel=1e-4)  # cross-entropy = the target's entropy: its least
    for other in (torch.zeros_like(best), best.roll(3, dims=-1)):
        assert float(gaussian_softmax_keypoint_loss(other, rois, gt, matched)) > at_target + 0.1
    shifted = best.clone()
    shifted[0, 5] = torch.randn(size, size) * 10  # the unlabelled keypoint's map costs nothing
    assert float(gaussian_softmax_keypoint_loss(shifted, rois, gt, matched)) == pytest.approx(at_target, rel=1e-4)
    model = small_model(keypoint_loss="gaussian_softmax").train()
    (a, ta), (b, tb) = synthetic[0], synthetic[1]
    assert _values(model, [a, b], [ta, tb])["loss_keypoint"] > 0
    with torch.no_grad():
        out = model.eval()([a])[0]
    assert out["keypoints"].shape == (len(out["boxes"]), 17, 3)


def test_a_normalised_keypoint_head_trains_and_predicts(synthetic):
    model = small_model(keypoint_norm="bn", keypoint_convs=2).train()
    head = model.roi_heads.keypoint_head
    assert [type(m).__name__ for m in head] == ["Conv2d", "BatchNorm2d", "ReLU"] * 2
    (a, ta), (b, tb) = synthetic[0], synthetic[1]
    before = head[1].running_mean.clone()
    torch.manual_seed(0)
    losses = model([a, b], [ta, tb])
    losses["loss_keypoint"].backward()
    assert float(losses["loss_keypoint"].detach()) > 0 and head[0].weight.grad.abs().sum() > 0
    assert not torch.equal(head[1].running_mean, before)  # the positive RoIs' statistics
    with torch.no_grad():
        out = model.eval()([a])[0]
    assert out["keypoints"].shape == (len(out["boxes"]), 17, 3)
    gn = small_model(keypoint_norm="gn", keypoint_convs=1).roi_heads.keypoint_head
    assert isinstance(gn[1], torch.nn.GroupNorm) and gn[1].num_groups == 4  # 16 channels, 4 each
    with pytest.raises(hrseg.errors.ConfigError, match="keypoint_norm"):
        small_model(keypoint_norm="ln")


def test_keypoints_can_be_pooled_from_the_v2_concatenation(synthetic):
    (a, ta), (b, tb) = synthetic[0], synthetic[1]
    grads = {}
    for features in ("pyramid", "v2"):
        model = small_model(keypoint_features=features).train()
        torch.manual_seed(0)
        model([a, b], [ta, tb])["loss_keypoint"].backward()
        grads[features] = model.backbone.body.neck.reduction.weight.grad
        first = model.roi_heads.keypoint_head[0]
        if features == "v2":
            assert first.in_channels == model.tap.out_channels == 16 + 32 + 64 + 128  # W18-small-v1's streams
            assert model.roi_heads.keypoint_roi_pool.featmap_names == ["v2"]
        with torch.no_grad():
            out = model.eval()([a])[0]
        assert out["keypoints"].shape == (len(out["boxes"]), 17, 3)
    # the pyramid's keypoints pass through the neck's reduction; the concatenation's do not
    assert grads["pyramid"].abs().sum() > 0
    assert grads["v2"] is None or float(grads["v2"].abs().sum()) == 0.0
    with pytest.raises(hrseg.errors.ConfigError, match="keypoint_features"):
        small_model(keypoint_features="p2")


def test_softmax_keypoints_export_runs_with_no_roi_left(tmp_path):
    """An exported graph whose floor leaves no detection (a photograph of none of its classes)
    must answer nothing, not fail: a Reshape to (R, K, -1) cannot be computed for R = 0."""
    ort = pytest.importorskip("onnxruntime", reason="the [onnx] extra")
    from hrseg.models.multitask_keypoints import softmax_keypoints

    class Decode(torch.nn.Module):
        def forward(self, logits, boxes):
            return softmax_keypoints(logits, boxes)

    path = tmp_path / "decode.onnx"
    torch.onnx.export(Decode(), (torch.randn(2, 17, 56, 56), torch.rand(2, 4) * 50), str(path),
                      input_names=["logits", "boxes"], dynamic_axes={"logits": {0: "r"}, "boxes": {0: "r"}},
                      dynamo=False)
    session = ort.InferenceSession(str(path))
    none = session.run(None, {"logits": np.zeros((0, 17, 56, 56), np.float32), "boxes": np.zeros((0, 4), np.float32)})
    assert [a.shape for a in none] == [(0, 17, 3), (0, 17)]
    logits, boxes = torch.randn(3, 17, 56, 56) * 3, torch.rand(3, 4) * 50
    for exported, eager in zip(session.run(None, {"logits": logits.numpy(), "boxes": boxes.numpy()}),
                               softmax_keypoints(logits, boxes)):
        assert np.allclose(exported, eager.numpy(), atol=1e-4)


def test_softmax_keypoints_are_the_mean_and_mass_near_the_peak(synthetic):
    from hrseg.models.multitask_keypoints import PEAK_WINDOW, softmax_keypoints

    torch.manual_seed(0)
    logits = torch.randn(3, 17, 56, 56) * 3
    boxes = torch.tensor([[10.0, 20.0, 66.0, 132.0], [0.0, 0.0, 28.0, 28.0], [5.5, 7.25, 40.0, 100.0]])
    points, conf = softmax_keypoints(logits, boxes)
    assert points.shape == (3, 17, 3) and conf.shape == (3, 17) and torch.all(points[..., 2] == 1)
    probs = logits.flatten(2).softmax(-1).reshape(logits.shape).double()
    half = PEAK_WINDOW // 2
    for r, k in ((0, 0), (1, 7), (2, 16)):  # brute force: the window around the peak, cell by cell
        py, px = divmod(int(logits[r, k].argmax()), 56)
        ys, xs = range(max(py - half, 0), min(py + half + 1, 56)), range(max(px - half, 0), min(px + half + 1, 56))
        mass = sum(float(probs[r, k, y, x]) for y in ys for x in xs)
        mean_y = sum(y * float(probs[r, k, y, x]) for y in ys for x in xs) / mass
        mean_x = sum(x * float(probs[r, k, y, x]) for y in ys for x in xs) / mass
        (x1, y1, x2, y2) = boxes[r].tolist()
        assert float(conf[r, k]) == pytest.approx(mass, rel=1e-5)
        assert float(points[r, k, 0]) == pytest.approx(x1 + (mean_x + 0.5) * (x2 - x1) / 56, abs=1e-4)
        assert float(points[r, k, 1]) == pytest.approx(y1 + (mean_y + 0.5) * (y2 - y1) / 56, abs=1e-4)
    shifted, shifted_conf = softmax_keypoints(logits + 7.0, boxes)  # a softmax's offset says nothing
    assert torch.allclose(shifted, points, atol=1e-4) and torch.allclose(shifted_conf, conf, atol=1e-6)
    one = torch.full((1, 1, 56, 56), -30.0)
    one[0, 0, 20, 30] = 30.0  # all the probability in one cell: its centre, confidence 1
    point, c = softmax_keypoints(one, boxes[:1])
    assert point[0, 0, :2].tolist() == pytest.approx([10 + 30.5, 20 + 20.5 * 2], abs=1e-4)
    assert float(c) == pytest.approx(1.0)
    two = one.clone()
    two[0, 0, 20, 31] = 30.0  # split between two cells: between them, which an argmax cannot say
    assert softmax_keypoints(two, boxes[:1])[0][0, 0, 0] == pytest.approx(10 + 31.0, abs=1e-4)
    flat = float(softmax_keypoints(torch.zeros(1, 1, 56, 56), boxes[:1])[1])  # the peak at (0, 0): a corner
    assert flat == pytest.approx((half + 1) ** 2 / 56 ** 2, rel=1e-5)
    assert softmax_keypoints(torch.zeros(0, 17, 56, 56), boxes[:0])[0].shape == (0, 17, 3)
    model = small_model().eval()  # what the model reports for its people
    (a, _) = synthetic[0]
    with torch.no_grad():
        out = model([a])[0]
    people = out["labels"] == model.roi_heads.keypoint_label
    assert bool(((out["keypoints_scores"] >= 0) & (out["keypoints_scores"] <= 1)).all())
    assert torch.all(out["keypoints_scores"][~people] == 0)
