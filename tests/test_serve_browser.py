"""The page at / in a real browser: headless Chromium loads it, a photograph is put into the file
input (as a user picking it), and the overlay returned by the service appears.

Chromium is driven over ``--remote-debugging-pipe`` (the DevTools protocol as NUL-separated JSON
on file descriptors 3 and 4), so no driver package is needed. Skipped when /usr/bin/chromium is
not installed (Debian's ``chromium`` package; CI installs it only if .ci/run does).
"""
from __future__ import annotations

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


class Browser:
    """Headless Chromium and one page, spoken to with DevTools protocol commands."""

    def __init__(self, profile: Path) -> None:
        to_child, self._to_browser = os.pipe()
        self._from_browser, from_child = os.pipe()

        def fds() -> None:  # in the child: the pipe ends Chromium expects on fds 3 and 4
            os.dup2(to_child, 3)
            os.dup2(from_child, 4)

        self.proc = subprocess.Popen(
            [str(CHROMIUM), "--headless=new", "--remote-debugging-pipe", "--no-sandbox", "--disable-gpu",
             "--no-first-run", "--disable-extensions", "--disable-dev-shm-usage", f"--user-data-dir={profile}",
             "about:blank"], preexec_fn=fds, close_fds=False, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
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
    from hrseg.serve.app import create_app
    from hrseg.serve.models import load_model
    from hrseg.serve.server import serve_in_thread

    photo = shared_data / "images" / "zidane.jpg"
    served = load_model("pose", "pose_hrnet_w18_small_v1", cfg_options=["data.input_size=[128,96]",
                                                                          "data.heatmap_size=[32,24]"])
    with serve_in_thread(create_app({"pose": served})) as url:
        browser = Browser(tmp_path / "profile")
        try:
            browser.open(url + "/")
            assert browser.wait_for("document.querySelector('#task option:checked')?.value") == "pose"
            root = browser.send("DOM.getDocument")["root"]["nodeId"]
            node = browser.send("DOM.querySelector", nodeId=root, selector="#file")["nodeId"]
            browser.send("DOM.setFileInputFiles", files=[str(photo)], nodeId=node)  # as a user picking it
            size = browser.wait_for("(() => { const i = document.getElementById('overlay');"
                                    " return i.complete && i.naturalWidth ? [i.naturalWidth, i.naturalHeight] : null })()")
            assert size == [1280, 720]  # the overlay PNG came back at the photograph's size
            shown = json.loads(browser.evaluate("document.getElementById('json').textContent"))
            assert shown["task"] == "pose" and len(shown["people"]) == 1
            assert "round trip" in browser.evaluate("document.getElementById('timing').textContent")
            assert "error" not in browser.evaluate("document.getElementById('status').className")
        finally:
            browser.close()
