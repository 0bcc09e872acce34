"""The page at / in a real browser, against the real server (uvicorn in a thread, so the WebSocket
upgrade really happens): headless Chromium loads it; a photograph put into the file input (as a
user picking it) comes back as the overlay; with Chromium's fake camera, "Live pose" streams
webcam frames over ``/v1/pose/stream`` and draws the tracked people as the answers come. Before
the first result the page shows no image at all (not a broken-image icon).

Chromium is driven over ``--remote-debugging-pipe`` (the DevTools protocol as NUL-separated JSON
on file descriptors 3 and 4), so no driver package is needed. Skipped when /usr/bin/chromium is
not installed (Debian's ``chromium`` package: ``.ci/install_chromium.sh`` installs it).
"""
from __future__ import annotations

import fcntl
import json
import os
import select
import subprocess
import time
from pathlib import Path

import pytest

CHROMIUM = Path(os.environ.get("HRSEG_CHROMIUM", "/usr/bin/chromium"))
if not CHROMIUM.exists():
    pytest.skip(f"{CHROMIUM} not found: the browser test needs Debian's chromium package "
                "(apt-get install chromium)", allow_module_level=True)
pytest.importorskip("fastapi", reason="the service's extra is not installed (pip install -e '.[serve]')")
pytest.importorskip("uvicorn", reason="uvicorn (the service's extra) is not installed")
pytest.importorskip("websockets", reason="websockets (the service's extra, uvicorn's WebSocket protocol) is not "
                    "installed")

import torch  # noqa: E402
from conftest import randomize_weights  # noqa: E402

import hrseg  # noqa: E402
from hrseg.serve.app import create_app  # noqa: E402
from hrseg.serve.models import load_model  # noqa: E402
from hrseg.serve.server import serve_in_thread  # noqa: E402
from hrseg.tasks import pose  # noqa: E402

POSE_OPTIONS = ["data.input_size=[128,96]", "data.heatmap_size=[32,24]"]
STATUS = "document.getElementById('status').textContent"
FAILED = "document.getElementById('status').className === 'error'"
OVERLAY_HIDDEN = "getComputedStyle(document.getElementById('overlay')).display === 'none'"


def _above_4(fd: int) -> int:
    """``fd`` moved to a number above 4 (closed there)."""
    moved = fcntl.fcntl(fd, fcntl.F_DUPFD, 5)
    os.close(fd)
    return moved


class Browser:
    """Headless Chromium and one page, spoken to with DevTools protocol commands."""

    def __init__(self, profile: Path) -> None:
        to_child, self._to_browser = os.pipe()
        self._from_browser, from_child = os.pipe()
        to_child, from_child = _above_4(to_child), _above_4(from_child)  # so that 3<&N 4>&M cannot clash

        # the pipe ends go to fds 3 and 4, where Chromium expects them, by the bash that execs it (no
        # preexec_fn: the server's threads are running, and Python code between fork and exec is unsafe then)
        self.proc = subprocess.Popen(
            ["/bin/bash", "-c", f'exec "$@" 3<&{to_child} 4>&{from_child} {to_child}<&- {from_child}>&-', "bash",
             str(CHROMIUM), "--headless=new", "--remote-debugging-pipe", "--no-sandbox", "--disable-gpu",
             "--no-first-run", "--disable-extensions", "--disable-dev-shm-usage", f"--user-data-dir={profile}",
             # a camera that draws a test pattern, granted without asking
             "--use-fake-device-for-media-stream", "--use-fake-ui-for-media-stream", "about:blank"],
            pass_fds=(to_child, from_child), stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        os.close(to_child)
        os.close(from_child)
        self._id, self._buffer, self.session = 0, b"", None

    def send(self, method: str, timeout: float = 60.0, **params) -> dict:
        self._id += 1
        msg = {"id": self._id, "method": method, "params": params}
        if self.session:
            msg["sessionId"] = self.session
        os.write(self._to_browser, json.dumps(msg).encode() + b"\0")
        deadline = time.monotonic() + timeout
        while True:
            while b"\0" in self._buffer:
                raw, self._buffer = self._buffer.split(b"\0", 1)
                reply = json.loads(raw)
                if reply.get("id") == self._id:
                    if "error" in reply:
                        raise RuntimeError(f"{method}: {reply['error']}")
                    return reply["result"]
            left = deadline - time.monotonic()
            if left <= 0 or not select.select([self._from_browser], [], [], left)[0]:
                raise TimeoutError(f"{method}: no answer from Chromium in {timeout} s")
            chunk = os.read(self._from_browser, 1 << 20)
            if not chunk:
                raise RuntimeError("Chromium closed the pipe")
            self._buffer += chunk

    def open(self, url: str) -> None:
        target = self.send("Target.createTarget", url=url)["targetId"]
        self.session = self.send("Target.attachToTarget", targetId=target, flatten=True)["sessionId"]

    def evaluate(self, expression: str):
        return self.send("Runtime.evaluate", expression=expression, returnByValue=True)["result"].get("value")

    def wait_for(self, expression: str, timeout: float = 60.0):
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            value = self.evaluate(expression)
            if value:
                return value
            time.sleep(0.1)
        raise TimeoutError(f"the page never satisfied {expression!r}")

    def close(self) -> None:
        self.proc.terminate()
        try:
            self.proc.wait(10)
        except subprocess.TimeoutExpired:
            self.proc.kill()
        os.close(self._to_browser)
        os.close(self._from_browser)


def test_page_uploads_a_photograph_and_shows_the_overlay(tmp_path, shared_data):
    photo = shared_data / "images" / "zidane.jpg"
    served = load_model("pose", "pose_hrnet_w18_small_v1", cfg_options=POSE_OPTIONS)
    with serve_in_thread(create_app({"pose": served})) as url:
        browser = Browser(tmp_path / "profile")
        try:
            browser.open(url + "/")
            assert browser.wait_for("document.querySelector('#task option:checked')?.value") == "pose"
            assert browser.evaluate(OVERLAY_HIDDEN)  # no broken-image icon before the first result
            root = browser.send("DOM.getDocument")["root"]["nodeId"]
            node = browser.send("DOM.querySelector", nodeId=root, selector="#file")["nodeId"]
            browser.send("DOM.setFileInputFiles", files=[str(photo)], nodeId=node)  # as a user picking it
            size = browser.wait_for("(() => { const i = document.getElementById('overlay');"
                                    " return i.complete && i.naturalWidth ? [i.naturalWidth, i.naturalHeight] : null })()")
            assert size == [1280, 720]  # the overlay PNG came back at the photograph's size
            assert not browser.evaluate(OVERLAY_HIDDEN)
            shown = json.loads(browser.evaluate("document.getElementById('json').textContent"))
            assert shown["task"] == "pose" and len(shown["people"]) == 1
            assert "round trip" in browser.evaluate("document.getElementById('timing').textContent")
            assert "error" not in browser.evaluate("document.getElementById('status').className")
        finally:
            browser.close()


# In one evaluation (no frame drawn in between): the labels of the last drawn answer, the colour the
# page gives each id, the canvas's pixel inside each label, and how many pixels have that colour.
DRAWN = """(() => {
  const labels = JSON.parse(document.body.dataset.liveLabels || "[]");
  const view = document.getElementById("live-view"), ctx = view.getContext("2d");
  const all = ctx.getImageData(0, 0, view.width, view.height).data;
  return labels.map(([id, x, y]) => {
    const colour = trackColour(id), pixel = Array.from(ctx.getImageData(x + 1, y + 1, 1, 1).data.slice(0, 3));
    let same = 0;
    for (let i = 0; i < all.length; i += 4) {
      same += all[i] === colour[0] && all[i + 1] === colour[1] && all[i + 2] === colour[2];
    }
    return { id, colour, pixel, same };
  });
})()"""


def test_live_pose_streams_the_webcam_and_draws_tracked_people(tmp_path):
    pytest.importorskip("trackers", reason="tracking needs the [track] extra")
    # joints scoring about 0.5, so the skeleton is drawn too (the default init scores them near 0);
    # no person detector can be had offline: the whole frame is one person, whom the tracker follows
    cfg = pose.load_pose_config(None, ["model.name=pose_hrnet_w18_small_v1", *POSE_OPTIONS])
    model = randomize_weights(pose.build_pose_model(cfg["model"]))
    with torch.no_grad():
        model.head.final_layer.bias.add_(0.5)
    hrseg.save_checkpoint(tmp_path / "pose.pth", model, meta={"config": cfg})
    served = load_model("pose", str(tmp_path / "pose.pth"), "optimized")
    with serve_in_thread(create_app({"pose": served})) as url:
        browser = Browser(tmp_path / "profile")
        try:
            browser.open(url + "/")
            browser.wait_for("!document.getElementById('live').disabled")
            assert browser.evaluate("getComputedStyle(document.getElementById('live-view')).display") == "none"
            browser.evaluate("document.getElementById('live').click()")
            drawn = []
            for frames in (1, 6):  # the first answer drawn, then frame after frame
                browser.wait_for(f"Number(document.body.dataset.live) >= {frames} || {FAILED}", timeout=120)
                assert not browser.evaluate(FAILED), browser.evaluate(STATUS)  # e.g. the upgrade refused
                drawn.append(browser.evaluate(DRAWN))
            first, last = drawn
            shown = json.loads(browser.evaluate("document.getElementById('json').textContent"))
            size = browser.evaluate("(v => [v.width, v.height])(document.getElementById('live-view'))")
            state = browser.evaluate(STATUS)
            browser.evaluate("document.getElementById('live').click()")  # stop: the page closes the socket
            browser.wait_for("document.getElementById('live').textContent === 'Live pose'")
        finally:
            browser.close()
    assert [d["id"] for d in first] == [d["id"] for d in last] == [1]  # one person, the same id all along
    for label in first + last:
        assert label["pixel"] == label["colour"]  # the id's label, in the id's colour
        # and its box and skeleton: the label (under 500 pixels) and the whole-frame box's outline
        # (2240 pixels inside a 640x480 canvas) leave over 3000 (about 5300 here) only with the skeleton
        assert label["same"] > 3000
    assert shown["frame"] >= 5 and [p["track_id"] for p in shown["people"]] == [1]
    assert (shown["width"], shown["height"]) == tuple(size) and shown["detector"] == "whole image"
    assert state.startswith("live: frame")
