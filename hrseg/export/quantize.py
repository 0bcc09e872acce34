"""int8 post-training quantisation of an exported graph, for CPUs: ONNX Runtime's static quantiser
(``onnxruntime.quantization.quantize_static``) on calibration inputs the caller records, in the QDQ
form that both back ends run in int8 (ONNX Runtime's integer kernels; OpenVINO reads each
QuantizeLinear / DequantizeLinear pair as a FakeQuantize and runs the convolutions in int8).

One quantiser serves both formats (the extra ``onnx`` already installs it), rather than NNCF,
OpenVINO's own, which brings scipy, scikit-learn and networkx with it (docs/deploy.md "int8").

What is quantised: convolutions' weights per output channel (int8, symmetric) and the activations
into them (uint8, the range seen in calibration: min / max). A pose or segmentation graph: every
convolution but the last, which keeps float32 in and out: its output is the heatmaps or logits the
decoders read (sub-pixel keypoints, near ties of classes), and it is one layer of hundreds. A
detector's graph: the backbone's convolutions (HRNet and its pyramid, nearly all of the
multiply-adds); the RPN and RoI heads, whose outputs are boxes, scores and masks, and the resize and
NMS around them stay float32.
"""
from __future__ import annotations

import itertools
import logging
import tempfile
from pathlib import Path
from typing import Any, Iterable, Iterator, Mapping

import numpy as np
import torch

from hrseg.errors import ConfigError
from hrseg.export.files import embed_meta, load_onnx, require
from hrseg.inference.predictor import Predictor, RunnerStandIn

log = logging.getLogger("hrseg")

CALIBRATION_SAMPLES = 100  # inputs calibrated on by default (docs/deploy.md "int8")


def quantize_onnx(src: Path, dst: Path, samples: Iterable[np.ndarray], meta: dict[str, Any]) -> Path:
    """Write ``src`` (a float32 ONNX graph of hrseg's export, ``meta`` its record) quantised to int8
    at ``dst``, its activations' ranges taken from ``samples`` (each an input array the graph
    takes: (1, 3, H, W) float32 for a fixed-batch graph). ``meta`` gains ``calibration_samples``
    (how many were read) and is embedded again."""
    require("onnxruntime")
    from onnxruntime.quantization import (  # the quantiser: a slow import, only for int8 exports
        CalibrationDataReader, CalibrationMethod, QuantFormat, QuantType, quantize_static)
    from onnxruntime.quantization.shape_inference import quant_pre_process

    samples = iter(samples)
    first = next(samples, None)  # read ahead: an empty set is an error before the quantiser starts
    if first is None:
        raise ConfigError(f"{meta['model']}: int8 export without calibration inputs (none were read)")
    feeds, count = itertools.chain([first], samples), 0
    input_name = "image" if meta["task"] == "detection" else "input"  # hrseg.export.files' names

    class Reader(CalibrationDataReader):  # the quantiser's interface: one {input name: array} a call
        def get_next(self) -> dict[str, np.ndarray] | None:
            nonlocal count
            x = next(feeds, None)
            if x is None:
                return None
            count += 1
            return {input_name: np.ascontiguousarray(x, dtype=np.float32)}

    with tempfile.TemporaryDirectory(prefix=".quantize.", dir=dst.parent) as tmp:
        prepared = Path(tmp) / "prepared.onnx"
        # shape inference and ONNX Runtime's graph fusions first, as its quantiser asks
        quant_pre_process(str(src), str(prepared), skip_symbolic_shape=True)
        quantize_static(str(prepared), str(dst), Reader(), quant_format=QuantFormat.QDQ, per_channel=True,
                        activation_type=QuantType.QUInt8, weight_type=QuantType.QInt8,
                        calibrate_method=CalibrationMethod.MinMax, nodes_to_quantize=quantized_convs(prepared, meta),
                        calibration_providers=["CPUExecutionProvider"])
    meta["calibration_samples"] = count
    embed_meta(dst, meta)
    log.info("int8: calibrated on %d input(s) of shape %s", count, tuple(np.shape(first)))
    return dst


class InputRecorder(RunnerStandIn):
    """Stands in for a predictor's runner and keeps each input it is given as the exported graph
    takes it: people's crops and their mirror images, windows, scales, one (1, 3, H, W) array each;
    a detector's images, one (3, H, W) array each (its graph's input, torchvision's convention)."""

    def __init__(self, runner: Any) -> None:
        super().__init__(runner)
        self.inputs: list[np.ndarray] = []

    def __call__(self, inputs: Any) -> Any:
        batch = inputs[:, None] if isinstance(inputs, torch.Tensor) else inputs
        self.inputs += [x.detach().to("cpu", torch.float32).numpy() for x in batch]
        return self.runner(inputs)


def predictor_inputs(predictor: Predictor, images: Iterable[np.ndarray], n_images: int, limit: int
                     ) -> Iterator[np.ndarray]:
    """The inputs ``predictor`` gives its network on ``images`` (``n_images`` RGB arrays), at most
    ``limit``, shared out over the images (evenly among each image's own: its windows, scales, mirror
    images): calibration inputs made exactly as the exported file's will be."""
    recorder = InputRecorder(predictor.runner)
    run = predictor.with_runner(recorder)
    for n, image in enumerate(images):
        share = (limit * (n + 1)) // n_images - (limit * n) // n_images
        with torch.no_grad():
            run(image)
        yield from (recorder.inputs[i] for i in evenly_spaced(len(recorder.inputs), share))
        recorder.inputs.clear()


def evenly_spaced(n: int, k: int) -> list[int]:
    """``k`` (at most ``n``) indices spread evenly over ``range(n)``, the first and last included."""
    if k <= 0 or n <= 0:
        return []
    return sorted({int(round(i)) for i in np.linspace(0, n - 1, min(k, n))})


def quantized_convs(path: Path, meta: Mapping[str, Any]) -> list[str]:
    """The Conv nodes of ``path`` to quantise: a detector's backbone (the exporter names its nodes by
    module path: ``/detector/backbone/...``), else every one but :func:`output_conv`."""
    graph = load_onnx(path).graph
    convs = [node.name for node in graph.node if node.op_type == "Conv"]
    if meta["task"] == "detection":
        chosen = [name for name in convs if "/backbone/" in name]
    else:
        last = output_conv(graph, path)
        chosen = [name for name in convs if name != last]
    if not chosen:
        raise ConfigError(f"{meta['model']}: no convolution to quantise in its graph")
    return chosen


def output_conv(graph: Any, path: Path) -> str:
    """The name of the Conv node the ONNX ``graph``'s (of file ``path``) output comes from (through the
    nodes after it that do not mix channels: a resize, an activation)."""
    producer = {out: node for node in graph.node for out in node.output}
    node = producer.get(graph.output[0].name)
    while node is not None and node.op_type != "Conv":
        node = next((producer[i] for i in node.input if i in producer), None)
    if node is None:
        raise ConfigError(f"{path}: no convolution gives the graph's output")
    return node.name
