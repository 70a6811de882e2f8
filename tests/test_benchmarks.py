"""The benchmarks run against the current library (a refactor once left one importing removed names).

Tiny sizes: this checks that each script runs end to end and prints its figures, not the figures; and the
GPU check's CPU-side logic (its parts on the CPU, its table and JSON, its verdict) without a GPU.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys

import pytest

from helpers import ROOT


@pytest.mark.slow  # runs the script as a subprocess
@pytest.mark.parametrize("script", ["extract_memory.py", "train_memory.py"])
def test_memory_benchmark_runs_and_prints_one_record_per_size(script):
    result = subprocess.run([sys.executable, str(ROOT / "benchmarks" / script), "--n", "256"],
                            capture_output=True, text=True, timeout=300, cwd=ROOT)
    assert result.returncode == 0, result.stderr[-2000:]
    records = [json.loads(line) for line in result.stdout.splitlines() if line.startswith("{")]
    assert len(records) == 2 and all(r["peak_rss_mb"] >= r["baseline_rss_mb"] > 0 for r in records), result.stdout


def records(args: list[str]) -> list[dict]:
    result = subprocess.run([sys.executable, *args], capture_output=True, text=True, timeout=600, cwd=ROOT)
    assert result.returncode == 0, result.stderr[-2000:]
    return [json.loads(line) for line in result.stdout.splitlines() if line.startswith("{")]


@pytest.mark.slow  # runs the script as a subprocess
def test_training_benchmark_times_the_params_model_in_every_setting():
    rows = records([str(ROOT / "benchmarks" / "training.py"), "--models", "params", "--batch", "2", "--steps", "1"])
    assert rows[0]["torch_threads"] >= 1 and rows[0]["matmul_fp32_2048_gflops"] > 0
    timed = rows[1:]
    assert [(r["precision"], r["channels_last"]) for r in timed] == [("fp32", False), ("fp32", True), ("bf16", False), ("bf16", True)]
    assert all(r["model"] == "params" and r["images_per_s"] > 0 and r["gmac_per_image"] > 0 for r in timed)


@pytest.mark.slow  # runs the script as a subprocess
def test_sampling_benchmark_times_naive_cached_and_guided_sampling():
    rows = records([str(ROOT / "benchmarks" / "sampling.py"), "--cases", "prior_top", "--batches", "2", "--repeats", "1",
                    "--naive-steps", "2"])
    timed = [r for r in rows if "speedup" in r]
    assert len(timed) == 1 and timed[0]["case"] == "prior_top" and timed[0]["batch"] == 2
    assert timed[0]["naive_s"] > 0 and timed[0]["cached_s"] > 0 and timed[0]["guided_s"] > 0


@pytest.mark.slow  # runs the script as a subprocess
def test_macs_counts_every_model_of_a_preset_and_estimates_its_epoch(tmp_path):
    result = subprocess.run([sys.executable, str(ROOT / "benchmarks" / "macs.py"), "--names", "cifar10-vqvae2", "--tflops", "100",
                             "--output", str(tmp_path / "macs.json")], capture_output=True, text=True, timeout=300, cwd=ROOT)
    assert result.returncode == 0, result.stderr[-2000:]
    records = json.loads((tmp_path / "macs.json").read_text())
    assert [r["model"] for r in records] == ["pixelcnn", "vqvae", "prior top 4×4", "prior bottom 8×8"]
    for r in records:
        assert r["gmac_per_image"] > 0 and r["train_images"] == 50_000 and r["parameters"] > 0
        assert r["epoch_s_estimate"] == pytest.approx(6 * r["gmac_per_image"] * 1e9 * 50_000 / 100e12, abs=0.1)
    bottom, top = records[3], records[2]
    assert bottom["gmac_per_image"] > 3 * top["gmac_per_image"]  # 4× the positions, plus the conditioning network
    assert result.stdout.count("| cifar10-vqvae2 |") == 4 and "assumed sustained 100 TFLOP/s" in result.stdout


def _gpu_check():
    """benchmarks/gpu_check.py as a module (it imports its sibling _prepared, so benchmarks/ goes on sys.path)."""
    import importlib

    if str(ROOT / "benchmarks") not in sys.path:
        sys.path.insert(0, str(ROOT / "benchmarks"))
    return importlib.import_module("gpu_check")


@pytest.mark.slow  # runs the script as a subprocess
def test_gpu_check_without_cuda_says_so_in_one_line_and_exits_0(tmp_path):
    env = {**os.environ, "CUDA_VISIBLE_DEVICES": ""}
    result = subprocess.run([sys.executable, str(ROOT / "benchmarks" / "gpu_check.py"), "--output", str(tmp_path / "gpu.json")],
                            capture_output=True, text=True, timeout=300, cwd=ROOT, env=env)
    assert result.returncode == 0, result.stderr[-2000:]
    assert result.stdout.startswith("no CUDA device: ") and result.stdout.count("\n") == 1
    assert not (tmp_path / "gpu.json").exists()


@pytest.mark.slow  # runs the script as a subprocess
def test_gpu_check_on_the_cpu_measures_every_part_and_writes_its_table_as_json(tmp_path):
    """Every part but the CUDA tests, tiny, on the CPU (torch.compile with the eager backend: dynamo, no C++ build)."""
    result = subprocess.run([sys.executable, str(ROOT / "benchmarks" / "gpu_check.py"), "--device", "cpu", "--size", "4",
                             "--set", "hidden=4", "skip=4", "layers=1", "--batch", "8", "--steps", "1", "--compile-backend", "eager",
                             "--naive-images", "2", "--sample-batches", "1", "2", "--train-seconds", "0", "--min-steps", "20",
                             "--random-images", "8", "--skip-tests", "--output", str(tmp_path / "gpu.json")],
                            capture_output=True, text=True, timeout=600, cwd=ROOT)
    assert result.returncode == 0, result.stdout[-2000:] + result.stderr[-2000:]
    report = json.loads((tmp_path / "gpu.json").read_text())
    assert report["problems"] == [] and report["table"] in result.stdout and "| verdict | the check" in report["table"]
    assert [r["setting"] for r in report["train"]] == ["fp32", "bf16", "bf16 channels-last", "bf16 compiled"]
    assert all(r["images_per_s"] > 0 and r["peak_mb"] is None for r in report["train"]) and report["train"][0]["speedup"] == 1.0
    sample = report["sample"]
    assert sample["images"] == sample["identical"] == 2 and sample["naive_s"] > 0 and sample["kernel_busy"] is None
    assert sample["cached_images_per_s_batch1"] > 0 and sample["cached_images_per_s_batch2"] > 0
    loss = report["loss"]
    assert loss["steps"] == 20 and loss["falls"] and loss["last_tenth_bpd"] < loss["first_tenth_bpd"]
    assert (report["config"]["output"], report["config"]["resolutions"], report["config"]["n_mix"]) == ("logistic", 3, 10)  # the preset's


def test_gpu_check_reads_pytests_summary_and_fails_on_each_problem():
    gpu_check = _gpu_check()
    assert gpu_check.test_counts("....s\n5 passed, 1 skipped, 480 deselected in 12.30s\n") == {
        "passed": 5, "failed": 0, "skipped": 1, "errors": 0, "deselected": 480}
    assert gpu_check.test_counts("F.\n1 failed, 1 passed, 2 errors in 3.1s") == {"passed": 1, "failed": 1, "skipped": 0, "errors": 2}
    good = {"tests": {"passed": 6, "failed": 0, "errors": 0, "skipped": 1, "returncode": 0},
            "loss": {"falls": True, "first_tenth_bpd": 9.0, "last_tenth_bpd": 8.1}, "sample": {"images": 64, "identical": 64}}
    assert gpu_check.verdict(good) == []
    bad = {"tests": {**good["tests"], "failed": 1, "returncode": 1}, "loss": {**good["loss"], "falls": False},
           "sample": {"images": 64, "identical": 63}, "train": [{"images_per_s": float("nan")}]}
    problems = gpu_check.verdict(bad)
    assert len(problems) == 4 and problems[0].startswith("CUDA tests: 1 failed") and "did not fall" in problems[1]
    assert "1 of 64 images unlike the naive one" in problems[2] and problems[3] == "a figure is not finite"


def test_gpu_check_a_failing_part_is_a_row_and_a_problem_not_a_lost_report():
    gpu_check = _gpu_check()
    failed = gpu_check.guarded(lambda: 1 / 0, setting="bf16 compiled")
    assert failed == {"setting": "bf16 compiled", "error": "ZeroDivisionError: division by zero"}
    results = {"device": "cpu", "torch": "x", "cuda": None, "model": "m", "shape": "3×4×4", "train": [failed],
               "sample": gpu_check.guarded(lambda: {}[0]), "loss": {"falls": True, "first_tenth_bpd": 9.0, "last_tenth_bpd": 8.5,
                                                                   "steps": 10, "seconds": 1.0}}
    results["problems"] = gpu_check.verdict(results)
    assert results["problems"] == ["sample: KeyError: 0", "train bf16 compiled: ZeroDivisionError: division by zero"]
    text = gpu_check.table(results)
    assert "| train   | m, bf16 compiled" in text and "error: ZeroDivisionError: division by zero" in text
    assert "error: KeyError: 0" in text and "FAIL: sample: KeyError: 0" in text
