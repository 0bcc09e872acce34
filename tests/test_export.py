"""Export round trips (ONNX, OpenVINO), the backends against torch, and the clear errors for
corrupt, mismatched or unsupported files. Small widths and inputs, so it stays fast."""
from __future__ import annotations

import os
from pathlib import Path

import pytest
import torch

import hrseg
from conftest import randomize_weights
from hrseg.backends import BACKENDS, available_backends, default_backend, load_runner
from hrseg.errors import CheckpointError, ConfigError
from hrseg.export import ExportCheckError, export_cached, export_model, read_meta
from hrseg.codecs.msra import HeatmapCodec
from hrseg.export import check as check_module

POSE, SEG = "pose_hrnet_w18_small_v1", "seg_hrnetv2_w18_small_v1"
POSE_SIZE, SEG_SIZE = (64, 48), (64, 128)




@pytest.fixture(scope="module")
def models():
    return {POSE: randomize_weights(hrseg.build_model(POSE)), SEG: randomize_weights(hrseg.build_model(SEG))}


@pytest.fixture(scope="module")
def exported(models, tmp_path_factory, shared_data):
    os.environ.setdefault("HRSEG_SHARED", str(shared_data.parent))
    out = tmp_path_factory.mktemp("export")
    return {
        "pose_onnx": export_model(models[POSE], out / "pose.onnx", POSE, POSE_SIZE, dynamic_batch=True),
        "pose_fixed": export_model(models[POSE], out / "pose_fixed.onnx", POSE, POSE_SIZE, check=False),
        "seg_onnx": export_model(models[SEG], out / "seg.onnx", SEG, SEG_SIZE, dynamic_batch=True),
        "pose_xml": export_model(models[POSE], out / "pose.xml", POSE, POSE_SIZE, dynamic_batch=True),
    }


def _close(a: torch.Tensor, b: torch.Tensor, rel: float = 1e-4) -> None:
    assert a.shape == b.shape
    assert (a - b).abs().max().item() <= rel * a.abs().max().item()


def test_pose_onnx_round_trip_records_meta_and_passes_its_check(exported):
    report = exported["pose_onnx"]
    assert [p.name for p in report.files] == ["pose.onnx"] and report.files[0].is_file()
    assert report.check.ok and report.check.batch == 2
    assert report.check.max_rel < 1e-4 and report.check.decoded["keypoints within one cell"] == 1.0
    assert Path(report.check.image).name == "astronaut.png"  # a real photograph
    meta = read_meta(report.files[0])
    assert meta["model"] == POSE and meta["task"] == "pose" and meta["input_size"] == list(POSE_SIZE)
    assert meta["keypoint_names"][0] == "nose" and len(meta["keypoint_names"]) == 17
    assert meta["mean"] == pytest.approx([0.485, 0.456, 0.406]) and meta["dynamic_batch"] is True
    assert not any(p.name.startswith(".") for p in report.files[0].parent.iterdir())  # no staging left


@pytest.mark.parametrize("key,backend", [("pose_onnx", "onnxruntime"), ("pose_xml", "openvino"),
                                         ("pose_onnx", "openvino")])
def test_backends_match_torch_on_pose(models, exported, key, backend):
    runner = load_runner(backend, exported[key].files[0], expect={"task": "pose", "num_joints": 17})
    assert runner.backend == backend
    x = torch.randn(3, 3, *POSE_SIZE)  # a batch the file was not checked with
    with torch.no_grad():
        _close(models[POSE](x), runner(x))
    assert next(runner.parameters()).dtype == torch.float32  # the task code's device/dtype probe works


def test_segmentation_export_has_dynamic_size_and_matches_torch(models, exported):
    report = exported["seg_onnx"]
    meta = report.meta
    assert meta["task"] == "segmentation" and meta["dynamic_size"] is True and meta["num_classes"] == 19
    assert meta["classes"][0] == "road" and "before the final resize" in meta["output"]
    assert report.check.decoded["labels agreement"] == 1.0
    runner = load_runner("onnxruntime", report.files[0])
    x = torch.randn(2, 3, 96, 64)  # another size than exported
    with torch.no_grad():
        _close(models[SEG](x), runner(x))


def test_torch_backends_and_the_automatic_choice(models, tmp_path, shared_data, monkeypatch, caplog):
    import logging

    from hrseg import backends

    assert available_backends() == list(BACKENDS) and default_backend() == "openvino"
    x = torch.randn(2, 3, *POSE_SIZE)
    assert load_runner("torch", models[POSE]).model is models[POSE]  # eager: the model as built
    for backend in ("torch", "optimized"):
        with torch.no_grad():
            _close(models[POSE](x), load_runner(backend, models[POSE])(x))
    with pytest.raises(ConfigError, match="torch backend \\(eager\\) runs float32"):
        load_runner("torch", models[POSE], dtype="bfloat16")
    monkeypatch.setenv("HRSEG_SHARED", str(shared_data.parent))
    with caplog.at_level(logging.INFO, logger="hrseg"):
        runner = load_runner("auto", models[POSE], name=POSE, input_size=POSE_SIZE, cache_dir=tmp_path)
    assert runner.backend == "openvino" and [p.suffix for p in tmp_path.iterdir()].count(".xml") == 1
    assert "backend: openvino (fastest installed; --backend torch for eager PyTorch)" in caplog.text
    with torch.no_grad():
        _close(models[POSE](x), runner(x))
    monkeypatch.setattr(backends, "installed", lambda module: module == "onnxruntime")
    assert default_backend() == "onnxruntime" and default_backend("bfloat16") == "optimized"
    def fail(*args, **kwargs):
        raise ExportCheckError("self-check FAILED")

    monkeypatch.setattr(backends, "export_cached", fail)  # a model whose export fails runs optimized
    with caplog.at_level(logging.INFO, logger="hrseg"):
        runner = load_runner(None, models[POSE], name=POSE, input_size=POSE_SIZE, cache_dir=tmp_path)
    assert runner.backend == "optimized" and "optimized instead of onnxruntime" in caplog.text
    with pytest.raises(ExportCheckError):  # asked for by name, it is an error
        load_runner("onnxruntime", models[POSE], name=POSE, input_size=POSE_SIZE, cache_dir=tmp_path)


def test_compiled_backend_without_a_working_compiler_is_one_clear_error(models, monkeypatch):
    from torch._dynamo.exc import BackendCompilerFailed

    monkeypatch.setenv("CXX", str(Path("/nonexistent") / "c++"))
    with pytest.raises(ConfigError, match="needs a C\\+\\+ compiler.*--backend optimized"):
        load_runner("compiled", models[POSE])
    monkeypatch.delenv("CXX")

    def broken(*args, **kwargs):  # what a compiler failing on the first call looks like
        try:
            error = BackendCompilerFailed(lambda: None, RuntimeError("cc1plus: fatal error"), None)
        except TypeError:  # torch < 2.7 takes (backend, inner exception)
            error = BackendCompilerFailed(lambda: None, RuntimeError("cc1plus: fatal error"))
        raise error

    monkeypatch.setattr(torch, "compile", lambda model, **kwargs: broken)
    runner = load_runner("compiled", models[POSE])
    with pytest.raises(ConfigError, match="torch.compile failed on this machine.*cc1plus.*--backend optimized"):
        runner(torch.randn(1, 3, *POSE_SIZE))


def test_a_fixed_batch_graph_runs_a_batch_an_image_at_a_time_and_a_wrong_size_is_an_error(exported, models):
    """A fixed-batch file refused any batch but one: infer's --batch-size 8, sliding windows in
    fours and the service's micro-batches all failed on it."""
    runner = load_runner("onnxruntime", exported["pose_fixed"].files[0])
    x = torch.randn(3, 3, *POSE_SIZE, generator=torch.Generator().manual_seed(0))
    out = runner(x)
    assert out.shape == (3, 17, 16, 12)
    for i in range(3):
        assert torch.equal(out[i:i + 1], runner(x[i:i + 1]))  # each image as it runs alone
    with torch.no_grad():
        _close(models[POSE].eval()(x), out)
    with pytest.raises(ConfigError, match="exported for 64x48 inputs, got 32x48"):
        runner(torch.randn(1, 3, 32, 48))


def test_corrupt_and_mismatched_files_are_clear_errors(exported, tmp_path):
    good = exported["pose_onnx"].files[0]
    truncated = tmp_path / "truncated.onnx"
    truncated.write_bytes(good.read_bytes()[:5000])
    with pytest.raises(CheckpointError, match="truncated.onnx"):
        load_runner("onnxruntime", truncated)
    with pytest.raises(CheckpointError, match="not a readable OpenVINO IR|truncated.xml"):
        bad = tmp_path / "truncated.xml"
        bad.write_text("<net><layers>")
        bad.with_suffix(".bin").write_bytes(b"\0" * 16)
        load_runner("openvino", bad)
    with pytest.raises(CheckpointError, match="exported for model 'pose_hrnet_w18_small_v1'"):
        load_runner("onnxruntime", good, expect={"model": "pose_hrnet_w32"})
    # a pose graph whose record claims a segmentation model of 19 classes
    import json

    import onnx

    graph = onnx.load(str(good))
    meta = json.loads(graph.metadata_props[0].value)
    meta.update(task="segmentation", num_classes=19)
    del meta["num_joints"]
    graph.metadata_props[0].value = json.dumps(meta)
    swapped = tmp_path / "swapped.onnx"
    onnx.save(graph, str(swapped))
    with pytest.raises(CheckpointError, match="19 class logits but the graph outputs"):
        load_runner("onnxruntime", swapped)
    del graph.metadata_props[:]
    plain = tmp_path / "plain.onnx"
    onnx.save(graph, str(plain))
    with pytest.raises(CheckpointError, match="no hrseg metadata"):
        load_runner("onnxruntime", plain)
    with pytest.raises(ConfigError, match="torch backend runs a model"):
        load_runner("torch", good)


def test_failed_check_leaves_no_file(models, tmp_path, monkeypatch):
    monkeypatch.setitem(check_module.TOLERANCES, "float32", dict(max_rel=-1.0, keypoints=0.99, labels=0.999))
    with pytest.raises(ExportCheckError, match=r"not written; self-check .*max rel .* > -1"):
        export_model(models[POSE], tmp_path / "bad.onnx", POSE, POSE_SIZE)
    assert list(tmp_path.iterdir()) == []


def test_unsupported_requests_and_missing_dependency(models, tmp_path, monkeypatch):
    with pytest.raises(ConfigError, match="no bfloat16 convolutions"):
        export_model(models[POSE], tmp_path / "p.onnx", POSE, POSE_SIZE, dtype="bfloat16")
    refusal = ("only pose_\\*, seg_\\*, the R-CNN and FCOS detectors and the multi-task models \\(det_fasterrcnn_\\*, "
               "det_maskrcnn_\\*, det_cascadercnn_\\*, det_cascademaskrcnn_\\*, det_htc_\\*, det_fcos_\\*, "
               "multi_\\*\\) export")
    with pytest.raises(ConfigError, match=refusal):
        export_model(models[POSE], tmp_path / "p.onnx", "hrnetv2p_w18", POSE_SIZE)
    import importlib

    real = importlib.import_module

    def fake(name, *a, **k):
        if name == "onnxruntime":
            raise ImportError(name)
        return real(name, *a, **k)

    monkeypatch.setattr(importlib, "import_module", fake)
    with pytest.raises(ConfigError, match=r"onnxruntime is not installed: pip install 'hrseg\[onnx\]' \(in a clone"):
        load_runner("onnxruntime", tmp_path / "p.onnx")
    assert list(tmp_path.iterdir()) == []


def test_on_the_fly_export_is_cached(models, tmp_path, shared_data, monkeypatch):
    monkeypatch.setenv("HRSEG_SHARED", str(shared_data.parent))
    runner = load_runner("onnxruntime", models[POSE], name=POSE, input_size=POSE_SIZE, cache_dir=tmp_path)
    files = list(tmp_path.glob("*.onnx"))
    assert len(files) == 1 and runner.meta["dynamic_batch"]
    import hrseg.export as export_pkg

    monkeypatch.setattr(export_pkg, "export_model", lambda *a, **k: pytest.fail("exported twice"))
    assert export_cached(models[POSE], POSE, POSE_SIZE, "onnx", directory=tmp_path) == files[0]
    files[0].write_bytes(files[0].read_bytes()[:1000])  # damaged in the cache: exported again, with a warning
    monkeypatch.undo()
    monkeypatch.setenv("HRSEG_SHARED", str(shared_data.parent))
    load_runner("onnxruntime", models[POSE], name=POSE, input_size=POSE_SIZE, cache_dir=tmp_path)
    assert files[0].stat().st_size > 1000
    monkeypatch.setattr(export_pkg, "export_model", lambda *a, **k: pytest.fail("exported twice"))
    other = randomize_weights(hrseg.build_model(POSE), seed=1)  # other weights: another cache entry
    with pytest.raises(pytest.fail.Exception):
        export_cached(other, POSE, POSE_SIZE, "onnx", directory=tmp_path)


def test_export_tool_reports_one_line_and_leaves_nothing(tmp_path, capsys):
    import importlib.util

    from hrseg.cli import run_cli

    spec = importlib.util.spec_from_file_location("export_tool", Path(__file__).parents[1] / "tools" / "export.py")
    tool = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(tool)
    out = tmp_path / "p.onnx"
    code = run_cli(lambda: tool.main([POSE, "--input-size", "64x48", "--out", str(out),
                                      "--check-image", str(tmp_path / "missing.png")]))
    assert code == 2 and "missing.png: image file not found" in capsys.readouterr().err
    assert list(tmp_path.iterdir()) == []
    code = run_cli(lambda: tool.main([POSE, "--input-size", "64x48", "--out", str(tmp_path / "new" / "p.onnx"),
                                      "--check-image", str(tmp_path / "missing.png")]))
    assert code == 2 and not (tmp_path / "new").exists()  # no empty output folder left behind
    capsys.readouterr()
    code = run_cli(lambda: tool.main(["hrnet_w18", "--out", str(out)]))
    assert code == 2 and "only pose_*, seg_*, the R-CNN and FCOS detectors" in capsys.readouterr().err
    code = run_cli(lambda: tool.main([POSE, "--score-thr", "0.3", "--out", str(out)]))
    assert code == 2 and f"--score-thr: {POSE} is not a detector" in capsys.readouterr().err
    assert list(tmp_path.iterdir()) == []


def test_the_check_through_the_predictor_sees_every_forward_it_makes(models, shared_data):
    """A file that is right on the crops and wrong on their mirror images (the predictor's flip
    test, a second forward) passes a check of one forward and fails the check through the
    task's predictor, which compares every forward the predictor makes."""
    from hrseg.tasks import pose
    from hrseg.tasks.export_source import ExportSource

    model = models[POSE]
    cfg = pose.load_pose_config(None, {"model.name": POSE, "test.flip": True})
    source = ExportSource(model, POSE, POSE_SIZE, pose.TASK, cfg)
    predictor = source.check_predictor(model, POSE_SIZE, dynamic_size=False)
    meta = {"task": "pose", "dtype": "float32", "input_size": list(POSE_SIZE), "dynamic_batch": True}
    photo = shared_data / "images" / "astronaut.png"

    class WrongOnMirrors:
        def __init__(self):
            self.calls = 0

        def __call__(self, x):
            self.calls += 1
            out = model(x)
            return out if self.calls % 2 else out.flip(-1)

        def parameters(self):
            return model.parameters()

    with torch.no_grad():
        assert check_module.self_check(model, WrongOnMirrors(), meta, photo).ok  # one forward: not seen
        report = check_module.self_check(model, WrongOnMirrors(), meta, photo, predictor=predictor)
        assert not report.ok and report.forwards == 2 and report.decoded["results"] == 2
        honest = check_module.self_check(model, model, meta, photo, predictor=predictor)
    assert honest.ok and "through the predictor, 2 forward(s)" in honest.summary()


def test_the_export_tool_checks_through_the_predictor(tmp_path, caplog, shared_data, monkeypatch):
    from hrseg.commands.export import main

    monkeypatch.setenv("HRSEG_SHARED", str(shared_data.parent))
    with caplog.at_level("INFO", logger="hrseg"):
        assert main([POSE, "--input-size", "64x48", "--dynamic-batch", "--out", str(tmp_path / "p.onnx")]) == 0
    assert "through the predictor, 2 forward(s)" in caplog.text and "-> passed" in caplog.text
    assert read_meta(tmp_path / "p.onnx")["input_size"] == [64, 48]


def test_an_exported_file_read_as_a_checkpoint_says_what_takes_it(exported):
    from hrseg.checkpoint import read_checkpoint

    onnx_file = exported["pose_onnx"].files[0]
    with pytest.raises(CheckpointError, match="pose.onnx: not a checkpoint file .* but an exported model: hrseg "
                                              "infer, test and serve take it as --weights"):
        read_checkpoint(onnx_file)


def test_a_checkpoint_given_by_model_name_exports_at_its_recorded_size(tmp_path):
    from hrseg.tasks import pose
    from hrseg.tasks.export_source import export_source

    cfg = pose.load_pose_config(None, {"model.name": POSE, "data.input_size": [64, 48], "data.heatmap_size": [16, 12]})
    path = hrseg.save_checkpoint(tmp_path / "run.pth", pose.TASK.build_model(cfg),
                                 meta={"config": cfg, "model": pose.TASK.model_meta(cfg)})
    source = export_source(POSE, path)  # the defaults say 256x192; the run was at 64x48
    assert source.input_size == (64, 48) and source.cfg["data"]["input_size"] == [64, 48]
    with pytest.raises(ConfigError, match="run.pth: these weights are for pose_hrnet_w18_small_v1, not pose_hrnet_w32"):
        export_source("pose_hrnet_w32", path)


def test_export_output_path_follows_out_and_format(tmp_path):
    from hrseg.commands.export import output_path

    assert output_path(None, None, "m") == Path("exports/m.onnx")
    assert output_path(None, "openvino", "m") == Path("exports/m.xml")
    assert output_path(str(tmp_path), None, "m") == tmp_path / "m.onnx"  # a folder: the default name in it
    assert output_path("x.xml", None, "m") == Path("x.xml")  # the suffix names the format
    assert output_path("new/", "openvino", "m") == Path("new/m.xml")  # a folder to make
    with pytest.raises(ConfigError, match="x.xml names the openvino format but --format is onnx"):
        output_path("x.xml", "onnx", "m")
    with pytest.raises(ConfigError, match="x.bin: an export is a .onnx file or an OpenVINO .xml"):
        output_path("x.bin", None, "m")


# -- detectors: torchvision's Faster R-CNN traced whole (resize, proposals, NMS), one image a call --
DET = "det_fasterrcnn_hrnetv2p_w18_small_v1"
DET_CLASSES = [{"id": 1, "name": "person"}, {"id": 3, "name": "car"}]


@pytest.fixture(scope="module")
def detector():
    """A small Faster R-CNN (160 px images) with random weights: they give dozens of boxes scoring
    above 0.05 on a real photograph, so the comparison has something to compare."""
    model = hrseg.build_model(DET, num_classes=3, min_size=160, max_size=224)
    model.classes = DET_CLASSES
    return randomize_weights(model)


@pytest.fixture(scope="module")
def det_export(detector, tmp_path_factory, shared_data):
    os.environ.setdefault("HRSEG_SHARED", str(shared_data.parent))
    return export_model(detector, tmp_path_factory.mktemp("det") / "det.onnx", DET, (120, 160))


def test_detector_export_records_its_classes_and_passes_its_check(det_export):
    check = det_export.check
    assert check.ok and Path(check.image).parent.name == "images"  # a COCO photograph
    assert check.decoded["detections"] >= 10 and check.decoded["boxes matched"] == 1.0
    assert check.max_abs < 0.1 and check.decoded["max score diff"] < 1e-4
    meta = read_meta(det_export.files[0])
    assert meta["task"] == "detection" and meta["classes"] == DET_CLASSES and meta["num_classes"] == 3
    assert meta["outputs"] == ["boxes", "labels", "scores"] and meta["min_size"] == [160]


@pytest.mark.parametrize("backend", ["onnxruntime", "openvino"])
def test_detector_backends_match_torch_on_another_photograph(detector, det_export, shared_data, backend):
    from hrseg.data.det.dataset import to_tensor
    from hrseg.export.check import _compare_detections
    from hrseg.tasks.detection import detect
    from hrseg.utils.image_io import read_image

    image = read_image(shared_data / "coco_mini" / "images" / "000000000790.jpg")  # not the checked one
    runner = load_runner(backend, det_export.files[0], expect={"task": "detection"})
    with torch.no_grad():
        ref, out = detector([to_tensor(image)])[0], runner([to_tensor(image)])[0]
    decoded, a, b = _compare_detections(ref, out)
    assert decoded["detections"] >= 10 and decoded["boxes matched"] == 1.0
    assert (a - b).abs().max() < 0.1
    runner.classes = DET_CLASSES  # what hrseg.tasks.detection.detection_runner sets
    found = detect(runner, image, score_thr=0.05)
    assert found and {d["name"] for d in found} <= {"person", "car"}


def test_corrupt_or_mismatched_detector_files_are_clear_errors(det_export, exported, tmp_path):
    import json

    import onnx

    good = det_export.files[0]
    truncated = tmp_path / "det_truncated.onnx"
    truncated.write_bytes(good.read_bytes()[:4000])
    with pytest.raises(CheckpointError, match="det_truncated.onnx"):
        load_runner("onnxruntime", truncated)
    with pytest.raises(CheckpointError, match="exported for task 'detection'"):
        load_runner("openvino", good, expect={"task": "pose"})
    # a pose graph carrying a detector's record
    graph = onnx.load(str(exported["pose_onnx"].files[0]))
    graph.metadata_props[0].value = json.dumps(read_meta(good))
    swapped = tmp_path / "swapped_det.onnx"
    onnx.save(graph, str(swapped))
    with pytest.raises(CheckpointError, match="its metadata says a detector"):
        load_runner("onnxruntime", swapped)


@pytest.mark.slow
def test_infer_det_runs_the_exported_detector(detector, shared_data, tmp_path, monkeypatch, capsys):
    import json

    from hrseg.commands import infer_det
    from hrseg.tasks.detection import TASK, load_det_config

    monkeypatch.setenv("HRSEG_SHARED", str(shared_data.parent))
    cfg = load_det_config(None, {"model.name": DET, "model.num_classes": 3, "model.min_size": 160,
                                 "model.max_size": 224, "classes": DET_CLASSES})
    weights = hrseg.save_checkpoint(tmp_path / "det.pth", detector, meta={"config": cfg, "model": TASK.model_meta(cfg)})
    photo = shared_data / "coco_mini" / "images" / "000000000790.jpg"
    boxes = {}
    for backend in ("torch", "onnxruntime"):
        out = tmp_path / backend
        assert infer_det.main([str(photo), "--weights", str(weights), "--backend", backend, "--out", str(out),
                               "--score-thr", "0.05"]) == 0
        boxes[backend] = json.loads((out / f"{photo.stem}_det.json").read_text())["detections"]
    assert len(boxes["torch"]) >= 10 and len(boxes["onnxruntime"]) == len(boxes["torch"])
    assert list((Path(os.environ["HRSEG_HOME"]) / "exports").glob(f"{DET}_*.onnx"))  # exported into the cache


def test_decoded_agreement_forgives_near_ties_only():
    """Flat heatmaps (untrained weights): a peak that moves between two near-equal cells agrees;
    a peak that moves to a clearly lower cell does not. The same for label maps."""
    ref = torch.zeros(1, 2, 8, 6)
    ref[0, 0, 1, 1], ref[0, 0, 6, 4] = 1.0, 1.0 - 1e-6  # a near tie, far apart
    ref[0, 1, 2, 2], ref[0, 1, 5, 5] = 1.0, 0.5
    out = ref.clone()
    out[0, 0, 6, 4] += 2e-6  # the exported peak jumps to the tied cell
    centers, scales = torch.tensor([[100.0, 100.0]]).numpy(), torch.tensor([[1.0, 1.0]]).numpy()
    codec = HeatmapCodec(input_size=(32, 24), heatmap_size=(8, 6))  # the predictor's decoding
    assert check_module._compare_pose(ref, out, centers, scales, codec, tie=1e-3)["keypoints within one cell"] == 1.0
    out[0, 1, 5, 5] = 1.5  # a real difference: the peak moves to a cell eager scored 0.5
    assert check_module._compare_pose(ref, out, centers, scales, codec, tie=1e-3)["keypoints within one cell"] == 0.5
    logits = torch.zeros(1, 3, 4, 4)
    logits[0, 0], logits[0, 1] = 1.0, 1.0 - 1e-6
    moved = logits.clone()
    moved[0, 1] += 2e-6
    assert check_module._compare_labels(logits, moved, (4, 4), False, tie=1e-3)["labels agreement"] == 1.0
    moved[0, 2] = 5.0
    assert check_module._compare_labels(logits, moved, (4, 4), False, tie=1e-3)["labels agreement"] == 0.0


# -- Mask R-CNN: the detector above with its mask branch; masks are image-sized probabilities ------
MASK_DET = "det_maskrcnn_hrnetv2p_w18_small_v1"


@pytest.fixture(scope="module")
def mask_detector():
    """A small Mask R-CNN (configs/det/mini_maskrcnn.py's sizes: 256 px images, a 64-channel
    pyramid, two 64-channel mask convs), random weights, at most 20 detections an image. The
    class logits are scaled down: at full scale every box scores 1.0, and the top-20 cut among
    exact ties would pick boxes in NMS's own order, on each side another."""
    model = hrseg.build_model(MASK_DET, num_classes=3, min_size=256, max_size=256, out_channels=64,
                              mask_channels=64, mask_convs=2, box_detections_per_img=20)
    model.classes = DET_CLASSES
    randomize_weights(model)
    with torch.no_grad():
        model.roi_heads.box_predictor.cls_score.weight.mul_(0.1)
    return model


@pytest.mark.slow
def test_mask_rcnn_onnx_round_trip_matches_torch_boxes_and_masks(mask_detector, tmp_path, shared_data, monkeypatch):
    from torchvision.ops import box_iou

    from hrseg.data.det.dataset import to_tensor
    from hrseg.export.check import MIN_SCORE, _compare_detections
    from hrseg.utils.image_io import read_image

    monkeypatch.setenv("HRSEG_SHARED", str(shared_data.parent))
    report = export_model(mask_detector, tmp_path / "mask.onnx", MASK_DET, (120, 160))
    assert report.check.ok and report.check.decoded["masks agreement"] >= 0.999
    meta = read_meta(report.files[0])
    assert meta["outputs"] == ["boxes", "labels", "scores", "masks"] and meta["classes"] == DET_CLASSES

    image = read_image(shared_data / "coco_mini" / "images" / "000000000790.jpg")  # not the checked one
    runner = load_runner("onnxruntime", report.files[0], expect={"task": "detection"})
    with torch.no_grad():
        ref, out = mask_detector([to_tensor(image)])[0], runner([to_tensor(image)])[0]
    assert out["masks"].shape[1:] == (1, *image.shape[:2])  # pasted into the image, as eager
    decoded, a, b = _compare_detections(ref, out)
    assert decoded["detections"] >= 10 and decoded["boxes matched"] == 1.0
    assert (a - b).abs().max() < 0.1 and decoded["max score diff"] < 1e-4
    assert decoded["masks agreement"] >= 0.999
    # each detection's mask against its exported twin's (same label, best box IoU)
    ref, out = ({k: v[d["scores"] >= MIN_SCORE] for k, v in d.items()} for d in (ref, out))
    j = (box_iou(ref["boxes"], out["boxes"]) * (ref["labels"][:, None] == out["labels"][None, :])).argmax(1)
    p, q = ref["masks"][:, 0], out["masks"][j, 0]
    assert (p - q).abs().max() < 1e-3
    m, n = p >= 0.5, q >= 0.5
    assert m.flatten(1).sum(1).min() > 100  # real masks, not empty ones
    iou = (m & n).flatten(1).sum(1) / (m | n).flatten(1).sum(1)
    assert iou.min() > 0.99


def test_detections_tied_in_score_are_not_required_to_match():
    """An undertrained model scores nearly everything alike: which of two tied boxes NMS keeps,
    and which of the tied make the cap, follows the sort's order, which the backends' rounding
    decides. Those are counted apart; a box scored apart from the rest must still match."""
    from hrseg.export.check import _compare_detections

    def detections(boxes, scores):
        return {"boxes": torch.tensor(boxes, dtype=torch.float32), "scores": torch.tensor(scores),
                "labels": torch.ones(len(scores), dtype=torch.long)}

    clear, tie = [0.0, 0.0, 50.0, 50.0], 0.3371
    ref = detections([clear, [100, 100, 140, 140], [200, 200, 240, 240]], [0.9, tie, tie + 3e-8])
    out = detections([clear, [100, 100, 140, 140], [300, 300, 340, 340]], [0.9, tie, tie])  # another tied box kept
    decoded, _, _ = _compare_detections(ref, out)
    assert decoded["boxes matched"] == 1.0 and decoded["tied in score (order-dependent)"] == 2
    moved = detections([[5.0, 5.0, 60.0, 60.0], [100, 100, 140, 140], [300, 300, 340, 340]], [0.9, tie, tie])
    assert _compare_detections(ref, moved)[0]["boxes matched"] == 0.0  # the one box scored apart differs
    capped = detections([clear, [100, 100, 140, 140], [400, 400, 440, 440]], [0.9, 0.5, tie])
    at_cap = detections([clear, [100, 100, 140, 140], [200, 200, 240, 240]], [0.9, 0.5, tie])
    assert _compare_detections(at_cap, capped, cap=3)[0]["boxes matched"] == 1.0  # the last kept of a tie
    assert _compare_detections(at_cap, capped)[0]["boxes matched"] == pytest.approx(2 / 3)  # no cap: must match


@pytest.mark.slow
@pytest.mark.parametrize("kind, options", [("cascademaskrcnn", {}), ("htc", {"semantic_classes": 8})])
def test_cascade_mask_rcnn_exports_and_matches_torch(kind, options, tmp_path, shared_data, monkeypatch):
    """A small Cascade Mask R-CNN or HTC (random weights, class logits scaled down as mask_detector's, small box
    regressions: three stages of random ones move the boxes off the image) exports whole: its three stages,
    the averaged masks (HTC: its semantic branch and mask flow too) and the NMS in the graph, the boxes and masks
    of eager PyTorch."""
    name = f"det_{kind}_hrnetv2p_w18_small_v1"
    model = hrseg.build_model(name, num_classes=3, min_size=256, max_size=256, out_channels=64,
                              box_detections_per_img=20, **options)
    model.classes = DET_CLASSES
    randomize_weights(model)
    with torch.no_grad():
        for predictor in model.roi_heads.box_predictors:
            predictor.cls_score.weight.mul_(0.1)
            predictor.bbox_pred.weight.mul_(0.01)
            predictor.bbox_pred.bias.zero_()
    monkeypatch.setenv("HRSEG_SHARED", str(shared_data.parent))
    report = export_model(model, tmp_path / "cascade.onnx", name, (120, 160))
    assert report.check.ok and report.check.decoded["detections"] >= 10
    assert report.check.decoded["boxes matched"] == 1.0 and report.check.decoded["masks agreement"] >= 0.999
    meta = read_meta(report.files[0])
    assert meta["outputs"] == ["boxes", "labels", "scores", "masks"] and meta["num_classes"] == 3


@pytest.mark.slow
@pytest.mark.parametrize("head_type", ["torchvision", "mmdetection"])
def test_fcos_exports_and_matches_torch_at_its_score_floor(head_type, tmp_path, shared_data, monkeypatch):
    """FCOS (either head, random weights) exports whole, its resize, points, decoding and NMS in the graph; at
    ``--score-thr`` (with_score_floor) the graph returns only what scores more, the eager model's detections
    above it. Random weights: some boxes are clipped to nothing at the image's edge, as eager PyTorch's."""
    from hrseg.data.det.dataset import to_tensor
    from hrseg.export.check import _compare_detections
    from hrseg.tasks.detection import with_score_floor
    from hrseg.utils.image_io import read_image

    name = "det_fcos_hrnetv2p_w18_small_v1"
    model = hrseg.build_model(name, num_classes=3, min_size=256, max_size=256, out_channels=64, head_type=head_type)
    model.classes = DET_CLASSES
    randomize_weights(model)
    monkeypatch.setenv("HRSEG_SHARED", str(shared_data.parent))
    report = export_model(model, tmp_path / "fcos.onnx", name, (120, 160))
    assert report.check.ok and report.check.decoded["detections"] >= 10
    meta = read_meta(report.files[0])
    assert meta["num_classes"] == 3 and meta["classes"] == DET_CLASSES and meta["score_thresh"] == 0.05
    image = to_tensor(read_image(shared_data / "coco_mini" / "images" / "000000000790.jpg"))  # not the checked one
    with torch.no_grad():
        ref = model.eval()([image])[0]
    floor = float(ref["scores"].median())
    floored = with_score_floor(model, floor)
    assert floored is not model and model.score_thresh == 0.05 and floored.score_thresh == floor
    report = export_model(floored, tmp_path / "fcos_floor.onnx", name, (120, 160))
    assert read_meta(report.files[0])["score_thresh"] == floor
    runner = load_runner("onnxruntime", report.files[0], expect={"task": "detection"})
    out = runner([image])[0]
    assert len(out["scores"]) >= 5 and bool((out["scores"] >= floor).all())
    decoded, _, _ = _compare_detections({k: v[ref["scores"] > floor] for k, v in ref.items()}, out)  # NMS keeps > T
    assert decoded["boxes matched"] == 1.0 and decoded["max score diff"] < 1e-4
