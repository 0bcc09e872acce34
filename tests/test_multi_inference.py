"""The multi-task model through its predictor: `hrseg infer multi` on held-out COCO photographs
writes every head's output at the photograph's size, and `POST /v1/multi` answers what it writes."""
from __future__ import annotations

import base64
import json
from pathlib import Path

import cv2
import numpy as np
import pytest
import torch

import hrseg
from hrseg.commands import infer_multi
from hrseg.meta.keypoints import COCO_PERSON
from hrseg.tasks import multi
from hrseg.utils.image_io import read_image

SCENE = ["road", "sidewalk", "building", "vegetation", "sky", "person", "car"]


@pytest.fixture(scope="module")
def checkpoint(tmp_path_factory) -> Path:
    """The mini recipe's model with non-trivial random weights, one class (person: every detection
    has keypoints), COCO's 17 keypoints and the synthetic streets' seven scene classes."""
    from conftest import randomize_weights

    cfg = multi.load_multi_config("multi/synthetic_mini", ["model.num_classes=2", "model.num_keypoints=17",
                                                           "model.keypoint_label=1"])
    cfg.update(classes=[{"id": 1, "name": "person"}], keypoints=COCO_PERSON.to_dict(), semantic_classes=SCENE)
    torch.manual_seed(0)
    model = randomize_weights(multi.TASK.build_model(cfg))
    path = tmp_path_factory.mktemp("multi") / "multi.pth"
    return hrseg.save_checkpoint(path, model, meta={"config": cfg, "model": multi.TASK.model_meta(cfg)})


def test_infer_multi_writes_every_head_at_the_photo_size(checkpoint, shared_data, tmp_path):
    photos = sorted((shared_data / "coco_mini" / "images").glob("*.jpg"))[:2]
    out = tmp_path / "out"
    assert infer_multi.main([*map(str, photos), "--weights", str(checkpoint), "--out", str(out),
                             "--score-thr", "0.05"]) == 0
    for photo in photos:
        h, w = read_image(photo).shape[:2]
        doc = json.loads((out / f"{photo.stem}_multi.json").read_text())
        assert (doc["width"], doc["height"]) == (w, h) and doc["detections"], photo.name
        assert doc["keypoint_names"] == list(COCO_PERSON.names) and doc["box_format"] == "xyxy"
        for det in doc["detections"]:
            assert det["name"] == "person" and len(det["keypoints"]) == 17
            assert tuple(det["segmentation"]["size"]) == (h, w)  # the instance mask, RLE at the photo's size
        labels = cv2.imread(str(out / f"{photo.stem}_labels.png"), cv2.IMREAD_UNCHANGED)
        assert labels.shape == (h, w) and labels.max() < len(SCENE)
        assert {c["name"] for c in doc["classes"]} <= set(SCENE)
        assert sum(c["pixels"] for c in doc["classes"]) == h * w
        assert cv2.imread(str(out / f"{photo.stem}_multi.png")).shape == (h, w, 3)


def test_service_multi_route_answers_what_infer_writes(checkpoint, shared_data, tmp_path):
    pytest.importorskip("fastapi", reason="the service's extra is not installed")
    pytest.importorskip("httpx", reason="httpx (the service's extra) is not installed")
    from fastapi.testclient import TestClient

    from hrseg.serve.app import create_app
    from hrseg.serve.models import load_model

    photo = sorted((shared_data / "coco_mini" / "images").glob("*.jpg"))[0]
    out = tmp_path / "out"
    assert infer_multi.main([str(photo), "--weights", str(checkpoint), "--out", str(out), "--score-thr", "0.05"]) == 0
    want = json.loads((out / f"{photo.stem}_multi.json").read_text())
    served = load_model("multi", str(checkpoint), score_thr=0.05)
    with TestClient(create_app({"multi": served})) as client:
        r = client.post("/v1/multi", content=photo.read_bytes(), headers={"content-type": "image/jpeg"})
        assert r.status_code == 200, r.text
        body = r.json()
        assert client.get("/v1/models").json()["models"]["multi"]["heads"] == \
            {"boxes": True, "masks": True, "keypoints": True, "segmentation": True}
    assert len(body["detections"]) == len(want["detections"]) > 0
    for got, expected in zip(body["detections"], want["detections"]):  # the same eager model: the same numbers
        assert got["bbox"] == pytest.approx(expected["bbox"], abs=1e-4) and got["keypoints"] == expected["keypoints"]
    labels = cv2.imdecode(np.frombuffer(base64.b64decode(body["label_map_png"]), np.uint8), cv2.IMREAD_UNCHANGED)
    np.testing.assert_array_equal(labels, cv2.imread(str(out / f"{photo.stem}_labels.png"), cv2.IMREAD_UNCHANGED))


def test_the_heads_run_only_for_what_a_predictor_reports(checkpoint, shared_data):
    """A predictor raises the box head's threshold to the score it reports: the same detections above
    it, their masks and keypoints, with the mask and keypoint heads run for those only."""
    from hrseg.inference.predictor import every_detection
    from hrseg.utils.image_io import read_image as read
    from hrseg.utils.image import to_tensor

    image = read(sorted((shared_data / "coco_mini" / "images").glob("*.jpg"))[0])
    every, cfg = multi.TASK.load_model(checkpoint)  # the model's own threshold (0.05), what evaluation uses
    with torch.no_grad():
        full = every([to_tensor(image)])[0]
    thr = round(float(full["scores"].median()), 3)  # half the detections, whatever the random weights
    predictor = multi.TASK.build_predictor(checkpoint, score_thr=thr)
    heads = predictor.model.roi_heads
    assert every.roi_heads.score_thresh == pytest.approx(0.05) and 0.99 * thr <= heads.score_thresh < thr
    with torch.no_grad():
        out = predictor.runner([to_tensor(image)])[0]
    high, kept = full["scores"] >= thr, out["scores"] >= thr
    assert 0 < int(high.sum()) == int(kept.sum()) and len(out["scores"]) < len(full["scores"])
    assert out["scores"].min() >= 0.99 * thr  # the rest never reached the mask and keypoint heads
    for key in ("boxes", "scores", "labels", "masks", "keypoints", "keypoints_scores"):
        torch.testing.assert_close(out[key][kept], full[key][high], rtol=1e-4, atol=1e-4, msg=key)
    reported = predictor.predict(image)["detections"]
    assert len(reported) == int(high.sum()) and all(len(d["keypoints"]) == 17 for d in reported)
    with torch.no_grad(), every_detection(predictor.runner) as model:  # what the evaluations run in
        again = model([to_tensor(image)])[0]
    torch.testing.assert_close(again["scores"], full["scores"])
    assert 0.99 * thr <= heads.score_thresh < thr  # and back for the predictor
    predictor.configured(score_thr=0.1)
    assert heads.score_thresh == pytest.approx(0.099)  # the lowest threshold of the predictors sharing the model
    predictor.configured(score_thr=0.7)
    assert heads.score_thresh == pytest.approx(0.099)


def _assert_same_predictions(a, b, image):
    """The multi-task predictions ``a`` (eager) and ``b`` (exported) of ``image`` agree."""
    assert len(a["detections"]) == len(b["detections"]) > 0
    twins = np.array([e["bbox"] for e in b["detections"]])
    for d in a["detections"]:  # near-equal scores may come in either order: each to its twin by box
        e = b["detections"][int(np.abs(twins - d["bbox"]).max(1).argmin())]
        assert d["label"] == e["label"] and np.allclose(d["bbox"], e["bbox"], atol=0.05)
        assert np.allclose(list(d["keypoints"].values()), list(e["keypoints"].values()), atol=0.05)
    assert b["labels"].shape == image.shape[:2] and (a["labels"] == b["labels"]).mean() > 0.999


@pytest.mark.slow  # exports a model
def test_the_exported_model_predicts_what_eager_pytorch_does(checkpoint, shared_data, tmp_path, monkeypatch):
    pytest.importorskip("onnxruntime", reason="the onnx extra is not installed")
    monkeypatch.setenv("HRSEG_HOME", str(tmp_path / "home"))  # the export cache
    monkeypatch.setenv("HRSEG_SHARED", str(shared_data.parent))  # the self-check's photograph
    eager = multi.TASK.build_predictor(checkpoint, score_thr=0.3, cfg_options=["test.backend=torch"])
    exported = multi.TASK.build_predictor(checkpoint, score_thr=0.3, cfg_options=["test.backend=onnxruntime"])
    meta = exported.runner.meta  # exported and self-checked on the way
    assert meta["outputs"] == ["boxes", "labels", "scores", "masks", "keypoints", "keypoints_scores", "semantic"]
    assert meta["semantic_classes"] == SCENE and meta["keypoints"]["names"] == list(COCO_PERSON.names)
    image = read_image(sorted((shared_data / "coco_mini" / "images").glob("*.jpg"))[1])  # not the checked one
    b = exported.predict(image)
    _assert_same_predictions(eager.predict(image), b, image)
    # the graph returns only what the predictor reports (masks, keypoints for those alone), as the
    # eager model does once its predictor is made; the predictor refuses to report below the graph's
    assert meta["score_thresh"] == 0.3 and eager.model.roi_heads.own_score_thresh == 0.05
    raw = exported.runner([torch.from_numpy(image).permute(2, 0, 1).float() / 255])[0]
    assert len(raw["scores"]) == len(b["detections"]) and (raw["scores"] >= 0.3).all()
    assert exported.configured(score_thr=0.5).score_thr == 0.5
    with pytest.raises(hrseg.errors.ConfigError, match="score_thr 0.1: the exported graph returns only detections "
                                                       "scoring at least 0.3"):
        exported.configured(score_thr=0.1)


@pytest.mark.slow
def test_an_exported_file_runs_alone_as_the_weights(checkpoint, shared_data, tmp_path, monkeypatch):
    """``hrseg export``'s file given as ``--weights``: every head, with the config it recorded, in
    ``hrseg infer multi`` and ``hrseg test multi`` (its AP that of the checkpoint, to rounding)."""
    pytest.importorskip("onnxruntime", reason="the onnx extra is not installed")
    from conftest import coco_subset, write_json_file

    from hrseg.commands.export import main as export

    monkeypatch.setenv("HRSEG_SHARED", str(shared_data.parent))
    name = multi.load_multi_config("multi/synthetic_mini")["model"]["name"]
    assert export([name, "--weights", str(checkpoint), "--out", str(tmp_path / "m.onnx")]) == 0
    from_file = multi.TASK.build_predictor(tmp_path / "m.onnx", score_thr=0.3)
    eager = multi.TASK.build_predictor(checkpoint, score_thr=0.3, cfg_options=["test.backend=torch"])
    assert from_file.keypoints.names == COCO_PERSON.names and from_file.scene.classes == SCENE
    image = read_image(sorted((shared_data / "coco_mini" / "images").glob("*.jpg"))[1])
    _assert_same_predictions(eager.predict(image), from_file.predict(image), image)
    coco = shared_data / "coco_mini"
    files = {"ann_file": write_json_file(tmp_path / "inst.json", coco_subset(
                 json.loads((coco / "instances.json").read_text()), [790, 12448])),
             "keypoint_file": coco / "person_keypoints.json", "img_dir": coco / "images"}
    cfg = multi.load_multi_config("multi/synthetic_mini", ["test.backend=torch"])
    checked = multi.TASK.test(cfg, checkpoint, tmp_path / "eager", **files)
    cfg["test"]["backend"] = "auto"
    from hrseg.export.runners import Runner

    calls = []
    monkeypatch.setattr(Runner, "forward", lambda runner, x, run=Runner.forward: calls.append(len(x)) or run(runner, x))
    tested = multi.TASK.test(cfg, tmp_path / "m.onnx", tmp_path / "file", **files)
    assert sum(calls) == 2  # both images through the file
    assert set(tested) == set(checked) and {"AP", "mask_AP", "kp_AP"} <= set(tested)
    assert all(tested[k] == pytest.approx(checked[k], abs=0.01) for k in checked), (tested, checked)
