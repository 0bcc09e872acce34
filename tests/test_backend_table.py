"""The backends table's arithmetic: img/s, the ratio to timm and the shares of the float32 and of
each dtype's own convolution roofline, with the timings replaced by known numbers (the speed
itself is a benchmark's job, not a test's); and one real bfloat16 roofline measurement."""
from __future__ import annotations

import pytest
import torch

from hrseg import benchmark
from hrseg.commands.bench import main as bench_main


def test_rows_report_both_rooflines_and_the_bound_over_timm(monkeypatch):
    measured = []

    def fake_roofline(iters=5, rounds=5, dtype="float32"):
        measured.append(dtype)
        return {"float32": 100.0, "bfloat16": 250.0}[dtype]

    # every timed call of the reference "takes" 0.5 s, the model's 0.25 s (float32) or 0.125 s (bfloat16)
    def fake_time(fn, x, warmup=2, iters=5):
        if isinstance(fn, torch.nn.Identity):
            return 0.5
        return 0.125 if getattr(fn, "dtype", "float32") == "bfloat16" else 0.25

    def fake_runner(model, name, backend, dtype, input_size, cache=None):
        if backend == "onnxruntime" and dtype == "bfloat16":
            raise ValueError("no bfloat16 on ONNX Runtime's CPU provider")
        runner = lambda x: None  # noqa: E731
        runner.dtype = dtype
        return runner

    monkeypatch.setattr(benchmark, "conv_roofline_gflops", fake_roofline)
    monkeypatch.setattr(benchmark, "time_forward", fake_time)
    monkeypatch.setattr(benchmark, "timm_reference", lambda device="cpu": torch.nn.Identity())
    monkeypatch.setattr(benchmark, "backend_runner", fake_runner)
    result = benchmark.backend_table("pose_hrnet_w18_small_v1", (64, 48), 4, ["optimized", "onnxruntime"],
                                     ["float32", "bfloat16"], progress=lambda line: None)
    assert measured == ["float32", "bfloat16"]
    gmacs = result["gmacs"]
    rows = {(r["backend"], r["dtype"]): r for r in result["rows"]}
    f32, bf16 = rows[("optimized", "float32")], rows[("optimized", "bfloat16")]
    assert result["timm_img_s"] == 8.0 and f32["img_s"] == 16.0 and bf16["img_s"] == 32.0
    assert f32["vs_timm"] == 2.0 and bf16["vs_timm"] == 4.0
    assert f32["roofline_pct"] == pytest.approx(100 * 16 * 2 * gmacs / 100.0)
    assert f32["dtype_roofline_pct"] == f32["roofline_pct"]
    assert bf16["roofline_pct"] == pytest.approx(100 * 32 * 2 * gmacs / 100.0)
    assert bf16["dtype_roofline_pct"] == pytest.approx(100 * 32 * 2 * gmacs / 250.0)
    assert "img_s" not in rows[("onnxruntime", "bfloat16")]
    table = benchmark.format_backend_table(result)
    bound = 250.0 / (2 * gmacs)
    assert f"bfloat16 3x3-conv roofline 250 GFLOP/s = {benchmark._rate(bound)} img/s ({bound / 8:.2f}x timm)" in table
    assert f"| optimized | bfloat16 | 32.0 | 4.00x | {bf16['roofline_pct']:.0f}% | {bf16['dtype_roofline_pct']:.0f}% |" in table
    assert "| onnxruntime | bfloat16 | - | - | - | - | no bfloat16 on ONNX Runtime's CPU provider |" in table


def test_a_bfloat16_roofline_is_measured_in_bfloat16(monkeypatch):
    dtypes = []
    real = benchmark.time_forward

    def spy(fn, x, warmup=2, iters=5):
        dtypes.append((x.dtype, fn.weight.dtype))
        return real(fn, x[:, :, :8, :8], warmup=0, iters=1)  # a slice: the dtype is what is checked here

    monkeypatch.setattr(benchmark, "time_forward", spy)
    assert benchmark.conv_roofline_gflops(iters=1, rounds=2, dtype="bfloat16") > 0
    assert dtypes == [(torch.bfloat16, torch.bfloat16)] * 2


def test_an_unknown_dtype_is_one_clear_error(capsys):
    with pytest.raises(SystemExit):
        bench_main(["pose_hrnet_w18_small_v1", "--backends", "torch", "--dtype", "float32,int4"])
    assert "--dtype float32,int4: float32, bfloat16, float16 or int8" in capsys.readouterr().err
    with pytest.raises(SystemExit):
        bench_main(["pose_hrnet_w18_small_v1", "--dtype", "int8"])
    assert "--dtype int8: an exported file's; with --backends onnxruntime,openvino" in capsys.readouterr().err


@pytest.mark.slow
def test_int8_rows_run_a_quantised_file_and_have_no_roofline_of_their_own(monkeypatch, tmp_path):
    pytest.importorskip("onnxruntime")
    import hrseg
    from hrseg.export import read_meta

    model = hrseg.build_model("pose_hrnet_w18_small_v1").eval()
    runner = benchmark.backend_runner(model, "pose_hrnet_w18_small_v1", "onnxruntime", "int8", (64, 48), str(tmp_path))
    assert runner.dtype == "int8" and read_meta(runner.source)["dtype"] == "int8"
    assert runner(torch.rand(2, 3, 64, 48)).shape == (2, 17, 16, 12)  # exported with a free batch
    with pytest.raises(ValueError, match="int8 is an exported file's"):
        benchmark.backend_runner(model, "pose_hrnet_w18_small_v1", "optimized", "int8", (64, 48))
    monkeypatch.setattr(benchmark, "conv_roofline_gflops", lambda iters=5, rounds=5, dtype="float32": 100.0)
    monkeypatch.setattr(benchmark, "time_forward", lambda fn, x, warmup=2, iters=5: 0.5)
    monkeypatch.setattr(benchmark, "timm_reference", lambda device="cpu": torch.nn.Identity())
    monkeypatch.setattr(benchmark, "backend_runner", lambda *a, **k: (lambda x: None))
    result = benchmark.backend_table("pose_hrnet_w18_small_v1", (64, 48), 4, ["onnxruntime"], ["int8"],
                                     progress=lambda line: None)
    assert list(result["rooflines_gflops"]) == ["float32"] and "dtype_roofline_pct" not in result["rows"][0]
    assert "| onnxruntime | int8 | 8 | 1.00x | 1% | - |" in benchmark.format_backend_table(result)
