"""Progressive learning: the schedule of sizes and regularization, RandAugment and mixup (data
side), dropout / drop-path (what models expose), the datasets' set_stage and the Trainer's epoch hook."""
from __future__ import annotations

import numpy as np
import pytest
import torch
from torch import nn
from torch.utils.data import Dataset

from hrseg.engine import Trainer, build_dataloader
from hrseg.data.augment import RandAugment, mixed_losses, mixup_heatmaps, mixup_images, sample_mixup
from hrseg.engine.progressive import ProgressiveHook, build_schedule, interpolate, stage_sizes
from hrseg.errors import ConfigError
from hrseg.models.regularization import StageRegularization, set_feature_dropout

POSE = dict(enabled=True, num_stages=3, dropout=[0.1, 0.3], drop_path=[0.0, 0.2], randaugment=[5, 15],
            mixup=[0.0, 0.4])


def test_schedule_of_sizes_and_regularization():
    schedule = build_schedule(POSE, (256, 192), max_epochs=10, heatmap_stride=4)
    stages = schedule.stages
    assert [s.image_size for s in stages] == [(128, 96), (192, 144), (256, 192)]   # 4:3 kept
    assert [s.heatmap_size for s in stages] == [(32, 24), (48, 36), (64, 48)]      # stride 4
    assert [(s.start_epoch, s.end_epoch) for s in stages] == [(0, 3), (3, 7), (7, 10)]
    assert [s.dropout for s in stages] == pytest.approx([0.1, 0.2, 0.3])
    assert [s.drop_path for s in stages] == pytest.approx([0.0, 0.1, 0.2])
    assert [s.randaugment for s in stages] == pytest.approx([5, 10, 15])
    assert [s.mixup for s in stages] == pytest.approx([0.0, 0.2, 0.4])
    assert [schedule.stage_at(e).index for e in range(10)] == [0, 0, 0, 1, 1, 1, 1, 2, 2, 2]
    assert schedule.stage_at(12).index == 2  # past the end: the last stage
    assert "128x96" in stages[0].describe() and "heatmaps 32x24" in stages[0].describe()


def test_schedule_variants():
    assert build_schedule({}, (256, 192), 10) is None                       # off by default
    assert build_schedule(dict(POSE, enabled=False), (256, 192), 10) is None
    # Four stages of the synthetic 128x96 crops: H on multiples of 16 from 64 up.
    assert stage_sizes((128, 96), 4, 0.5, 16) == [(64, 48), (80, 60), (112, 84), (128, 96)]
    one = build_schedule(dict(enabled=True, num_stages=1, dropout=[0.1, 0.5]), (128, 96), 3)
    assert len(one) == 1 and one.stages[0].image_size == (128, 96) and one.stages[0].dropout == 0.1
    explicit = build_schedule(dict(enabled=True, num_stages=2, sizes=[[384, 384], [512, 1024]],
                                   randaugment=7), (512, 1024), 4)
    assert [s.image_size for s in explicit.stages] == [(384, 384), (512, 1024)]
    assert explicit.stages[0].heatmap_size is None and explicit.stages[1].randaugment == 7
    assert interpolate(2.0, 8.0, 1, 4) == 4.0


@pytest.mark.parametrize("cfg, message", [
    (dict(POSE, typo=1), "unknown keys"),
    (dict(POSE, num_stages=20), "at least as many epochs"),
    (dict(POSE, sizes=[[130, 96], [192, 144], [256, 192]]), "heatmap stride"),
    (dict(POSE, sizes=[[128, 96]]), "3 .H, W. pairs"),
    (dict(POSE, dropout=[0.1]), "first, last"),
    (dict(POSE, randaugment=[0, 40]), r"\[0.0, 30.0\]"),
    (dict(POSE, min_scale=0), "min_scale"),
])
def test_schedule_errors(cfg, message):
    with pytest.raises(ConfigError, match=message):
        build_schedule(cfg, (256, 192), 10, heatmap_stride=4)


def test_randaugment_operations_by_hand():
    image = np.array([[[0, 17, 100], [200, 255, 31]]], dtype=np.uint8)  # (1, 2, 3)
    x = torch.from_numpy(image).permute(2, 0, 1)

    def op(name, magnitude, sign=1.0):
        return RandAugment(magnitude).apply(name, x, sign).permute(1, 2, 0).numpy()

    np.testing.assert_array_equal(op("Solarize", 30), 255 - image)             # threshold 0: all inverted
    np.testing.assert_array_equal(op("Solarize", 0), image)                    # threshold 255: none
    np.testing.assert_array_equal(op("Posterize", 30), image & 0xF0)           # 4 bits kept
    np.testing.assert_array_equal(op("Brightness", 10, -1.0),                  # factor 1 - 0.3
                                  np.floor(image * 0.7 + 1e-4).astype(np.uint8))  # truncated
    np.testing.assert_array_equal(op("Identity", 30), image)


def test_randaugment_on_crops():
    rng = np.random.default_rng(0)
    image = rng.integers(0, 256, (24, 18, 3), dtype=np.uint8)
    assert RandAugment(0)(image, np.random.default_rng(1)) is image
    a = RandAugment(15, num_ops=3)(image, np.random.default_rng(1))
    b = RandAugment(15, num_ops=3)(image, np.random.default_rng(1))
    assert a.shape == image.shape and a.dtype == np.uint8 and np.array_equal(a, b)  # seeded
    outs = [RandAugment(30, num_ops=2)(image, np.random.default_rng(s)) for s in range(8)]
    assert any(not np.array_equal(o, image) for o in outs)
    with pytest.raises(ValueError, match="uint8"):
        RandAugment(5)(image.astype(np.float32), rng)
    with pytest.raises(ConfigError):
        RandAugment(31)


def test_heatmap_mixup():
    g = torch.Generator().manual_seed(0)
    images = torch.randn(4, 3, 8, 6, generator=g)
    targets = torch.rand(4, 2, 2, 3, generator=g)
    weights = torch.tensor([[1.0, 0.0], [1.0, 1.0], [0.0, 1.0], [1.0, 1.0]]).unsqueeze(-1)
    same = mixup_heatmaps(images, targets, weights, 0.0)
    assert same[0] is images and same[3] == 1.0
    x, t, w, lam = mixup_heatmaps(images, targets, weights, 0.4, torch.Generator().manual_seed(3))
    lam2, perm = sample_mixup(4, 0.4, torch.Generator().manual_seed(3))
    assert lam == lam2 and 0 < lam < 1 and sorted(perm.tolist()) == [0, 1, 2, 3]
    torch.testing.assert_close(x, lam * images + (1 - lam) * images[perm])
    torch.testing.assert_close(t, lam * targets + (1 - lam) * targets[perm])
    torch.testing.assert_close(w, lam * weights + (1 - lam) * weights[perm])
    # Mixup of a sample with itself changes nothing; Beta(alpha, alpha) has mean 1/2.
    lams = [sample_mixup(2, 1.0, torch.Generator().manual_seed(s))[0] for s in range(400)]
    assert abs(np.mean(lams) - 0.5) < 0.05


class Head(nn.Module):
    def __init__(self):
        super().__init__()
        self.conv = nn.Conv2d(4, 1, 1)

    def forward(self, x):
        return self.conv(x)


class Net(StageRegularization, nn.Module):
    def __init__(self):
        super().__init__()
        from hrseg.models.mbconv import MBConv

        self.body = nn.Sequential(nn.Conv2d(3, 4, 3, padding=1), MBConv(4, 4, expand_ratio=2))
        self.head = Head()

    def forward(self, x):
        return self.head(self.body(x))


def test_feature_dropout_and_drop_path():
    net = Net()
    keys = list(net.state_dict())
    x = torch.randn(8, 4, 5, 5)
    seen = []
    net.head.conv.register_forward_pre_hook(lambda m, args: seen.append(args[0]))
    set_feature_dropout(net, 0.5)
    set_feature_dropout(net, 0.5)  # one hook, its rate updated
    net.train()
    net.head(x)
    dropped = seen[-1]
    channel_zero = (dropped == 0).flatten(2).all(-1)
    assert channel_zero.any() and (~channel_zero).any()               # whole channels dropped
    torch.testing.assert_close(dropped[~channel_zero], (x * 2)[~channel_zero])  # kept ones scaled by 1/(1-p)
    net.eval()
    net.head(x)
    assert torch.equal(seen[-1], x)                                  # no dropout in evaluation
    set_feature_dropout(net, 0.0)
    net.train()
    net.head(x)
    assert torch.equal(seen[-1], x)
    assert list(net.state_dict()) == keys
    assert net.set_regularization(dropout=0.25, drop_path=0.3) == 1 and net.body[1].drop_path_rate == 0.3
    assert net.regularization() == {"dropout": 0.25, "drop_path": 0.3}
    with pytest.raises(ValueError, match="dropout"):
        net.set_regularization(dropout=1.5)


def test_task_models_expose_their_regularization():
    from hrseg.models.registry import build_model

    for name in ("pose_mbhrnet_lite", "seg_hrnetv2_w18_small_v1"):
        with torch.device("meta"):
            model = build_model(name)
        blocks = model.set_regularization(dropout=0.1, drop_path=0.2)
        assert model.regularization() == {"dropout": 0.1, "drop_path": 0.2 if blocks else 0.0}
        assert blocks == (48 if name == "pose_mbhrnet_lite" else 0)  # MBConv blocks only


class SizedData(Dataset):
    """Images whose size the progressive hook sets; targets are their per-pixel means."""

    def __init__(self, n=8):
        self.size = (16, 12)
        self.n = n
        self.applied = []

    def set_stage(self, image_size, randaugment=0.0, randaugment_ops=2):
        self.size = tuple(image_size)
        self.applied.append((self.size, randaugment))

    def __len__(self):
        return self.n

    def __getitem__(self, i):
        x = torch.randn(3, *self.size, generator=torch.Generator().manual_seed(i))
        return x, x.mean(0, keepdim=True)


def test_hook_drives_a_training_run(tmp_path):
    data = SizedData()
    schedule = build_schedule(dict(enabled=True, num_stages=2, sizes=[[16, 12], [32, 24]], dropout=[0.0, 0.2],
                                   mixup=[0.0, 0.4]), (32, 24), 4, heatmap_stride=4)
    hook = ProgressiveHook(schedule, [data])
    assert hook.mixup_alpha == 0.0
    seen = []

    def step(model, batch):
        x, y = batch
        seen.append((hook.stage.index, tuple(x.shape[-2:])))
        weights = torch.ones(len(x), 1, 1, device=x.device)
        x, y, _, _ = mixup_heatmaps(x, y, weights, hook.mixup_alpha, hook.generator)
        return {"loss": nn.functional.mse_loss(model(x), y)}

    model = Net()
    loader = build_dataloader(data, batch_size=4, seed=0)
    trainer = Trainer(model, loader, step, dict(type="SGD", lr=0.01), dict(type="multistep", milestones=[3]),
                      tmp_path, 4, progress=False, epoch_hook=hook)
    trainer.fit()
    assert data.applied == [((16, 12), 0.0), ((32, 24), 0.0)]          # applied when the stage changes
    assert seen == [(0, (16, 12))] * 4 + [(1, (32, 24))] * 4          # 2 batches x 2 epochs per stage
    assert model.head._hrseg_feature_dropout.rate == pytest.approx(0.2)
    log = (tmp_path / "train.log").read_text()
    assert "progressive stage 1 (epochs 1-2): input 16x12, heatmaps 4x3" in log and "progressive stage 2" in log
    with pytest.raises(ConfigError, match="set_stage"):
        ProgressiveHook(schedule, [object()])


def test_hook_refuses_regularization_a_model_cannot_take(tmp_path):
    schedule = build_schedule(dict(enabled=True, num_stages=1, dropout=0.1), (16, 12), 1)
    loader = build_dataloader(SizedData(4), batch_size=4, seed=0)
    plain = nn.Sequential(nn.Conv2d(3, 1, 1))
    trainer = Trainer(plain, loader, lambda m, b: {"loss": m(b[0]).mean()}, dict(type="SGD", lr=0.01),
                      dict(type="multistep", milestones=[3]), tmp_path, 1, progress=False,
                      epoch_hook=ProgressiveHook(schedule, []))
    with pytest.raises(ConfigError, match="set_regularization"):
        trainer.fit()


def test_what_a_stage_sets_in_the_datasets(shared_data):
    from hrseg.data.pose.dataset import CocoPoseDataset
    from hrseg.data.seg.datasets import FolderSegDataset
    from hrseg.data.seg.transforms import SegEvalTransform, SegTrainTransform

    coco = shared_data / "coco_mini"
    pose = CocoPoseDataset(coco / "person_keypoints.json", coco / "images", train=True, input_size=(256, 192),
                           heatmap_size=(64, 48), sigma=2.0)
    schedule = build_schedule(POSE, (256, 192), 9, heatmap_stride=4)
    stage = schedule.stages[0]
    pose.set_stage(stage.image_size, stage.randaugment, stage.randaugment_ops)
    assert pose.codec.input_size == (128, 96) and pose.codec.heatmap_size == (32, 24)   # (H, W), as configs
    assert pose.codec.sigma == 1.0 and pose.randaugment.magnitude == 5
    sample = pose[0]
    assert sample["image"].shape == (3, 128, 96) and sample["target"].shape == (17, 32, 24)
    pose.set_stage((256, 192), 15)
    assert pose.codec.input_size == (256, 192) and pose.codec.sigma == 2.0 and pose.randaugment.magnitude == 15
    pose.set_stage((256, 192), 0)
    assert pose.randaugment is None
    with pytest.raises(ConfigError, match="heatmap stride"):
        pose.set_stage((130, 96))
    transform = SegTrainTransform(crop_size=(512, 1024))
    transform.set_stage((256, 512), randaugment=9)
    assert transform.crop_size == (256, 512) and transform.randaugment.magnitude == 9
    seg = FolderSegDataset.__new__(FolderSegDataset)
    seg.transform = SegEvalTransform()
    with pytest.raises(ConfigError, match="SegTrainTransform"):
        seg.set_stage((256, 512))


def test_mixup_of_hard_labels():
    def criterion(out, labels):
        return {"loss": nn.functional.cross_entropy(out, labels)}

    g = torch.Generator().manual_seed(0)
    out = torch.randn(4, 3, 2, 2, generator=g)
    labels = torch.randint(0, 3, (4, 2, 2), generator=g)
    mixed, lam, perm = mixup_images(torch.ones(4, 1), 0.5, torch.Generator().manual_seed(1))
    torch.testing.assert_close(mixed, torch.ones(4, 1))
    losses = mixed_losses(criterion, out, labels, lam, perm)
    expected = lam * criterion(out, labels)["loss"] + (1 - lam) * criterion(out, labels[perm])["loss"]
    torch.testing.assert_close(losses["loss"], expected)
    assert mixed_losses(criterion, out, labels, 1.0, perm)["loss"] == criterion(out, labels)["loss"]


@pytest.mark.slow
def test_pose_training_with_progressive_learning(tmp_path):
    """The pose task's `progressive` section: stages change the crops, heatmaps and sigma of the
    training set, and training with mixup and RandAugment runs; off by default."""
    from pathlib import Path

    from hrseg.tasks.pose import TASK, build_dataset, load_pose_config, train

    def progressive_hook(cfg, train_set):  # the pose training step's epoch hook
        return TASK.training_step(cfg, None, train_set)[1]

    repo = Path(__file__).resolve().parents[1]
    options = {"data.root": str(tmp_path / "data"), "data.synthetic.num_train": 6, "data.synthetic.num_val": 2,
               "data.synthetic.image_size": [96, 96], "data.num_workers": 0, "data.batch_size": 4,
               "data.val_batch_size": 8, "train.max_epochs": 3, "train.eval_interval": 3,
               "data.train.img_ids": None, "schedule.warmup_iters": 1, "work_dir": str(tmp_path / "run"),
               "progressive.randaugment": [0, 9], "progressive.mixup": [0.0, 0.4]}
    cfg = load_pose_config(repo / "configs/effnet/progressive_synthetic.py", options)
    assert progressive_hook(load_pose_config(None), None) is None          # off by default
    train_set = build_dataset(cfg, "train")
    hook = progressive_hook(cfg, train_set)
    assert [s.image_size for s in hook.schedule.stages] == [(64, 48), (96, 72), (128, 96)]
    stage = hook.schedule.stages[1]
    train_set.set_stage(stage.image_size, stage.randaugment, stage.randaugment_ops)
    sample = train_set[0]
    assert sample["image"].shape == (3, 96, 72) and sample["target"].shape == (17, 24, 18)
    assert train_set.codec.sigma == 0.75 and train_set.randaugment.magnitude == 4.5
    metrics = train(cfg)
    assert "AP" in metrics
    log = (tmp_path / "run" / "train.log").read_text()
    assert "input 64x48, heatmaps 16x12" in log and "input 128x96, heatmaps 32x24" in log and "mixup 0.4" in log
    for name in ("mbhrnet_lite_coco_256x192", "effhrnet_b2_coco_336x252"):   # the recipes' schedules build
        recipe = load_pose_config(repo / f"configs/effnet/{name}.py")
        assert progressive_hook(recipe, train_set).schedule.stages[-1].image_size == tuple(recipe["data"]["input_size"])
