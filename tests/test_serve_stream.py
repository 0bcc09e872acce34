"""The live pose stream (``/v1/pose/stream``, hrseg.serve.stream) through FastAPI's test client:
frames of a small clip of moving blocks (a person detector that finds the blocks gives the boxes)
come back with the people ``hrseg infer pose --track --smooth`` would give, ids kept; a bad frame
gets an error message and the stream goes on; two connections have their own trackers; a service
without the [track] extra, without a pose model or with a full queue says so on the socket."""
from __future__ import annotations

import sys

import cv2
import numpy as np
import pytest
import torch

pytest.importorskip("fastapi", reason="the service's extra is not installed (pip install -e '.[serve]')")
pytest.importorskip("httpx", reason="httpx (the service's extra, FastAPI's test client) is not installed")

from fastapi.testclient import TestClient  # noqa: E402
from starlette.websockets import WebSocketDisconnect  # noqa: E402

import hrseg  # noqa: E402
from hrseg.serve.app import create_app  # noqa: E402
from hrseg.serve.models import ServedModel, load_model  # noqa: E402
from hrseg.serve.stream import CLOSE_UNAVAILABLE, STREAM_ROUTE  # noqa: E402
from hrseg.serve.uploads import Limits, decode_upload  # noqa: E402
from hrseg.tasks import pose  # noqa: E402

POSE_OPTIONS = ["model.name=pose_hrnet_w18_small_v1", "data.input_size=[128,96]", "data.heatmap_size=[32,24]"]
HEIGHT, WIDTH = 160, 240
BLOCK_SCORE = 0.9


class BlockDetector:
    """A person detector for the clip: each bright block is a person, ``[x, y, w, h, score]``."""

    name = "block detector"

    def __call__(self, image: np.ndarray) -> list[list[float]]:
        count, _, stats, _ = cv2.connectedComponentsWithStats((image.max(axis=2) > 128).astype(np.uint8))
        return [[float(x), float(y), float(w), float(h), BLOCK_SCORE] for x, y, w, h, area in stats[1:count]
                if area > 100]


def clip(blocks: list[tuple[int, int, int]], frames: int) -> list[bytes]:
    """JPEG frames of 40x90 blocks, each ``(x, y, dx)``: starting at x, y, moving dx pixels a frame."""
    out = []
    for t in range(frames):
        image = np.full((HEIGHT, WIDTH, 3), 30, np.uint8)
        for k, (x, y, dx) in enumerate(blocks):
            image[y:y + 90, x + dx * t:x + dx * t + 40] = (220, 200 - 60 * k, 90 + 60 * k)
        ok, jpeg = cv2.imencode(".jpg", cv2.cvtColor(image, cv2.COLOR_RGB2BGR), [cv2.IMWRITE_JPEG_QUALITY, 95])
        assert ok
        out.append(jpeg.tobytes())
    return out


TWO_WALKERS = clip([(10, 40, 3), (180, 50, -2)], 8)  # apart all along: ids from boxes alone
THREE_WALKERS = clip([(5, 20, 2), (90, 60, 1), (190, 30, -1)], 8)


@pytest.fixture(scope="module")
def served(tmp_path_factory: pytest.TempPathFactory) -> ServedModel:
    """A pose checkpoint whose keypoints score about 0.5 (so the tracker's OKS and the smoother
    use them) and wander from frame to frame (so smoothing moves them); optimized: no export."""
    from conftest import randomize_weights

    cfg = pose.load_pose_config(None, POSE_OPTIONS)
    model = randomize_weights(pose.build_pose_model(cfg["model"]))
    with torch.no_grad():
        model.head.final_layer.bias.add_(0.5)
    path = tmp_path_factory.mktemp("stream") / "pose.pth"
    hrseg.save_checkpoint(path, model, meta={"config": cfg})
    return load_model("pose", str(path), "optimized", person_detector=BlockDetector())


@pytest.fixture(scope="module")
def client(served):
    with TestClient(create_app({"pose": served}, max_batch=8, max_wait_ms=5, limits=Limits())) as c:
        yield c


def by_x(answer: dict) -> list[dict]:
    return sorted(answer["people"], key=lambda p: p["bbox"][0])


def keypoints(person: dict) -> np.ndarray:
    return np.array(list(person["keypoints"].values()))


def ids_by_x(answers: list[dict]) -> set[tuple]:
    """The track ids of each frame's people from left to right: one tuple when the ids stay."""
    return {tuple(p["track_id"] for p in by_x(a)) for a in answers}


def stream(ws, frames: list[bytes]) -> list[dict]:
    out = []
    for data in frames:
        ws.send_bytes(data)
        out.append(ws.receive_json())
    return out


def test_stream_answers_what_the_tools_give_with_ids_that_stay(client, served):
    pytest.importorskip("trackers", reason="tracking needs the [track] extra")
    with client.websocket_connect(STREAM_ROUTE) as ws:
        answers = stream(ws, TWO_WALKERS)
    assert [a["frame"] for a in answers] == list(range(len(TWO_WALKERS)))
    for a in answers:
        assert (a["task"], a["width"], a["height"], a["detector"]) == ("pose", WIDTH, HEIGHT, "block detector")
        assert set(a["timing_ms"]) == {"decode", "predict", "track", "total"}
    assert ids_by_x(answers) in ({(1, 2)}, {(2, 1)})  # each walker keeps its id in every frame
    # the same people, ids and smoothed keypoints as `hrseg infer pose --track --smooth` frame by frame
    cfg = pose.load_pose_config(None, POSE_OPTIONS)
    tools, raw = (pose.TASK.tracking(served.predictor, cfg, smooth=smooth) for smooth in (True, False))
    moved = []
    for data, a in zip(TWO_WALKERS, answers):
        image = decode_upload(data, Limits())
        expected, unsmoothed = tools(image), raw(image)
        assert [p["track_id"] for p in a["people"]] == [p["track_id"] for p in expected]
        for got, want, rough in zip(a["people"], expected, unsmoothed):
            assert got["bbox"] == pytest.approx(want["bbox"])
            assert keypoints(got) == pytest.approx(keypoints(want), abs=1e-4)
            moved.append(np.abs(keypoints(got) - keypoints(rough))[:, :2].max())
    assert moved[0] == 0 and max(moved) > 1  # smoothed: the first frame as predicted, then steadier


def test_the_stream_tracks_through_the_tasks_own_wrapper(client, served, monkeypatch):
    """Each connection's tracker is the pose task's tracking wrapper (Task.tracking, what
    `hrseg infer pose --track --smooth` runs) on the served predictor and its config, not the
    stream's own wiring. (A stand-in wrapper here: this runs without the [track] extra.)"""
    calls = []

    def tracking(predictor, cfg, smooth=False):
        calls.append((predictor, cfg, smooth))
        return predictor  # no tracker: the frames' people as predicted
    monkeypatch.setattr(pose.TASK, "tracking", tracking)
    with client.websocket_connect(STREAM_ROUTE) as ws:
        answers = stream(ws, TWO_WALKERS[:2])
    ((predictor, cfg, smooth),) = calls  # one wrapper for the connection, not one a frame
    assert smooth is True and cfg is served.cfg and cfg["test"]["track"] and cfg["test"]["smooth"]
    assert predictor.model is served.predictor.model  # the served predictor (its micro-batched copy)
    assert [a["frame"] for a in answers] == [0, 1] and all(a["people"] for a in answers)


def test_a_bad_frame_gets_an_error_and_the_stream_goes_on(client):
    pytest.importorskip("trackers", reason="tracking needs the [track] extra")
    with client.websocket_connect(STREAM_ROUTE) as ws:
        first = stream(ws, TWO_WALKERS[:3])
        ws.send_bytes(b"\xff\xd8 not a JPEG")
        corrupt = ws.receive_json()
        ws.send_text("hello")
        text = ws.receive_json()
        ws.send_bytes(TWO_WALKERS[3][:8])  # tiny and truncated
        truncated = ws.receive_json()
        rest = stream(ws, TWO_WALKERS[3:])
    assert corrupt == {"error": {"code": "corrupt_image", "message": corrupt["error"]["message"]}, "frame": 3}
    assert "frame 3" in corrupt["error"]["message"]
    assert (text["error"]["code"], text["frame"]) == ("text_message", 4)
    assert "binary message" in text["error"]["message"]
    assert (truncated["error"]["code"], truncated["frame"]) == ("corrupt_image", 5)
    assert [a["frame"] for a in rest] == list(range(6, 6 + len(rest)))
    assert ids_by_x(first + rest) in ({(1, 2)}, {(2, 1)})  # the tracker went on past the bad frames


def test_two_connections_have_their_own_trackers(client):
    pytest.importorskip("trackers", reason="tracking needs the [track] extra")
    with client.websocket_connect(STREAM_ROUTE) as a, client.websocket_connect(STREAM_ROUTE) as b:
        answers: dict[str, list[dict]] = {"a": [], "b": []}
        for two, three in zip(TWO_WALKERS, THREE_WALKERS):  # interleaved: one tracker would mix them
            a.send_bytes(two)
            b.send_bytes(three)
            answers["b"].append(b.receive_json())
            answers["a"].append(a.receive_json())
    (a_ids,), (b_ids,) = ids_by_x(answers["a"]), ids_by_x(answers["b"])  # ids stay on each
    assert sorted(a_ids) == [1, 2] and sorted(b_ids) == [1, 2, 3]  # each numbered from 1
    health = client.get("/healthz").json()
    assert health["pending"] == 0  # every frame left the admission count


def test_without_the_track_extra_the_socket_says_which_to_install(client, monkeypatch):
    monkeypatch.setitem(sys.modules, "trackers", None)  # `import trackers` raises ImportError
    with client.websocket_connect(STREAM_ROUTE) as ws:
        message = ws.receive_json()
        with pytest.raises(WebSocketDisconnect) as closed:
            ws.receive_json()
    assert message["error"]["code"] == "track_extra_missing"
    assert "pip install 'hrseg[track]'" in message["error"]["message"]
    assert closed.value.code == CLOSE_UNAVAILABLE
    assert client.get("/healthz").json()["status"] == "ok"  # the service goes on


def test_without_a_pose_model_the_socket_says_so():
    with TestClient(create_app({})) as c, c.websocket_connect(STREAM_ROUTE) as ws:
        message = ws.receive_json()
        with pytest.raises(WebSocketDisconnect) as closed:
            ws.receive_json()
    assert message["error"]["code"] == "model_not_loaded" and "--pose" in message["error"]["message"]
    assert closed.value.code == CLOSE_UNAVAILABLE


def test_a_full_queue_refuses_the_frame_with_a_retry_time(served):
    pytest.importorskip("trackers", reason="tracking needs the [track] extra")
    with TestClient(create_app({"pose": served}, max_queue=0)) as c, c.websocket_connect(STREAM_ROUTE) as ws:
        ws.send_bytes(TWO_WALKERS[0])
        refused = ws.receive_json()
    assert (refused["error"]["code"], refused["frame"]) == ("queue_full", 0)
    assert refused["retry_after_s"] >= 1
