"""The FastAPI application: routes, admission (a bounded queue), the page at ``/``.

``POST /v1/{pose,seg,det}`` takes one image (the body, or the ``image`` field of a form) and
answers JSON, or the overlay PNG with ``?render=1``. A request is admitted only while fewer than
``max_queue`` are in the service; past that the answer is 429 with ``Retry-After``, so a burst
never grows an unbounded backlog. The work (decoding, the task's prediction, drawing) runs in a
worker thread per request; the network runs in the micro-batcher's thread. Every failure is
caught per request: a 4xx for bad input, a 500 for anything else, and the process goes on.

``/v1/pose/stream`` is a WebSocket: frames in, tracked and smoothed people out, one tracker per
connection (:mod:`hrseg.serve.stream`); each frame is admitted as a request is.
"""

import contextlib
import logging
import math
import threading
import time
from importlib import resources
from typing import Any, AsyncIterator, Mapping

import numpy as np

from hrseg.errors import ConfigError
from hrseg.inference.predictor import Predictor
from hrseg.serve.batching import BatchedModel, MicroBatcher
from hrseg.serve.models import TASK_NAMES, TASKS, ServedModel, answer, encode_png, png_base64
from hrseg.serve.stream import CLOSE_UNAVAILABLE, STREAM_ROUTE, stream_frame, tracking_predictor, unavailable
from hrseg.serve.uploads import (Limits, ServeError, check_content_type, check_length, decode_upload, http_error,
                                  internal_error, too_large)

log = logging.getLogger("hrseg")

# every route's flags; the numbers a route takes are its task predictor's options (Predictor.options)
_FLAGS = ("render", "overlay")


class Admission:
    """At most ``max_queue`` requests in the service; ``Retry-After`` from the recent latency."""

    def __init__(self, max_queue: int, max_batch: int) -> None:
        self.max_queue, self.max_batch = int(max_queue), max(1, int(max_batch))
        self.pending = self.rejected = 0
        self.mean_seconds = 0.5  # running mean of the time a request spends in the service
        self._lock = threading.Lock()

    def enter(self) -> None:
        with self._lock:
            if self.pending >= self.max_queue:
                self.rejected += 1
                wait = max(1, math.ceil(self.mean_seconds * self.pending / self.max_batch))
                raise ServeError(429, "queue_full", f"{self.pending} requests are waiting (the limit is "
                                 f"{self.max_queue}); retry in {wait} s", {"Retry-After": str(wait)})
            self.pending += 1

    def leave(self, seconds: float) -> None:
        with self._lock:
            self.pending -= 1
            self.mean_seconds = 0.9 * self.mean_seconds + 0.1 * seconds


def _params(query: Mapping[str, str], route: str, options: Mapping[str, tuple[float, float]]) -> dict[str, Any]:
    """The query's flags (:data:`_FLAGS`) and the options of the route's predictor (``options``:
    :attr:`Predictor.options <hrseg.inference.predictor.Predictor.options>`, name to range); any
    other name, another task's option included, is refused with the names ``route`` takes."""
    params: dict[str, Any] = {}
    for key, value in query.items():
        if key in _FLAGS:
            if value not in ("0", "1", "true", "false"):
                raise ServeError(400, "bad_parameter", f"{key}={value!r}: expected 1 or 0")
            params[key] = value in ("1", "true")
        elif key in options:
            lo, hi = options[key]
            try:
                params[key] = float(value)
            except ValueError:
                params[key] = math.nan
            if not lo <= params[key] <= hi:
                raise ServeError(400, "bad_parameter", f"{key}={value!r}: expected a number from {lo} to {hi}")
        else:
            raise ServeError(400, "bad_parameter", f"{route} takes no parameter {key[:40]!r}; it takes "
                             f"{', '.join((*_FLAGS, *options))}")
    return params


async def _read_body(request: Any, limits: Limits) -> bytes:
    """The body, refused with 413 as soon as it passes ``limits.max_bytes``."""
    chunks, n = [], 0
    async for chunk in request.stream():
        n += len(chunk)
        if n > limits.max_bytes:
            raise too_large(None, limits)
        chunks.append(chunk)
    return b"".join(chunks)


async def _form_image(headers: Any, body: bytes) -> tuple[bytes, str]:
    """The ``image`` file of a multipart form, and its file name (for messages only)."""
    from starlette.formparsers import MultiPartException, MultiPartParser  # the serve extra

    async def stream() -> AsyncIterator[bytes]:
        yield body

    try:
        form = await MultiPartParser(headers, stream(), max_files=4, max_fields=16).parse()
    except MultiPartException as e:
        raise ServeError(400, "bad_form", f"malformed multipart form: {e.message}") from None
    item = form.get("image")
    if item is None or isinstance(item, str):
        raise ServeError(400, "missing_image", "the form has no 'image' file field")
    data = await item.read()
    name = (item.filename or "image").rsplit("/", 1)[-1][:100]
    await form.close()
    return data, name


def _work(served: ServedModel, predictor: Predictor, data: bytes, name: str, limits: Limits,
          params: Mapping[str, Any]) -> tuple[Any, dict[str, float]]:
    """Decode, predict (the task's predictor, its forward micro-batched), draw: the JSON (or PNG
    bytes with ``render``) and the time each took."""
    t0 = time.perf_counter()
    image = decode_upload(data, limits, name)
    try:  # a threshold the model cannot give (an exported graph's floor) is the request's fault
        predictor = predictor.configured(**{k: v for k, v in params.items() if k not in _FLAGS})
    except ConfigError as e:
        raise ServeError(400, "bad_parameter", str(e)) from None
    t1 = time.perf_counter()
    result = predictor(image)
    t2 = time.perf_counter()
    timing = {"decode": (t1 - t0) * 1e3, "predict": (t2 - t1) * 1e3}
    if params.get("render"):
        png = encode_png(predictor.draw(image, result))
        timing["render"] = (time.perf_counter() - t2) * 1e3
        return png, timing
    out = answer(served, predictor, image, result)
    if params.get("overlay"):
        out["overlay_png"] = png_base64(predictor.draw(image, result))
        timing["render"] = (time.perf_counter() - t2) * 1e3
    return out, timing


def _index_html() -> str:
    return resources.files("hrseg.serve").joinpath("static/index.html").read_text(encoding="utf-8")


def create_app(models: Mapping[str, ServedModel], max_batch: int = 8, max_wait_ms: float = 2.0,
               max_queue: int = 32, limits: Limits = Limits()) -> Any:
    """The FastAPI app serving ``models`` (``{"pose": ..., "seg": ..., "det": ...}``, any subset).

    ``max_batch`` rows per forward (1: no micro-batching), ``max_wait_ms`` to fill a batch,
    ``max_queue`` requests in the service before 429."""
    from fastapi import FastAPI, Request, WebSocket  # the serve extra: this module imports without it
    from fastapi.exceptions import RequestValidationError
    from fastapi.responses import HTMLResponse, JSONResponse, Response
    from starlette.concurrency import run_in_threadpool
    from starlette.exceptions import HTTPException
    from starlette.websockets import WebSocketDisconnect

    unknown = set(models) - set(TASKS)
    if unknown:
        raise ValueError(f"unknown tasks {sorted(unknown)}; choose from {TASKS}")
    batcher = MicroBatcher(max_batch, max_wait_ms)
    # each task's predictor with its network's forward going through the micro-batcher
    predictors = {task: m.predictor.with_runner(BatchedModel(m.predictor.runner, batcher))
                  for task, m in models.items()}
    admission = Admission(max_queue, max_batch)
    page = _index_html()

    @contextlib.asynccontextmanager
    async def lifespan(_: Any) -> AsyncIterator[None]:
        yield
        batcher.close()

    app = FastAPI(title="hrseg", summary="HRNet pose, segmentation and detection", lifespan=lifespan)
    app.state.batcher, app.state.admission = batcher, admission

    def error(e: ServeError) -> JSONResponse:
        return JSONResponse(e.body(), status_code=e.status, headers=e.headers)

    # the framework's own refusals in the service's shape: a path no route serves (404), a method
    # the route does not take (405), a request a route's declared parameters reject (422), a crash
    async def framework_refusal(request: Request, exc: HTTPException) -> JSONResponse:
        return error(http_error(exc.status_code, request.method, request.url.path, exc.headers))

    async def invalid_request(request: Request, exc: RequestValidationError) -> JSONResponse:
        where = "; ".join(f"{'.'.join(map(str, e.get('loc', ())))}: {e.get('msg')}" for e in exc.errors()[:4])
        return error(ServeError(422, "invalid_request", f"{request.method} {request.url.path[:100]}: {where}"))

    async def crashed(request: Request, exc: Exception) -> JSONResponse:  # logged by the server
        return error(internal_error(f"{request.method} {request.url.path[:100]}"))

    app.add_exception_handler(HTTPException, framework_refusal)
    app.add_exception_handler(RequestValidationError, invalid_request)
    app.add_exception_handler(Exception, crashed)

    @app.get("/", response_class=HTMLResponse)
    def index() -> HTMLResponse:
        return HTMLResponse(page)

    @app.get("/healthz")
    def healthz() -> dict[str, Any]:
        return {"status": "ok", "models": sorted(models), "pending": admission.pending,
                "rejected": admission.rejected, "forwards": batcher.forwards, "rows": batcher.rows,
                "max_batch": batcher.max_batch, "max_queue": admission.max_queue}

    @app.get("/v1/models")
    def list_models() -> dict[str, Any]:
        return {"models": {task: m.meta() for task, m in models.items()},
                "limits": {"max_bytes": limits.max_bytes, "max_pixels": limits.max_pixels,
                           "formats": ["image/jpeg", "image/png", "image/webp"]}}

    @app.post("/v1/{task}")
    async def predict_route(task: str, request: Request) -> Response:
        t0 = time.perf_counter()
        try:
            if task not in TASKS:
                routes = ", ".join(f"/v1/{t}" for t in TASKS)
                raise ServeError(404, "unknown_task", f"/v1/{task[:40]}: no such route; use {routes}")
            if task not in models:
                raise ServeError(404, "model_not_loaded", f"no {TASK_NAMES[task]} model is loaded "
                                 f"(start the server with --{task} NAME_OR_FILE)")
            params = _params(request.query_params, f"POST /v1/{task}", predictors[task].options)
            kind = check_content_type(request.headers.get("content-type"))
            check_length(request.headers.get("content-length"), limits)
            admission.enter()
        except ServeError as e:
            return error(e)
        try:
            data = await _read_body(request, limits)
            data, name = await _form_image(request.headers, data) if kind == "multipart/form-data" else (data, "image")
            out, timing = await run_in_threadpool(_work, models[task], predictors[task], data, name, limits, params)
        except ServeError as e:
            return error(e)
        except Exception:  # noqa: BLE001 - one request's failure must not end the service
            log.exception(f"POST /v1/{task} failed")
            return error(internal_error())
        finally:
            admission.leave(time.perf_counter() - t0)
        timing["total"] = (time.perf_counter() - t0) * 1e3
        server_timing = ", ".join(f"{k};dur={v:.1f}" for k, v in timing.items())
        if isinstance(out, bytes):
            return Response(out, media_type="image/png", headers={"Server-Timing": server_timing})
        out["timing_ms"] = {k: round(v, 2) for k, v in timing.items()}
        return JSONResponse(_plain(out), headers={"Server-Timing": server_timing})

    @app.websocket(STREAM_ROUTE)
    async def pose_stream(websocket: WebSocket) -> None:
        """Frames in (binary messages), one JSON message out for each; the tracker lives as long
        as the connection."""
        await websocket.accept()
        try:
            refused = unavailable(models)
            if refused:
                raise refused
            predictor = tracking_predictor(models["pose"], predictors["pose"])  # this connection's own tracker
        except ServeError as e:
            await websocket.send_json(e.body())
            await websocket.close(CLOSE_UNAVAILABLE, e.code)
            return
        index = 0
        try:
            while True:
                message = await websocket.receive()
                if message["type"] == "websocket.disconnect":
                    break
                out = await _stream_answer(models["pose"], predictor, message.get("bytes"), index)
                index += 1
                await websocket.send_json(_plain(out))
        except WebSocketDisconnect:
            pass  # the client left while its answer was being computed

    async def _stream_answer(served: ServedModel, predictor: Predictor, data: bytes | None, index: int
                             ) -> dict[str, Any]:
        t0 = time.perf_counter()
        try:
            admission.enter()
        except ServeError as e:
            return {**e.body(), "frame": index, "retry_after_s": int(e.headers["Retry-After"])}
        try:
            out = await run_in_threadpool(stream_frame, served, predictor, data, index, limits)
        except ServeError as e:
            return {**e.body(), "frame": index}
        except Exception:  # noqa: BLE001 - one frame's failure must not end the stream or the service
            log.exception(f"{STREAM_ROUTE}: frame {index} failed")
            return {**internal_error().body(), "frame": index}
        finally:
            admission.leave(time.perf_counter() - t0)
        out["timing_ms"]["total"] = (time.perf_counter() - t0) * 1e3
        out["timing_ms"] = {k: round(v, 2) for k, v in out["timing_ms"].items()}
        return out

    return app


def _plain(obj: Any) -> Any:
    """JSON-ready copy: numpy scalars to Python numbers."""
    if isinstance(obj, dict):
        return {k: _plain(v) for k, v in obj.items()}
    if isinstance(obj, (list, tuple)):
        return [_plain(v) for v in obj]
    if isinstance(obj, np.generic):
        return obj.item()
    return obj
