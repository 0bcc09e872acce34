"""The live pose stream, ``/v1/pose/stream``: a WebSocket over which a client sends video frames
and gets, for each, the people in it with identities kept across frames and steady keypoints.

One connection is one video: it gets its own tracking copy of the pose predictor
(:func:`tracking_predictor`: the task's tracking wrapper, ``hrseg infer pose --track --smooth``'s,
with its own tracker and keypoint smoother, numbering its people from 1), so two clients never
share ids, while the network's forward still goes through the service's micro-batcher with every
other request. A frame is one binary message (JPEG, PNG or WebP bytes, under the upload limits);
each gets one JSON message: the pose document of ``POST /v1/pose`` (``people`` with
``track_id``) with ``frame`` (its index on this connection) and ``timing_ms``, or
``{"error": {"code", "message"}, "frame"}`` for a frame refused, after which the stream goes on.
Closing the connection ends its tracker. The route itself is in :mod:`hrseg.serve.app`.
"""
from __future__ import annotations

import time
from typing import Any

from hrseg.inference.predictor import Predictor
from hrseg.serve.models import ServedModel, answer
from hrseg.serve.uploads import Limits, ServeError, decode_upload, too_large

STREAM_ROUTE = "/v1/pose/stream"
# WebSocket close codes (RFC 6455): the server cannot serve the stream at all
CLOSE_UNAVAILABLE = 1011


def tracking_predictor(served: ServedModel, predictor: Predictor) -> Predictor:
    """One connection's copy of ``predictor`` (``served``'s, its forward micro-batched) that
    follows people across frames and smooths their keypoints: the pose task's own tracking
    wrapper with the model's ``test.track`` and ``test.smooth`` (:meth:`ServedModel.tracking`,
    as ``hrseg infer pose --track --smooth``). A :class:`ServeError` when the ``[track]`` extra
    is not installed."""
    try:
        return served.tracking(predictor)
    except ImportError as e:  # trackers (the [track] extra) is missing: its message names the extra
        raise ServeError(501, "track_extra_missing", f"{STREAM_ROUTE}: {e}") from None


def unavailable(models: dict[str, ServedModel]) -> ServeError | None:
    """Why the stream cannot be served (no pose model), or None."""
    if "pose" in models:
        return None
    return ServeError(404, "model_not_loaded", f"{STREAM_ROUTE}: no pose estimation model is loaded "
                      "(start the server with --pose NAME_OR_FILE)")


def stream_frame(served: ServedModel, predictor: Predictor, data: bytes | None, index: int,
                 limits: Limits) -> dict[str, Any]:
    """One frame of a stream: checked and decoded as an upload, its people predicted (the
    forward micro-batched), then tracked and smoothed by this connection's ``predictor``: the
    pose document with ``frame`` and the time each step took (``timing_ms``)."""
    t0 = time.perf_counter()
    if data is None:
        raise ServeError(400, "text_message", "send each frame as one binary message: JPEG, PNG or WebP bytes")
    if len(data) > limits.max_bytes:
        raise too_large(len(data), limits)
    image = decode_upload(data, limits, f"frame {index}")
    t1 = time.perf_counter()
    people = predictor.predict(image)
    t2 = time.perf_counter()
    people = predictor.follow(people, image)  # track ids, smoothed keypoints
    t3 = time.perf_counter()
    out = answer(served, predictor, image, people)
    out["frame"] = index
    out["timing_ms"] = {"decode": (t1 - t0) * 1e3, "predict": (t2 - t1) * 1e3, "track": (t3 - t2) * 1e3}
    return out
