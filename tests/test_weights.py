"""hrseg.weights: the table, the cache and its downloads (file:// URLs only), the safe reader, the
docs page, tools/weights.py and the person detector. Nothing here reaches the network."""
from __future__ import annotations

import hashlib
import os
import sys
from dataclasses import replace
from pathlib import Path

import numpy as np
import pytest
import torch

import hrseg
from hrseg import weights
from hrseg.errors import CheckpointError, ConfigError
from hrseg.tasks import pose
from hrseg.weights import cache_dir, get_weights, list_weights, read_weights, resolve
from hrseg.weights.docs import render_markdown

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO / "tools"))


@pytest.fixture
def home(tmp_path, monkeypatch) -> Path:
    monkeypatch.setenv("HRSEG_HOME", str(tmp_path / "home"))
    return tmp_path / "home"


def _published(tmp_path: Path, record_name: str, payload: bytes, monkeypatch) -> weights.WeightRecord:
    """Serve ``payload`` at a file:// URL under the record's file name; point the record there."""
    record = get_weights(record_name)
    served = tmp_path / "server" / record.url.rsplit("/", 1)[-1]
    served.parent.mkdir(parents=True, exist_ok=True)
    served.write_bytes(payload)
    moved = replace(record, url=served.as_uri())
    monkeypatch.setitem(weights._BY_NAME, record.name, moved)
    return moved


def _hashed_record(monkeypatch, tmp_path, payload: bytes, sha: str):
    """A record whose published hash prefix is ``sha`` (as a file name would carry it)."""
    base = get_weights("pose_hrnet_w32.mmpose1x_coco_256x192")
    served = tmp_path / "server" / f"pose-{sha}_20220909.pth"
    served.parent.mkdir(parents=True, exist_ok=True)
    served.write_bytes(payload)
    moved = replace(base, url=served.as_uri())
    monkeypatch.setitem(weights._BY_NAME, base.name, moved)
    return moved


def _ckpt_bytes(tmp_path: Path) -> bytes:
    path = tmp_path / "w.pth"
    hrseg.save_checkpoint(path, hrseg.build_model("pose_hrnet_w18_small_v1"))
    return path.read_bytes()


def test_table_covers_the_issue_and_names_resolve():
    names = list_weights()
    assert len(names) == len(set(names))
    for width in (32, 48):
        for size in ("256x192", "384x288"):
            for layout in ("mmpose1x", "mmpose0x"):
                assert f"pose_hrnet_w{width}.{layout}_coco_{size}" in names
                assert f"pose_hrnet_w{width}.{layout}_coco_{size}_dark" in names
    for w in ("w18_small_v1", "w18_small_v2", "w18", "w32", "w40", "w48", "w64"):
        assert f"hrnet_{w}.timm_ms_in1k" in names
    assert get_weights("coco", "pose_hrnet_w48").name == "pose_hrnet_w48.mmpose1x_coco_256x192"
    assert get_weights("imagenet", "seg_hrnetv2_ocr_w48").name == "hrnet_w48.timm_ms_in1k"
    assert get_weights("cityscapes", "seg_hrnetv2_w18").layout == "mmseg_fcn"
    assert get_weights("coco", "det_fasterrcnn_hrnetv2p_w32").sha256 == "976a9c15"
    assert get_weights("pose_hrnet_w32.mmpose0x_coco_256x192").sha256 == "c78dce93"
    assert get_weights("seg_hrnetv2_w18.mmseg_cityscapes_160k").sha256 == "221e4a4f"
    with pytest.raises(ConfigError, match="tags for pose_hrnet_w32: coco"):
        get_weights("cityscapes", "pose_hrnet_w32")
    with pytest.raises(ConfigError, match="are for pose_hrnet_w48, not pose_hrnet_w32"):
        get_weights("pose_hrnet_w48.mmpose1x_coco_256x192", "pose_hrnet_w32")


def test_every_record_is_a_file_the_reference_lists(shared_reference):
    """Each record's URL is one the reference table of published files gives, with the record's metric
    in its row (a URL or figure mistyped when the table was written fails here)."""
    import re

    rows = {}
    for line in (shared_reference / "published_weights.md").read_text().splitlines():
        for url in re.findall(r"https?://[^\s|)`]+", line):
            rows.setdefault(url, line)
    for name in list_weights():
        record = get_weights(name)
        assert record.url in rows, f"{name}: {record.url} is not in the reference table"
        figure = re.search(r"\d+\.\d+", record.metric)
        assert figure is None or figure.group(0) in rows[record.url], f"{name}: {record.metric}"
    assert sum(n.startswith(("seg_hrnetv2_w", "seg_hrnetv2_ocr_w")) and ".mmseg_cityscapes_" in n
               for n in list_weights()) == 18  # FCN and OCRNet, W18-Small / W18 / W48, 40k / 80k / 160k


def test_every_record_gives_the_parameter_count_of_the_model_it_fills():
    """A record's ``params_m`` is the model's it fills, built with the record's head options (classes,
    joints, maps a joint): counted on the meta device, each model and options once."""
    from hrseg.models import list_models

    counted: dict[tuple, float] = {}
    for name in list_weights():
        record = get_weights(name)
        if record.model not in list_models():  # torchvision's person detector: not an hrseg model
            continue
        key = (record.model, tuple(sorted(record.model_options().items())))
        if key not in counted:
            with torch.device("meta"):
                model = hrseg.build_model(record.model, **record.model_options())
            counted[key] = round(sum(p.numel() for p in model.parameters()) / 1e6, 2)
        assert counted[key] == record.params_m, f"{name}: {record.params_m}M recorded, the model has {counted[key]}M"
    assert len(counted) >= 27  # models and head options of the table


def test_download_good_hash_then_cached_without_network(tmp_path, home, monkeypatch):
    payload = _ckpt_bytes(tmp_path)
    sha = hashlib.sha256(payload).hexdigest()[:8]
    record = _hashed_record(monkeypatch, tmp_path, payload, sha)
    path = resolve(record.name)
    assert path == cache_dir() / f"pose-{sha}_20220909.pth" and path.read_bytes() == payload
    # no temporary left: the file and the stamp of its hash check (hrseg.weights.cache.checked)
    assert sorted(p.name for p in path.parent.iterdir()) == [path.name, f"{path.name}.verified"]
    (tmp_path / "server" / path.name).unlink()  # "offline": the cached file is used
    assert resolve(record.name) == path


def test_download_bad_hash_leaves_nothing(tmp_path, home, monkeypatch):
    record = _hashed_record(monkeypatch, tmp_path, _ckpt_bytes(tmp_path), "00000000")
    with pytest.raises(CheckpointError) as e:
        resolve(record.name)
    msg = str(e.value)
    assert record.url in msg and "does not match the published 00000000" in msg
    assert str(cache_dir() / "pose-00000000_20220909.pth") in msg
    assert not any(cache_dir().iterdir())


def test_truncated_file(tmp_path, home, monkeypatch):
    payload = _ckpt_bytes(tmp_path)
    sha = hashlib.sha256(payload).hexdigest()[:8]
    record = _hashed_record(monkeypatch, tmp_path, payload[: len(payload) // 2], sha)
    with pytest.raises(CheckpointError, match="does not match"):
        resolve(record.name)
    assert not any(cache_dir().iterdir())
    # Without a published hash (timm) a truncated file is caught when read, naming the cached path.
    record = _published(tmp_path, "hrnet_w18_small_v1.timm_ms_in1k", b"\x00" * 100, monkeypatch)
    with pytest.raises(CheckpointError, match=r"hrnet_w18_small_v1\.timm_ms_in1k\.model\.safetensors: corrupt"):
        weights.load_into(hrseg.build_model("hrnet_w18_small_v1"), record.name)


def test_offline_error_names_url_and_path(tmp_path, home, monkeypatch):
    record = get_weights("pose_hrnet_w32.mmpose1x_coco_256x192")
    unreachable = (tmp_path / "offline" / record.filename).as_uri()  # file:// only: no network in tests
    monkeypatch.setitem(weights._BY_NAME, record.name, replace(record, url=unreachable))
    with pytest.raises(CheckpointError) as e:
        hrseg.build_model("pose_hrnet_w32", weights="coco")
    msg = str(e.value)
    assert f"could not download {unreachable}" in msg
    assert f"put it at {cache_dir() / record.filename}" in msg
    assert not cache_dir().exists() or not any(cache_dir().iterdir())


def test_a_path_stays_a_path(tmp_path, home):
    with pytest.raises(CheckpointError, match="absent.pth: checkpoint file not found"):
        resolve(tmp_path / "absent.pth")
    with pytest.raises(ConfigError, match="unknown weights"):
        resolve("no_such_weights")


def test_a_url_is_downloaded_once_into_the_cache_and_its_hub_hash_checked(tmp_path, home):
    payload = _ckpt_bytes(tmp_path)
    served = tmp_path / "server" / "my_run.pth"
    served.parent.mkdir()
    served.write_bytes(payload)
    path = resolve(served.as_uri())
    assert path.read_bytes() == payload and path.is_relative_to(home) and path.name == "my_run.pth"
    served.unlink()
    assert resolve(served.as_uri()) == path  # cached: not fetched again
    model, _ = pose.TASK.load_model(served.as_uri(), pose.load_pose_config(None, {
        "model.name": "pose_hrnet_w18_small_v1"}))  # what --weights URL does
    assert model.meta["model"] == "pose_hrnet_w18_small_v1"
    good = hashlib.sha256(payload).hexdigest()[:8]
    (tmp_path / "server" / f"w-{good}.pth").write_bytes(payload)
    assert resolve((tmp_path / "server" / f"w-{good}.pth").as_uri()).read_bytes() == payload
    (tmp_path / "server" / "w-0123abcd.pth").write_bytes(payload)  # a torch.hub name whose hash is not its own
    with pytest.raises(CheckpointError, match="does not match the published 0123abcd"):
        resolve((tmp_path / "server" / "w-0123abcd.pth").as_uri())


class _Foreign:
    """Stands for an mmengine object in a checkpoint's meta."""

    def __init__(self):
        self.cfg = {"lr": 0.1}


class _Evil:
    def __reduce__(self):
        return (print, ("this must never run",))


def test_openmmlab_meta_is_read_without_unpickling(tmp_path, capsys):
    state = {"backbone.conv1.weight": torch.randn(4, 3, 3, 3)}
    plain = tmp_path / "plain.pth"
    torch.save({"meta": {"seed": np.int64(3), "sigmas": np.ones(17, np.float32)}, "state_dict": state}, plain,
               _use_new_zipfile_serialization=False)
    assert torch.equal(read_weights(plain)["state_dict"]["backbone.conv1.weight"], state["backbone.conv1.weight"])
    for name, meta in (("foreign.pth", {"obj": _Foreign()}), ("evil.pth", _Evil())):
        path = tmp_path / name
        torch.save({"meta": meta, "state_dict": state}, path)
        obj = read_weights(path)
        assert "meta" not in obj or not isinstance(obj["meta"], (_Foreign, _Evil))
        assert torch.equal(obj["state_dict"]["backbone.conv1.weight"], state["backbone.conv1.weight"])
    assert "this must never run" not in capsys.readouterr().out


def test_docs_page_is_the_generated_one():
    assert (REPO / "docs" / "weights.md").read_text() == render_markdown(), \
        "docs/weights.md is stale: run python tools/weights.py docs"


def test_tool_list_download_verify(tmp_path, home, monkeypatch, capsys):
    import weights as tool  # tools/weights.py

    assert tool.main(["list", "w48", "--model", "pose_hrnet_w48"]) == 0
    out = capsys.readouterr().out
    assert "pose_hrnet_w48.mmpose1x_coco_256x192" in out and "hrnet_w48.timm_ms_in1k" in out and "w32" not in out
    payload = _ckpt_bytes(tmp_path)
    sha = hashlib.sha256(payload).hexdigest()[:8]
    record = _hashed_record(monkeypatch, tmp_path, payload, sha)
    assert tool.main(["download", record.name]) == 0
    path = Path(capsys.readouterr().out.strip())
    assert path.is_file()
    assert tool.main(["verify", str(path)]) == 0
    assert '"layout": "hrseg"' in capsys.readouterr().out


def test_person_detector_keeps_persons_only(tmp_path, home, monkeypatch, shared_data):
    """torchvision's detector file (its layout read by hrseg.weights.detector), then the one person
    filter of hrseg.inference.detection: only label 1 comes out, as [x, y, w, h, score]."""
    from torchvision.models.detection import fasterrcnn_resnet50_fpn_v2

    from hrseg.utils.image_io import read_image

    torch.manual_seed(0)
    model = fasterrcnn_resnet50_fpn_v2(weights=None, weights_backbone=None, num_classes=91, min_size=160,
                                       max_size=160)
    with torch.no_grad():  # a head that puts every box on class 1 (person) or 3 (car), nothing else
        predictor = model.roi_heads.box_predictor.cls_score
        predictor.weight.zero_()
        predictor.bias.fill_(-20)
        predictor.bias[1] = predictor.bias[3] = 5
    path = tmp_path / "det.pth"
    torch.save(model.state_dict(), path)
    from hrseg.weights import detector

    build = detector.build_torchvision_detector

    def small(p, content=None):  # 160 px instead of 800 keeps the test fast; the weights path is the real one
        m = build(p, content)
        m.transform.min_size, m.transform.max_size = (160,), 160
        return m

    monkeypatch.setattr(detector, "build_torchvision_detector", small)
    from hrseg.tasks.person_boxes import load_person_detector

    detect = load_person_detector(path, score_thr=0.0)
    assert detect.name == str(path)
    image = read_image(shared_data / "images" / "zidane.jpg")
    people = detect(image)
    assert people and all(len(p) == 5 and p[2] > 0 and p[3] > 0 for p in people)
    assert abs(sum(p[4] for p in people) / len(people) - 0.5) < 0.05  # person and car split the mass


def test_official_recipes_start_from_imagenet_and_the_mini_splits_from_scratch():
    """The official pose / segmentation recipes name the ImageNet files of the official YAMLs
    (checked against the table, nothing downloaded); the synthetic defaults need no network."""
    from hrseg.tasks.pose import load_pose_config
    from hrseg.tasks.segmentation import load_seg_config

    pose = {p: load_pose_config(p)["model"] for p in sorted((REPO / "configs" / "pose").glob("hrnet_w*_coco_*.py"))}
    seg = {p: load_seg_config(p)["model"] for p in sorted((REPO / "configs" / "seg").glob("*w48*.py"))}
    assert len(pose) == 6 and len(seg) == 13  # W32 / W48 at two sizes, W32's UDP and UDP-regress; Cityscapes (3),
    # Context (4), LIP (2), ADE20K (2), COCO-Stuff (2)
    for path, model in {**pose, **seg}.items():
        record = get_weights(model["pretrained"], model["name"])
        assert record.task == "imagenet" and record.sha256, path
    assert {m["pretrained"] for m in pose.values()} == {"hrnet_w32.msra_imagenet_pose", "hrnet_w48.msra_imagenet_pose"}
    assert get_weights("hrnet_w32.msra_imagenet_pose").url.endswith("hrnet_w32-36af842e.pth")
    assert {m["pretrained"] for m in seg.values()} == {"hrnet_w48.msra_imagenet_v2"}
    assert "pretrained" not in load_pose_config(REPO / "configs" / "pose" / "synthetic_mini.py")["model"]
    assert "pretrained" not in load_seg_config(REPO / "configs" / "seg" / "synthetic_mini.py")["model"]


def test_a_renamed_published_file_is_known_by_its_hash(tmp_path, home, monkeypatch, official_state):
    """A published file saved under another name is recognised by its SHA-256 prefix and loads
    with its record's model and meta; a file no record knows is not guessed."""
    from hrseg.tasks.pose import TASK

    state = {"state_dict": official_state("mmpose1x_hrnet_w32_coco_256x192.json"), "meta": {"epoch": 210}}
    mine = tmp_path / "downloaded.pth"
    torch.save(state, mine)
    assert weights.identify(mine) is None
    record = _hashed_record(monkeypatch, tmp_path, b"unused", hashlib.sha256(mine.read_bytes()).hexdigest()[:8])
    assert weights.identify(mine) == record
    assert weights.identify(tmp_path / "server" / record.filename) == record  # by its file name
    model, cfg = TASK.load_model(mine)
    assert cfg["model"]["name"] == "pose_hrnet_w32" and model.meta["keypoints"]["names"][0] == "nose"
    head = state["state_dict"]["head.final_layer.weight"]
    assert torch.equal(model.head.final_layer.weight, head)


def test_a_file_put_in_the_cache_by_hand_is_hash_checked_once(tmp_path, home, monkeypatch):
    """The offline error says where to put a file: what is put there is checked against the
    published prefix when first used, then trusted by its stamp until it changes."""
    from hrseg.weights import cache

    payload = _ckpt_bytes(tmp_path)
    sha = hashlib.sha256(payload).hexdigest()[:8]
    record = _hashed_record(monkeypatch, tmp_path, b"never downloaded", sha)
    path = cache_dir() / record.filename
    path.parent.mkdir(parents=True)
    path.write_bytes(b"another file")
    with pytest.raises(CheckpointError) as e:
        hrseg.build_model("pose_hrnet_w32", weights=record.name)
    msg = str(e.value)
    assert msg.startswith(f"{path}: ") and sha in msg and hashlib.sha256(b"another file").hexdigest()[:8] in msg
    assert "delete it and download it again" in msg
    hashed = []
    real = cache.sha256_of
    monkeypatch.setattr(cache, "sha256_of", lambda p: hashed.append(p) or real(p))
    path.write_bytes(payload)
    assert resolve(record.name) == path and resolve(record.name) == path and len(hashed) == 1  # hashed once
    path.write_bytes(payload[:-1] + bytes([payload[-1] ^ 1]))  # changed: hashed again, refused
    os.utime(path, ns=(path.stat().st_atime_ns, path.stat().st_mtime_ns + 1_000_000))
    with pytest.raises(CheckpointError, match="not the published"):
        resolve(record.name)
    served = tmp_path / "server" / f"w-{sha}.pth"  # a torch.hub-named URL's cached file: the same check
    served.write_bytes(payload)
    cached = resolve(served.as_uri())
    cached.write_bytes(b"replaced")
    with pytest.raises(CheckpointError, match=f"{cached.name}: SHA-256 starts .*not the published {sha}"):
        resolve(served.as_uri())


def test_tool_list_names_an_unknown_model_or_no_match(home):
    import weights as tool  # tools/weights.py

    with pytest.raises(ConfigError, match="unknown model 'bogus_model'"):
        tool.main(["list", "--model", "bogus_model"])
    with pytest.raises(ConfigError, match="no published weights containing 'nonexist'"):
        tool.main(["list", "nonexist"])


def test_tool_docs_writes_the_clone_page_or_out_never_the_working_directory(tmp_path, monkeypatch, capsys):
    import weights as tool  # tools/weights.py
    from hrseg.weights import docs

    monkeypatch.chdir(tmp_path)
    monkeypatch.setattr(docs, "source_page", lambda: tmp_path / "clone" / "docs" / "weights.md", raising=False)
    assert tool.main(["docs"]) == 0
    assert not (tmp_path / "docs").exists()  # a user's docs/ in the working directory is never touched
    assert (tmp_path / "clone" / "docs" / "weights.md").read_text() == render_markdown()
    monkeypatch.undo()
    assert docs.source_page() == REPO / "docs" / "weights.md"  # this clone's page, wherever it runs from
    monkeypatch.chdir(tmp_path)
    monkeypatch.setattr(docs, "source_page", lambda: None)  # an installed hrseg: no docs/ of its own
    with pytest.raises(ConfigError, match="--out FILE"):
        tool.main(["docs"])
    assert not (tmp_path / "docs").exists()
    assert tool.main(["docs", "--out", str(tmp_path / "page.md")]) == 0
    assert (tmp_path / "page.md").read_text() == render_markdown()
