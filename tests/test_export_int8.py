"""int8 exports: post-training quantisation on calibration inputs made as the file's will be, the QDQ
graph both back ends run, the self-check that judges it against eager float32 (and fails a badly
calibrated file), the calibration sources and the clear errors."""
from __future__ import annotations

import os
from pathlib import Path

import numpy as np
import pytest
import torch

import hrseg
from conftest import randomize_weights
from hrseg.backends import load_runner
from hrseg.errors import ConfigError
from hrseg.export import ExportCheckError, export_model, read_meta
from hrseg.export.quantize import evenly_spaced, output_conv
from hrseg.export.runners import file_runner
from hrseg.tasks import pose, segmentation
from hrseg.tasks.export_source import ExportSource

pytest.importorskip("onnxruntime")
onnx = pytest.importorskip("onnx")

POSE, SEG, DET = "pose_hrnet_w18_small_v1", "seg_hrnetv2_w18_small_v1", "det_fasterrcnn_hrnetv2p_w18_small_v1"
POSE_SIZE = (64, 48)


@pytest.fixture(scope="module")
def pose_source(shared_data):
    os.environ.setdefault("HRSEG_SHARED", str(shared_data.parent))
    torch.manual_seed(0)
    model = hrseg.build_model(POSE)
    cfg = pose.load_pose_config(None, {"model.name": POSE, "data.input_size": list(POSE_SIZE),
                                       "data.heatmap_size": [16, 12]})
    return ExportSource(model, POSE, POSE_SIZE, pose.TASK, cfg)


@pytest.fixture(scope="module")
def calibration(pose_source, shared_data):
    """Crops of 12 photographs, whose statistics the model's BatchNorms then take (a new model's
    leave every output near a constant, whatever the input: nothing for quantisation to get wrong)."""
    model = pose_source.model
    crops = list(pose_source.calibration_inputs(model, POSE_SIZE, False, shared_data / "coco_mini" / "images", 12))
    for norm in model.modules():
        if isinstance(norm, torch.nn.modules.batchnorm._BatchNorm):
            norm.reset_running_stats()
            norm.momentum = None  # the mean over the passes: one
    with torch.no_grad():
        model.train()(torch.from_numpy(np.concatenate(crops)))
    model.eval()
    return crops


@pytest.fixture(scope="module")
def int8_files(pose_source, calibration, tmp_path_factory):
    out = tmp_path_factory.mktemp("int8")
    model = pose_source.model
    predictor = pose_source.check_predictor(model, POSE_SIZE, dynamic_size=False)
    return {fmt: export_model(model, out / f"pose.{fmt}", POSE, POSE_SIZE, dtype="int8", calibration=calibration,
                              predictor=predictor) for fmt in ("onnx", "xml")}


@pytest.mark.slow
def test_calibration_from_photographs_is_the_predictors_crops(pose_source, calibration):
    # 12 photographs spread over the folder, one crop each (the first of its two check boxes; no flip test here)
    assert len(calibration) == 12 and all(x.shape == (1, 3, *POSE_SIZE) and x.dtype == np.float32
                                          for x in calibration)
    assert len({x.tobytes() for x in calibration}) == 12  # different crops, normalised (negative values too)
    assert min(float(x.min()) for x in calibration) < -1.0 < 1.0 < max(float(x.max()) for x in calibration)


@pytest.mark.slow
def test_int8_graph_is_quantised_but_its_output_layer(int8_files):
    report = int8_files["onnx"]
    path = report.files[0]
    graph = onnx.load(str(path)).graph
    ops = [node.op_type for node in graph.node]
    assert ops.count("QuantizeLinear") > 50 and ops.count("DequantizeLinear") > 100
    int8_weights = [t for t in graph.initializer if t.data_type == onnx.TensorProto.INT8 and len(t.dims) == 4]
    convs = [node for node in graph.node if node.op_type == "Conv"]
    assert len(int8_weights) == len(convs) - 1  # every convolution's weights but the output layer's
    last = next(n for n in graph.node if n.name == output_conv(graph, path))
    assert last.output[0] == graph.output[0].name  # the heatmaps come from it ...
    weight = next(t for t in graph.initializer if t.name == last.input[1])
    assert weight.data_type == onnx.TensorProto.FLOAT  # ... and its weights stay float32
    meta = read_meta(path)
    assert meta["dtype"] == "int8" and meta["calibration_samples"] == 12 and meta["model"] == POSE
    assert report.check.ok and report.check.dtype == "int8" and report.check.forwards == 2
    assert report.check.l2_rel > 1e-4  # quantised: not float32's rounding ...
    assert report.check.l2_rel < 0.2  # ... but close (the check's bound)
    xml = int8_files["xml"].files
    assert [p.suffix for p in xml] == [".xml", ".bin"] and read_meta(xml[0])["dtype"] == "int8"


@pytest.mark.slow
@pytest.mark.parametrize("fmt,backend", [("onnx", "onnxruntime"), ("xml", "openvino")])
def test_int8_file_runs_on_its_back_end_near_eager(pose_source, calibration, int8_files, fmt, backend):
    pytest.importorskip(backend)
    runner = file_runner(backend, int8_files[fmt].files[0])
    assert runner.dtype == "int8"
    x = torch.from_numpy(np.concatenate(calibration[::4]))
    with torch.no_grad():
        ref = pose_source.model.eval()(x)
    out = runner(x)  # a fixed-batch graph: an image a call
    rel = float((out - ref).norm() / ref.norm())
    assert out.shape == ref.shape and 1e-4 < rel < 0.2
    with pytest.raises(ConfigError, match="int8 is chosen when exporting"):
        file_runner(backend, _float_file(pose_source, int8_files[fmt].files[0].parent, fmt), dtype="int8")


def _float_file(source: ExportSource, folder: Path, fmt: str) -> Path:
    path = folder / f"float.{fmt}"
    if not path.is_file():
        export_model(source.model, path, POSE, POSE_SIZE, check=False)
    return path


@pytest.mark.slow
def test_badly_calibrated_file_fails_its_check_and_is_not_written(pose_source, calibration, tmp_path):
    """Ranges calibrated on blank inputs clip every real photograph's pixels and activations: the
    check against eager float32 fails and leaves nothing (the check can fail an int8 file)."""
    model = pose_source.model
    predictor = pose_source.check_predictor(model, POSE_SIZE, dynamic_size=False)
    with pytest.raises(ExportCheckError, match=r"not written; .*int8.*FAILED"):
        export_model(model, tmp_path / "bad.onnx", POSE, POSE_SIZE, dtype="int8",
                     calibration=[x * 0 for x in calibration], predictor=predictor)
    assert list(tmp_path.iterdir()) == []


@pytest.mark.slow
def test_int8_requests_that_cannot_be_met_are_clear_errors(pose_source, calibration, tmp_path):
    model = pose_source.model
    with pytest.raises(ConfigError, match="test.dtype int8: a checkpoint runs in float32 or bfloat16; .* --dtype int8"):
        load_runner("openvino", model, dtype="int8", name=POSE, input_size=POSE_SIZE)
    with pytest.raises(ConfigError, match="int8 export needs calibration inputs"):
        export_model(model, tmp_path / "p.onnx", POSE, POSE_SIZE, dtype="int8", check=False)
    with pytest.raises(ConfigError, match="only an int8 export takes them"):
        export_model(model, tmp_path / "p.onnx", POSE, POSE_SIZE, calibration=calibration, check=False)
    with pytest.raises(ConfigError, match="without calibration inputs"):
        export_model(model, tmp_path / "p.onnx", POSE, POSE_SIZE, dtype="int8", calibration=[], check=False)
    assert list(tmp_path.iterdir()) == []


@pytest.mark.slow
def test_a_detectors_backbone_is_quantised_and_its_heads_are_not(tmp_path, shared_data):
    """A detector's calibration inputs are its whole images (its graph resizes them); its backbone's
    convolutions run in int8, the RPN and RoI heads in float32; checked as any detector export."""
    from hrseg.tasks import detection

    torch.manual_seed(0)
    model = hrseg.build_model(DET, num_classes=3, min_size=160, max_size=224)
    model.classes = [{"id": i, "name": n} for i, n in enumerate(["person", "car", "dog"], 1)]
    cfg = detection.TASK.load_config(None, {"model.name": DET})
    source = ExportSource(model.eval(), DET, (120, 160), detection.TASK, cfg)
    images = list(source.calibration_inputs(model, (120, 160), True, shared_data / "coco_mini" / "images", 4))
    assert len(images) == 4 and all(x.ndim == 3 and x.shape[0] == 3 and 0 <= x.min() <= x.max() <= 1
                                    for x in images)  # (3, H, W) in [0, 1], each photograph's own size
    report = export_model(model, tmp_path / "det.onnx", DET, (120, 160), dtype="int8", calibration=images,
                          predictor=source.check_predictor(model, (120, 160), True))
    assert report.check.ok and report.check.dtype == "int8" and report.meta["calibration_samples"] == 4
    graph = onnx.load(str(report.files[0])).graph
    producer = {o: n for n in graph.node for o in n.output}
    convs = [n for n in graph.node if n.op_type == "Conv"]
    quantised = {n.name for n in convs if producer.get(n.input[1]) is not None
                 and producer[n.input[1]].op_type == "DequantizeLinear"}
    assert quantised and quantised == {n.name for n in convs if "/backbone/" in n.name}
    assert any("/rpn/" in n.name for n in convs)  # the RPN head's convolutions: float32


@pytest.mark.slow
def test_the_export_command_calibrates_on_a_folder_or_refuses(tmp_path, shared_data, monkeypatch, caplog):
    from hrseg.commands.export import main

    monkeypatch.setenv("HRSEG_SHARED", str(shared_data.parent))
    photos = shared_data / "coco_mini" / "images"
    with caplog.at_level("INFO", logger="hrseg"):
        assert main([POSE, "--input-size", "64x48", "--dtype", "int8", "--calibration", str(photos),
                     "--calibration-samples", "6", "--out", str(tmp_path / "p.xml")]) == 0
    assert "int8: calibrated on 6 input(s) of shape (1, 3, 64, 48)" in caplog.text
    assert "(openvino, int8, through the predictor" in caplog.text and "-> passed" in caplog.text
    assert read_meta(tmp_path / "p.xml")["calibration_samples"] == 6
    with pytest.raises(SystemExit):
        main([POSE, "--calibration", str(photos), "--out", str(tmp_path / "q.onnx")])
    assert sorted(p.name for p in tmp_path.iterdir()) == ["p.bin", "p.xml"]


@pytest.mark.slow
def test_calibration_from_the_val_split(coco_mini, tmp_path, shared_data):
    """Without photographs: pose's evaluation crops of the val split's people, spread over it;
    segmentation's val images through the predictor (here sliding windows of a fixed-size graph)."""
    model = randomize_weights(hrseg.build_model(POSE))
    cfg = pose.load_pose_config(None, {"model.name": POSE, "data.root": str(coco_mini),
                                       "data.val.ann_file": "person_keypoints.json", "data.val.img_dir": "images"})
    source = ExportSource(model, POSE, POSE_SIZE, pose.TASK, cfg)
    dataset = pose.TASK.build_dataset(source.run_config(POSE_SIZE), "val")
    crops = list(source.calibration_inputs(model, POSE_SIZE, False, None, 5))
    wanted = [dataset[i]["image"][None].numpy() for i in evenly_spaced(len(dataset), 5)]
    assert len(crops) == 5 and all(np.array_equal(a, b) for a, b in zip(crops, wanted))
    missing = ExportSource(model, POSE, POSE_SIZE, pose.TASK,
                           pose.load_pose_config(None, {"model.name": POSE, "data.root": str(tmp_path)}))
    with pytest.raises(ConfigError, match="int8 calibration: the config's val split does not load .* --calibration"):
        list(missing.calibration_inputs(model, POSE_SIZE, False, None, 5))

    seg_model = randomize_weights(hrseg.build_model(SEG, num_classes=19))
    seg_root = shared_data / "seg_mini" / "cityscapes"
    seg_cfg = segmentation.TASK.load_config(None, {"model.name": SEG, "data.root": str(seg_root),
                                                  "data.synthetic": None})
    seg_cfg["test"].update(scales=[1.0, 1.5], flip=True)
    seg = ExportSource(seg_model, SEG, (128, 256), segmentation.TASK, seg_cfg)
    inputs = list(seg.calibration_inputs(seg_model, (128, 256), True, None, 4))  # the one 128x256 frame
    assert [x.shape[2:] for x in inputs] == [(128, 256), (128, 256), (192, 384), (192, 384)]
    assert np.array_equal(inputs[0][..., ::-1], inputs[1])  # the flip test's mirror image
    windows = list(seg.calibration_inputs(seg_model, (64, 128), False, None, 3))  # a fixed-size graph's windows
    assert len(windows) == 3 and all(w.shape == (1, 3, 64, 128) for w in windows)


def test_evenly_spaced():
    assert evenly_spaced(10, 3) == [0, 4, 9]
    assert evenly_spaced(4, 10) == [0, 1, 2, 3] and evenly_spaced(7, 1) == [0]
    assert evenly_spaced(0, 3) == [] and evenly_spaced(5, 0) == []
