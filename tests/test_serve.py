"""The HTTP service (hrseg.serve): routes against the task functions on real photographs, every
bad input refused with its 4xx while the service keeps answering, micro-batching, the queue limit,
the load test. Tiny models with random weights (and one checkpoint the test writes) keep it fast."""
from __future__ import annotations

import base64
import dataclasses
import io
import json
import socket
import struct
import threading
import zlib
from pathlib import Path

import numpy as np
import pytest
import torch

pytest.importorskip("fastapi", reason="the service's extra is not installed (pip install -e '.[serve]')")
pytest.importorskip("multipart", reason="python-multipart (the service's extra) is not installed")
pytest.importorskip("httpx", reason="httpx (the service's extra, FastAPI's test client) is not installed")

import cv2  # noqa: E402
from fastapi.testclient import TestClient  # noqa: E402

import hrseg  # noqa: E402
from hrseg.serve.app import create_app  # noqa: E402
from hrseg.serve.batching import BatchedModel, MicroBatcher  # noqa: E402
from hrseg.serve.models import ServedModel, load_model  # noqa: E402
from hrseg.serve.uploads import Limits  # noqa: E402
from hrseg.tasks import detection, pose, segmentation  # noqa: E402
from hrseg.utils.image_io import read_image  # noqa: E402
from hrseg.visualization.pose import draw_poses  # noqa: E402

POSE_OPTIONS = ["data.input_size=[128,96]", "data.heatmap_size=[32,24]"]
LIMITS = Limits(max_bytes=2_000_000, max_pixels=4_000_000)


@pytest.fixture(scope="module")
def photos(shared_data: Path) -> list[Path]:
    coco = sorted((shared_data / "coco_mini" / "images").glob("*.jpg"))[:3]
    return [shared_data / "images" / "zidane.jpg", shared_data / "images" / "astronaut.png", *coco]


DET_SCORE_THR = 0.2  # the person detector's threshold, as --det-score-thr


@pytest.fixture(scope="module")
def checkpoints(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    """A pose, a segmentation and a person detector checkpoint, each recording its config. The
    detector (a Faster R-CNN whose one class is 'person', with non-trivial random weights) finds
    2-3 people in the photographs, so pose cannot pass on the whole-image fallback."""
    from conftest import randomize_weights

    folder = tmp_path_factory.mktemp("serve")
    torch.manual_seed(0)
    cfg = pose.load_pose_config(None, ["model.name=pose_hrnet_w18_small_v1", *POSE_OPTIONS])
    hrseg.save_checkpoint(folder / "pose_small.pth", pose.build_pose_model(cfg["model"]), meta={"config": cfg})
    cfg = segmentation.load_seg_config(None, ["model.name=seg_hrnetv2_w18_small_v1", "test.base_size=192"])
    hrseg.save_checkpoint(folder / "seg_small.pth", segmentation.build_seg_model(cfg["model"]), meta={"config": cfg})
    cfg = detection.load_det_config(None, ["model.name=det_fasterrcnn_hrnetv2p_w18_small_v1", "model.num_classes=2",
                                           "model.min_size=192", "model.max_size=256"])
    cfg["classes"] = [{"id": 1, "name": "person"}]
    hrseg.save_checkpoint(folder / "person_det.pth", randomize_weights(detection.TASK.build_model(cfg)),
                          meta={"config": cfg, "model": detection.TASK.model_meta(cfg)})
    return {"pose": folder / "pose_small.pth", "seg": folder / "seg_small.pth", "det": folder / "person_det.pth"}


@pytest.fixture(scope="module")
def models(checkpoints: dict[str, Path]) -> dict[str, ServedModel]:
    # optimized: no export at start-up (auto would export pose and seg; tested apart below); checkpoints:
    # their recorded configs are used; pose runs the person detector given by file, as `hrseg infer pose`
    return {"pose": load_model("pose", str(checkpoints["pose"]), "optimized", det_weights=str(checkpoints["det"]),
                               det_score_thr=DET_SCORE_THR),
            "seg": load_model("seg", str(checkpoints["seg"]), "optimized"),
            "det": load_model("det", str(checkpoints["det"]))}  # auto: a detector runs eagerly


@pytest.fixture(scope="module")
def client(models):
    with TestClient(create_app(models, max_batch=8, max_wait_ms=100, limits=LIMITS)) as c:
        yield c


def _post(client, route: str, data: bytes, content_type: str = "image/jpeg", **kw):
    return client.post(route, content=data, headers={"content-type": content_type}, **kw)


def _png(image: np.ndarray) -> bytes:
    return cv2.imencode(".png", image)[1].tobytes()


def _assert_people_equal(got: list[dict], want: list[dict], atol: float = 0.0) -> None:
    assert len(got) == len(want)
    for g, w in zip(got, want):
        assert g["bbox"] == pytest.approx(w["bbox"])
        assert g["score"] == pytest.approx(w["score"], abs=max(atol, 1e-6))
        for name, xyz in w["keypoints"].items():
            assert g["keypoints"][name] == pytest.approx(xyz, abs=max(atol, 1e-6)), name


def _infer(task: str, photo: Path, out: Path, *args: str) -> Path:
    """``hrseg infer TASK photo --out out ...``, as a user runs it."""
    from hrseg.commands import infer_det, infer_pose, infer_seg

    main = {"pose": infer_pose.main, "seg": infer_seg.main, "det": infer_det.main}[task]
    assert main([str(photo), "--out", str(out), *args]) == 0
    return out


def test_routes_answer_what_hrseg_infer_writes(client, checkpoints, photos, tmp_path):
    """The service and `hrseg infer` predict through the same predictor: for the same photograph,
    weights and options, the same people (from the same person detector, named in the answer),
    detections and label map."""
    for path in photos[:2]:  # a JPEG and a PNG
        image, data = read_image(path), path.read_bytes()
        kind = "image/png" if path.suffix == ".png" else "image/jpeg"
        h, w = image.shape[:2]

        out = _infer("pose", path, tmp_path / "pose", "--weights", str(checkpoints["pose"]), "--det-weights",
                     str(checkpoints["det"]), "--det-score-thr", str(DET_SCORE_THR), "--backend", "optimized")
        want = json.loads((out / f"{path.stem}_pose.json").read_text())
        r = _post(client, "/v1/pose", data, kind)
        assert r.status_code == 200, r.text
        body = r.json()
        assert (body["width"], body["height"]) == (w, h) and body["timing_ms"]["total"] > 0
        assert body["detector"] == want["detector"] == str(checkpoints["det"])
        assert len(want["people"]) >= 2  # the detector's people, not the whole image
        _assert_people_equal(body["people"], want["people"], atol=1e-4)

        out = _infer("seg", path, tmp_path / "seg", "--weights", str(checkpoints["seg"]), "--backend", "optimized")
        want_labels = cv2.imread(str(out / f"{path.stem}_labels.png"), cv2.IMREAD_UNCHANGED)
        r = client.post("/v1/seg", files={"image": (path.name, data, kind)})  # a multipart form this time
        assert r.status_code == 200, r.text
        labels = cv2.imdecode(np.frombuffer(base64.b64decode(r.json()["label_map_png"]), np.uint8),
                              cv2.IMREAD_UNCHANGED)
        np.testing.assert_array_equal(labels, want_labels)
        areas = {c["id"]: c["pixels"] for c in r.json()["classes"]}
        assert sum(areas.values()) == h * w
        assert areas == {int(i): int(n) for i, n in enumerate(np.bincount(want_labels.ravel())) if n}

        out = _infer("det", path, tmp_path / "det", "--weights", str(checkpoints["det"]), "--score-thr", "0.01")
        want = json.loads((out / f"{path.stem}_det.json").read_text())
        r = _post(client, "/v1/det?score_thr=0.01", data, kind)
        assert r.status_code == 200, r.text
        assert len(want["detections"]) > 0  # random weights, low threshold: boxes to compare
        got = r.json()["detections"]
        assert [d["name"] for d in got] == [d["name"] for d in want["detections"]]
        for g, d in zip(got, want["detections"]):
            assert g["bbox"] == pytest.approx(d["bbox"], abs=1e-4) and g["score"] == pytest.approx(d["score"], abs=1e-4)


def test_render_returns_the_tools_overlay(client, models, photos):
    path = photos[0]
    image = read_image(path)
    r = _post(client, "/v1/pose?render=1&kpt_thr=0.0", path.read_bytes())
    assert r.status_code == 200 and r.headers["content-type"] == "image/png"
    assert "predict;dur=" in r.headers["server-timing"]
    got = cv2.cvtColor(cv2.imdecode(np.frombuffer(r.content, np.uint8), cv2.IMREAD_COLOR), cv2.COLOR_BGR2RGB)
    people = _post(client, "/v1/pose", path.read_bytes()).json()["people"]
    np.testing.assert_array_equal(got, draw_poses(image, people, 0.0))
    for route in ("/v1/seg?render=1", "/v1/det?render=1"):
        r = _post(client, route, path.read_bytes())
        assert r.status_code == 200 and r.content[:8] == b"\x89PNG\r\n\x1a\n"
        assert cv2.imdecode(np.frombuffer(r.content, np.uint8), cv2.IMREAD_COLOR).shape == image.shape


def _png_header_only(width: int, height: int) -> bytes:
    """A PNG that declares width x height pixels but carries almost no data: a decompression bomb
    as far as the header goes (it must be refused before anything is decoded)."""
    def chunk(kind: bytes, payload: bytes) -> bytes:
        return struct.pack(">I", len(payload)) + kind + payload + struct.pack(">I", zlib.crc32(kind + payload))
    ihdr = struct.pack(">IIBBBBB", width, height, 8, 0, 0, 0, 0)
    return b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", ihdr) + chunk(b"IDAT", zlib.compress(b"\0" * 64)) + chunk(b"IEND", b"")


def test_bad_input_gets_its_4xx_and_the_service_keeps_answering(client, photos):
    good = photos[0].read_bytes()
    gif = io.BytesIO()
    __import__("PIL.Image").Image.new("RGB", (32, 32)).save(gif, format="GIF")
    cases = [
        (lambda: _post(client, "/v1/pose", b""), 400, "empty_image"),
        (lambda: _post(client, "/v1/pose", b"not an image at all"), 400, "corrupt_image"),
        (lambda: _post(client, "/v1/pose", good[:2000]), 400, "corrupt_image"),  # a truncated JPEG
        (lambda: _post(client, "/v1/pose", _png(np.zeros((64, 64), np.uint8))[:60], "image/png"), 400, "corrupt_image"),
        (lambda: _post(client, "/v1/pose", gif.getvalue(), "image/gif"), 415, "unsupported_media_type"),
        (lambda: _post(client, "/v1/pose", gif.getvalue(), "image/png"), 415, "unsupported_image"),
        (lambda: _post(client, "/v1/pose", good, "text/plain"), 415, "unsupported_media_type"),
        (lambda: client.post("/v1/pose", content=good), 415, "unsupported_media_type"),
        (lambda: _post(client, "/v1/pose", good + b"\0" * LIMITS.max_bytes), 413, "request_too_large"),
        (lambda: _post(client, "/v1/pose", _png_header_only(50_000, 50_000), "image/png"), 413, "too_many_pixels"),
        (lambda: _post(client, "/v1/pose", _png(np.zeros((4, 4, 3), np.uint8)), "image/png"), 400, "image_too_small"),
        (lambda: client.post("/v1/pose", files={"photo": ("a.jpg", good, "image/jpeg")}), 400, "missing_image"),
        (lambda: client.post("/v1/pose", data={"image": "/etc/passwd"}, files={"x": ("x", b"x")}), 400,
         "missing_image"),
        (lambda: _post(client, "/v1/pose", b"--x\r\nbroken", "multipart/form-data; boundary=x"), 400, None),
        (lambda: _post(client, "/v1/det?score_thr=2", good), 400, "bad_parameter"),
        (lambda: _post(client, "/v1/pose?path=/etc/passwd", good), 400, "bad_parameter"),
        (lambda: _post(client, "/v1/pose?render=maybe", good), 400, "bad_parameter"),
        (lambda: _post(client, "/v1/keypoints", good), 404, "unknown_task"),
    ]
    for send, status, code in cases:
        r = send()
        assert r.status_code == status, (code, r.status_code, r.text)
        error = r.json()["error"]
        assert error["message"] and (code is None or error["code"] == code), error
        assert client.get("/healthz").status_code == 200
    r = _post(client, "/v1/pose", good)
    assert r.status_code == 200 and len(r.json()["people"]) >= 1
    assert client.get("/healthz").json()["pending"] == 0  # every refused request left the queue


def test_a_parameter_the_route_does_not_take_is_400_naming_those_it_takes(client, photos):
    """Each route takes the flags and its task predictor's options (Predictor.options), nothing
    else: another task's threshold is refused as an unknown name is, not silently ignored."""
    good = photos[0].read_bytes()
    for route, name, takes in (("/v1/pose", "score_thr", "render, overlay, kpt_thr"),
                               ("/v1/seg", "kpt_thr", "render, overlay"),
                               ("/v1/seg", "score_thr", "render, overlay"),
                               ("/v1/det", "kpt_thr", "render, overlay, score_thr"),
                               ("/v1/pose", "foo", "render, overlay, kpt_thr")):
        r = _post(client, f"{route}?{name}=0.5", good)
        assert r.status_code == 400, (route, name, r.text)
        error = r.json()["error"]
        assert error["code"] == "bad_parameter"
        assert error["message"] == f"POST {route} takes no parameter {name!r}; it takes {takes}", error
    for route in ("/v1/pose?kpt_thr=0.5", "/v1/det?score_thr=0.5", "/v1/seg?overlay=0"):  # what they take
        assert _post(client, route, good).status_code == 200, route


def test_the_frameworks_own_errors_have_the_services_shape(photos):
    """A method a route does not take (405), a path no route serves (404), a route's declared
    parameter rejected (422) and a crash outside the prediction (500) answer
    {"error": {"code", "message"}} as every refusal of the service does."""
    app = create_app({}, limits=LIMITS)

    @app.get("/probe/{n}")
    def probe(n: int) -> dict:  # a typed parameter: FastAPI's own validation answers 422
        if n == 0:
            raise RuntimeError("boom")
        return {"n": n}

    with TestClient(app, raise_server_exceptions=False) as c:
        cases = [(c.get("/v1/pose"), 405, "method_not_allowed",
                  "GET /v1/pose: method not allowed; this route takes POST"),
                 (c.delete("/healthz"), 405, "method_not_allowed",
                  "DELETE /healthz: method not allowed; this route takes GET"),
                 (c.get("/no/such/page"), 404, "not_found", "GET /no/such/page: not found"),
                 (c.get("/probe/x"), 422, "invalid_request", "GET /probe/x: path.n: Input should be a valid integer"),
                 (c.get("/probe/0"), 500, "internal_error", "GET /probe/0 failed; see the server log")]
        for r, status, code, message in cases:
            body = r.json()  # the message's start: pydantic words its own part
            assert r.status_code == status and list(body) == ["error"] and set(body["error"]) == {"code", "message"}
            assert body["error"]["code"] == code and body["error"]["message"].startswith(message), body
        assert c.get("/v1/pose").headers["allow"] == "POST"
        assert c.get("/probe/3").json() == {"n": 3} and c.get("/healthz").status_code == 200


def test_serve_refuses_a_port_in_use_in_one_line(capsys, caplog, monkeypatch):
    """`hrseg serve --port N` with N taken: one `error:` line and exit 2, before the models load
    and any "serving" line (not the server's bind failure after it)."""
    import logging

    from hrseg.cli import run_cli
    from hrseg.commands import serve as command

    def not_now(*args, **kwargs):
        raise AssertionError("the models were loaded before the port was checked")

    monkeypatch.setattr(command, "load_models", not_now)
    main = command.main
    caplog.set_level(logging.INFO, logger="hrseg")
    with socket.create_server(("127.0.0.1", 0)) as taken:
        port = taken.getsockname()[1]
        rc = run_cli(lambda: main(["--pose", "pose_hrnet_w18_small_v1", "--pose-options", *POSE_OPTIONS,
                                   "--backend", "optimized", "--port", str(port)]))
    assert rc == 2
    err = capsys.readouterr().err
    assert err.startswith(f"error: port {port} on 127.0.0.1 is in use") and err.count("\n") == 1, err
    assert "serving" not in caplog.text


def test_missing_model_is_404_and_a_crash_is_500_without_ending_the_service(models, photos):
    class Broken(torch.nn.Module):
        def __init__(self) -> None:
            super().__init__()
            self.w = torch.nn.Parameter(torch.zeros(1))

        def forward(self, x):
            raise RuntimeError("boom")

    broken = dataclasses.replace(models["det"], name="broken", predictor=models["det"].predictor.with_runner(Broken()))
    with TestClient(create_app({"pose": models["pose"], "det": broken}, limits=LIMITS)) as c:
        good = photos[0].read_bytes()
        r = _post(c, "/v1/seg", good)
        assert r.status_code == 404 and r.json()["error"]["code"] == "model_not_loaded"
        assert "--seg" in r.json()["error"]["message"]
        for _ in range(2):
            r = _post(c, "/v1/det", good)
            assert r.status_code == 500 and r.json()["error"]["code"] == "internal_error"
        assert _post(c, "/v1/pose", good).status_code == 200
        assert set(c.get("/v1/models").json()["models"]) == {"pose", "det"}


def test_a_threshold_under_the_exported_graphs_is_400(models, photos):
    """An exported detector graph returns nothing under its recorded threshold (score_floor): a
    request asking for less is the request's fault, named, not a 500 or silently fewer boxes."""
    floored = models["det"].predictor.configured()
    floored.score_floor = 0.3
    served = dataclasses.replace(models["det"], name="floored", predictor=floored)
    with TestClient(create_app({"det": served}, limits=LIMITS)) as c:
        r = _post(c, "/v1/det?score_thr=0.1", photos[0].read_bytes())
        assert r.status_code == 400 and r.json()["error"]["code"] == "bad_parameter"
        assert "returns only detections scoring at least 0.3" in r.json()["error"]["message"]
        assert _post(c, "/v1/det?score_thr=0.5", photos[0].read_bytes()).status_code == 200


def _concurrently(fns):
    results = [None] * len(fns)

    def run(i):
        results[i] = fns[i]()
    threads = [threading.Thread(target=run, args=(i,)) for i in range(len(fns))]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    return results


def test_micro_batching_gives_each_client_its_own_result(checkpoints, photos):
    """Concurrent requests share forwards; each gets the predictor's own answer. (No person detector
    here, offline: one whole-image crop per photograph, so the rows are known.)"""
    served = load_model("pose", str(checkpoints["pose"]), "optimized")
    images = [read_image(p) for p in photos]
    datas = [_png(cv2.cvtColor(im, cv2.COLOR_RGB2BGR)) for im in images]
    with TestClient(create_app({"pose": served}, max_batch=8, max_wait_ms=100, limits=LIMITS)) as client:
        batcher = client.app.state.batcher
        responses = _concurrently([lambda d=d: _post(client, "/v1/pose", d, "image/png") for d in datas])
        calls, crops = batcher.forwards, batcher.rows
    assert [r.status_code for r in responses] == [200] * len(datas)
    assert crops == 2 * len(datas)  # one crop per image, and its mirror image (flip test)
    assert calls < crops, f"{crops} crops in {calls} forwards: nothing was batched"
    for image, r in zip(images, responses):
        h, w = image.shape[:2]
        assert (r.json()["width"], r.json()["height"]) == (w, h) and r.json()["detector"] == "whole image"
        _assert_people_equal(r.json()["people"], served.predictor(image), atol=1e-3)


def test_batcher_groups_by_shape_and_splits_every_output():
    class Heads(torch.nn.Module):
        def forward(self, x):
            return [x * 2, x.flatten(1).sum(1)]

    model, batcher = Heads(), MicroBatcher(max_batch=16, max_wait_ms=200)
    batched = BatchedModel(model, batcher)
    inputs = [torch.randn(2, 3, 4, 4), torch.randn(1, 3, 4, 4), torch.randn(3, 3, 5, 4), torch.randn(1, 3, 4, 4)]
    try:
        outs = _concurrently([lambda x=x: batched(x) for x in inputs])
        for x, (twice, total) in zip(inputs, outs):
            torch.testing.assert_close(twice, x * 2)
            torch.testing.assert_close(total, x.flatten(1).sum(1))
        assert batcher.rows == 7 and batcher.forwards < 4  # the 4x4 inputs shared a forward
    finally:
        batcher.close()


def test_queue_limit_answers_429_with_retry_after(models, photos):
    release, entered = threading.Event(), threading.Event()

    class Gate(torch.nn.Module):
        def __init__(self, inner):
            super().__init__()
            self.inner = inner

        def forward(self, x):
            entered.set()
            release.wait(30)
            return self.inner(x)

    p = models["pose"]
    gated = dataclasses.replace(p, predictor=p.predictor.with_runner(Gate(p.predictor.runner)))
    good = photos[0].read_bytes()
    with TestClient(create_app({"pose": gated}, max_batch=1, max_queue=1, limits=LIMITS)) as c:
        first: list = []
        t = threading.Thread(target=lambda: first.append(_post(c, "/v1/pose", good)))
        t.start()
        assert entered.wait(30)
        refused = [_post(c, "/v1/pose", good) for _ in range(3)]
        release.set()
        t.join()
        assert first[0].status_code == 200
        for r in refused:
            assert r.status_code == 429 and r.json()["error"]["code"] == "queue_full"
            assert int(r.headers["retry-after"]) >= 1
        assert c.get("/healthz").json()["rejected"] == 3
        assert _post(c, "/v1/pose", good).status_code == 200  # the queue is free again


def test_page_and_models(client):
    r = client.get("/")
    assert r.status_code == 200 and "text/html" in r.headers["content-type"]
    assert 'id="file"' in r.text and "/v1/models" in r.text and "getUserMedia" in r.text
    meta = client.get("/v1/models").json()["models"]
    assert meta["pose"]["input_size"] == [128, 96] and meta["pose"]["weights"].endswith("pose_small.pth")
    assert len(meta["pose"]["keypoint_names"]) == 17 and meta["seg"]["classes"][0] == "road"
    assert meta["det"]["classes"] == ["person"] and meta["det"]["weights"].endswith("person_det.pth")
    assert meta["pose"]["detector"].endswith("person_det.pth")
    assert [meta[t]["backend"] for t in ("pose", "seg", "det")] == ["optimized", "optimized", "torch"]
    assert meta["pose"]["dtype"] == "float32" and meta["pose"]["parameters"] > 1_000_000


def test_load_test_counts_every_request(models, photos):
    from hrseg.serve.loadtest import run_load_test
    from hrseg.serve.server import serve_in_thread

    with serve_in_thread(create_app({"pose": models["pose"]}, max_batch=4, limits=LIMITS)) as url:
        result = run_load_test(f"{url}/v1/pose", photos[1], clients=3, requests=7)
    assert result["ok"] == 7 and result["lost"] == 0 and result["rejected_429"] == 0
    assert 0 < result["p50_ms"] <= result["p99_ms"] and result["throughput_rps"] > 0


def test_tools_refuse_bad_arguments_in_one_line(capsys, photos):
    import importlib.util

    from hrseg.cli import run_cli

    def tool(name):
        spec = importlib.util.spec_from_file_location(name, Path(__file__).parents[1] / "tools" / f"{name}.py")
        mod = importlib.util.module_from_spec(spec)
        spec.loader.exec_module(mod)
        return mod.main

    assert run_cli(lambda: tool("serve")([])) == 2
    assert "no model to serve" in capsys.readouterr().err
    assert run_cli(lambda: tool("serve")(["--pose", "no_such_model_or_file"])) == 2
    assert "neither a checkpoint file nor a model name" in capsys.readouterr().err
    with pytest.raises(SystemExit) as exit_:
        tool("serve")(["--pose", "pose_hrnet_w18_small_v1", "--backend", "eager"])
    assert exit_.value.code == 2
    assert "invalid choice: 'eager'" in capsys.readouterr().err  # the tools' backend names only
    assert run_cli(lambda: tool("serve")(["--seg", "seg_hrnetv2_w18_small_v1", "--dtype", "bfloat16"])) == 2
    assert "segmentation runs float32 only" in capsys.readouterr().err
    assert run_cli(lambda: tool("load_test")(["--url", "http://192.0.2.1:80/v1/pose", "--image", str(photos[0])])) == 2
    assert "not a loopback address" in capsys.readouterr().err


def test_backends_are_the_tools_and_unknown_ones_are_one_clear_error(models):
    from hrseg.backends import BACKENDS
    from hrseg.errors import ConfigError
    from hrseg.serve.models import _options

    assert _options("pose", None, "bfloat16", ["test.flip=False"]) == \
        ["test.backend=auto", "test.dtype=bfloat16", "test.flip=False"]
    for backend in BACKENDS:  # every one of the tools' names is a setting of the task config
        assert _options("seg", backend, "float32", [])[0] == f"test.backend={backend}"
    with pytest.raises(ConfigError, match="unknown backend 'eager'; choose one of torch, optimized, compiled, "
                                          "onnxruntime, openvino, auto"):
        load_model("pose", "pose_hrnet_w18_small_v1", "eager")
    with pytest.raises(ConfigError, match="unknown dtype 'float16'"):
        load_model("pose", "pose_hrnet_w18_small_v1", "optimized", dtype="float16")
    with pytest.raises(ConfigError, match="--dtype bfloat16: detection runs float32 only"):
        load_model("det", "det_fcos_hrnetv2p_w18_small_v1", dtype="bfloat16")
    with pytest.raises(ConfigError, match="a detector runs eagerly.*--det-options test.backend=torch"):
        load_model("det", "det_fcos_hrnetv2p_w18_small_v1", "optimized",
                   cfg_options=["model.min_size=192", "model.max_size=256"])
    det = load_model("det", "det_fcos_hrnetv2p_w18_small_v1", "optimized",  # the user's option wins
                     cfg_options=["model.min_size=192", "model.max_size=256", "test.backend=torch"])
    assert det.predictor.describe()["backend"] == "torch" and det.predictor.runner is not None


def test_onnxruntime_backend_serves_the_keypoints_of_torch(tmp_path, photos, shared_data, monkeypatch, caplog):
    """The service on an exported model (ONNX Runtime, exported at start-up into the cache) gives
    torch's keypoints within the export tolerance (hrseg.export.check: one heatmap cell, scores to
    1e-3 of their range); ``auto`` runs what the tools' auto picks, from that cache."""
    import logging

    from conftest import randomize_weights

    from hrseg import backends
    from hrseg.export.check import TOLERANCES
    from hrseg.geometry import box_to_center_scale

    monkeypatch.setenv("HRSEG_SHARED", str(shared_data.parent))
    cfg = pose.load_pose_config(None, ["model.name=pose_hrnet_w18_small_v1", *POSE_OPTIONS])
    ckpt = tmp_path / "pose_random.pth"  # non-trivial heatmaps: real peaks to compare
    hrseg.save_checkpoint(ckpt, randomize_weights(pose.build_pose_model(cfg["model"])), meta={"config": cfg})
    served = {b: load_model("pose", str(ckpt), b) for b in ("torch", "onnxruntime")}
    assert served["onnxruntime"].predictor.describe()["backend"] == "onnxruntime"
    assert type(served["onnxruntime"].predictor.runner).__name__ == "OnnxRuntimeRunner"
    tol = TOLERANCES["float32"]
    (h_in, w_in), w_out = cfg["data"]["input_size"], cfg["data"]["heatmap_size"][1]
    for path in photos[:2]:
        data, image = path.read_bytes(), read_image(path)
        h, w = image.shape[:2]
        people = {}
        for backend, m in served.items():
            with TestClient(create_app({"pose": m}, max_batch=4, limits=LIMITS)) as c:
                r = _post(c, "/v1/pose", data, "image/png" if path.suffix == ".png" else "image/jpeg")
                assert r.status_code == 200, r.text
                people[backend] = r.json()["people"]
                assert r.json()["detector"] == "whole image"  # offline: the fallback, as the tools
        (ref,), (out,) = people["torch"], people["onnxruntime"]
        _, scale = box_to_center_scale(0, 0, w, h, w_in / h_in)
        cell = scale[0] * 200.0 / w_out  # one heatmap pixel in image pixels
        names = list(ref["keypoints"])
        a = np.array([ref["keypoints"][k] for k in names])
        b = np.array([out["keypoints"][k] for k in names])
        within = np.linalg.norm(a[:, :2] - b[:, :2], axis=1) <= cell
        assert within.mean() >= tol["keypoints"], (path.name, np.abs(a - b).max(0))
        assert np.abs(a[:, 2] - b[:, 2]).max() <= tol["max_rel"] * np.abs(a[:, 2]).max()
    monkeypatch.setattr(backends, "installed", lambda module: module == "onnxruntime")
    with caplog.at_level(logging.INFO, logger="hrseg"):
        auto = load_model("pose", str(ckpt))  # the default: auto, as the tools
    assert auto.predictor.describe()["backend"] == "onnxruntime"
    assert "backend: onnxruntime (fastest installed" in caplog.text
    assert "exporting" not in caplog.text  # the same weights: from the export cache
