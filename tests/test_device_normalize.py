"""train.device_normalize (on by default): the workers send uint8 crops and the training step normalises
the batch on its device, with the same result as the workers' normalisation (bit for bit on the CPU)."""
from __future__ import annotations

import numpy as np
import pytest
import torch

from hrseg.data.seg.transforms import SegTrainTransform
from hrseg.engine import Trainer, build_dataloader
from hrseg.engine.batches import to_device
from hrseg.engine.speed import resolve_speed, tell_step
from hrseg.errors import ConfigError
from hrseg.experiments.train_speed import bench_config, worker_rates
from hrseg.tasks import pose, segmentation
from hrseg.utils.image import Normalizer, chw_uint8, normalize

TINY = ["data.synthetic.num_train=6", "data.synthetic.num_val=2"]


def _images(seed: int, n: int, size: tuple[int, int] = (37, 29)) -> list[np.ndarray]:
    rng = np.random.default_rng(seed)
    images = [rng.integers(0, 256, (*size, 3), dtype=np.uint8) for _ in range(n)]
    images[0][:2] = [0, 255, 128]  # the extremes and the middle of the range
    return images


@pytest.mark.parametrize("mean,std", [((0.485, 0.456, 0.406), (0.229, 0.224, 0.225)),
                                      ((0.5, 0.25, 0.125), (0.3, 0.7, 1.9))])
def test_device_normalisation_equals_the_workers(mean, std):
    images = _images(0, 4)
    want = torch.stack([normalize(image, mean, std) for image in images])
    # what normalize computed before the Normalizer existed: ToTensor, then Normalize
    old = torch.stack([torch.from_numpy(i).permute(2, 0, 1).float().div_(255.0) for i in images])
    old = old.sub_(torch.tensor(mean).view(3, 1, 1)).div_(torch.tensor(std).view(3, 1, 1))
    assert torch.equal(want, old)
    batch = torch.stack([chw_uint8(image) for image in images])
    assert batch.dtype == torch.uint8 and batch.shape == (4, 3, 37, 29)
    normalizer = Normalizer(mean, std)
    assert torch.equal(normalizer(batch), want)
    nhwc = normalizer(batch.contiguous(memory_format=torch.channels_last))
    assert nhwc.is_contiguous(memory_format=torch.channels_last) and torch.equal(nhwc, want)
    assert normalizer(want) is want  # normalised by the workers already: passed through
    if torch.cuda.is_available():
        on_gpu = normalizer(to_device(batch, torch.device("cuda"), channels_last=True))
        assert on_gpu.is_contiguous(memory_format=torch.channels_last)
        torch.testing.assert_close(on_gpu.cpu(), want, rtol=0, atol=1e-6)


def test_uint8_images_take_channels_last_on_the_way_to_the_device():
    batch = {"image": torch.zeros(2, 3, 8, 6, dtype=torch.uint8), "label": torch.zeros(2, 8, 6, dtype=torch.int64)}
    moved = to_device(batch, torch.device("cpu"), channels_last=True)
    assert moved["image"].is_contiguous(memory_format=torch.channels_last) and moved["label"].is_contiguous()


def test_the_option_is_on_everywhere_unless_asked_off():
    for device in ("cpu", "cuda"):  # exact on every device: automatic means on
        assert resolve_speed(device).device_normalize and "device_normalize" in resolve_speed(device).describe()
        assert not resolve_speed(device, device_normalize=False).device_normalize
    with pytest.raises(ConfigError, match="train.device_normalize"):
        resolve_speed("cpu", device_normalize="yes")


def _pose_loss(cfg, model, train_set, device_normalize: bool) -> tuple[torch.Tensor, torch.Tensor]:
    step, _ = pose.TASK.training_step(cfg, model, train_set)
    tell_step(step, resolve_speed("cpu", device_normalize=device_normalize))
    assert train_set.normalize_images is not device_normalize
    batch = pose.TASK.collate([train_set[i] for i in range(2)])
    return batch["image"], step(model, batch)["loss"]


def test_pose_step_on_uint8_crops_trains_as_on_normalised_ones(tmp_path):
    cfg = bench_config("pose_hrnet_w18_small_v1", (64, 48), 2, 0, str(tmp_path), TINY)
    train_set = pose.TASK.build_dataset(cfg, "train")
    torch.manual_seed(0)
    model = pose.TASK.build_model(cfg).eval()  # eval: BatchNorm's statistics stay as they are
    floats, loss = _pose_loss(cfg, model, train_set, device_normalize=False)
    uint8, device_loss = _pose_loss(cfg, model, train_set, device_normalize=True)
    assert floats.dtype == torch.float32 and uint8.dtype == torch.uint8
    assert torch.equal(Normalizer()(uint8), floats)  # the same crops and augmentation
    assert torch.equal(loss, device_loss) and loss > 0
    rates = worker_rates(train_set, 2)
    assert set(rates) == {"targets", "no_targets", "uint8"} and min(rates.values()) > 0
    assert train_set.normalize_images is False and train_set.draw_targets is True  # left as they were


def test_seg_crops_as_uint8_and_the_step_normalises_them():
    image = _images(1, 1, (96, 160))[0]
    label = np.random.default_rng(2).integers(0, 7, (96, 160)).astype(np.int64)
    mean, std = (0.3, 0.4, 0.5), (0.2, 0.25, 0.3)
    transform = SegTrainTransform(crop_size=(64, 64), base_size=160, mean=mean, std=std, photometric=True)
    floats, want_label = transform(image, label, 5)
    transform.normalize_images = False
    uint8, got_label = transform(image, label, 5)
    assert uint8.dtype == torch.uint8 and uint8.shape == (3, 64, 64) and torch.equal(got_label, want_label)
    assert torch.equal(Normalizer(mean, std)(uint8[None])[0], floats)


def test_seg_training_step_sets_its_workers_and_normalises(tmp_path):
    cfg = bench_config("seg_hrnetv2_w18_small_v1", (64, 128), 2, 0, str(tmp_path),
                       ["data.synthetic.num_train=2", "data.synthetic.num_val=1", "loss.ohem=false"])
    train_set = segmentation.TASK.build_dataset(cfg, "train")
    torch.manual_seed(0)
    model = segmentation.TASK.build_model(cfg).eval()
    losses, images = [], []
    for on in (False, True):
        step, _ = segmentation.TASK.training_step(cfg, model, train_set)
        tell_step(step, resolve_speed("cpu", device_normalize=on))
        assert train_set.normalize_images is not on
        batch = segmentation.TASK.collate([train_set[i] for i in range(2)])
        images.append(batch["image"])
        losses.append(step(model, batch)["loss"])
    assert images[1].dtype == torch.uint8 and torch.equal(Normalizer()(images[1]), images[0])
    assert torch.equal(losses[0], losses[1])
    assert set(worker_rates(train_set, 1)) == {"sample", "uint8"}
    evaluation = segmentation.TASK.build_dataset(cfg, "val")
    assert evaluation.normalize_images  # an evaluation set always normalises: it cannot send uint8
    with pytest.raises(ConfigError, match="always normalises"):
        evaluation.normalize_images = False


@pytest.mark.parametrize("gpu_targets", [None, True])
def test_the_trainer_tells_the_pose_step_the_options_of_its_device(tmp_path, monkeypatch, gpu_targets):
    """gpu_targets is automatic under CUDA: a CPU run on a machine with a GPU draws its heatmaps in
    the workers, as on a machine without one (the options are resolved once, for the Trainer's device)."""
    cfg = bench_config("pose_hrnet_w18_small_v1", (64, 48), 2, 0, str(tmp_path / "data"), TINY)
    train_set = pose.TASK.build_dataset(cfg, "train")
    model = pose.TASK.build_model(cfg)
    step, _ = pose.TASK.training_step(cfg, model, train_set)
    loader = build_dataloader(train_set, batch_size=2, drop_last=True, collate_fn=pose.TASK.collate)
    monkeypatch.setattr(torch.cuda, "is_available", lambda: True)  # a machine with a GPU; the run on the CPU
    train = {**cfg["train"], "max_epochs": 1, "gpu_targets": gpu_targets, "device_normalize": False}
    trainer = Trainer(model, loader, step, cfg["optimizer"], cfg["schedule"], tmp_path / "run", device="cpu",
                      progress=False, **train)
    assert trainer.speed.gpu_targets is bool(gpu_targets) and not trainer.speed.device_normalize
    assert train_set.draw_targets is not bool(gpu_targets) and train_set.normalize_images is True
    batch = next(iter(loader))
    assert ("target" in batch) is not bool(gpu_targets) and batch["image"].dtype == torch.float32
    assert torch.isfinite(step(trainer.model, batch)["loss"])  # the step takes what the workers send
