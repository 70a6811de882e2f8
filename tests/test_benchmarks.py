"""The memory benchmarks run against the current library (a refactor once left one importing removed names).

Tiny sizes: this checks that each script runs end to end and prints its figures, not the figures.
"""

from __future__ import annotations

import json
import subprocess
import sys

import pytest

from helpers import ROOT


@pytest.mark.parametrize("script", ["extract_memory.py", "train_memory.py"])
def test_memory_benchmark_runs_and_prints_one_record_per_size(script):
    result = subprocess.run([sys.executable, str(ROOT / "benchmarks" / script), "--n", "256"],
                            capture_output=True, text=True, timeout=300, cwd=ROOT)
    assert result.returncode == 0, result.stderr[-2000:]
    records = [json.loads(line) for line in result.stdout.splitlines() if line.startswith("{")]
    assert len(records) == 2 and all(r["peak_rss_mb"] >= r["baseline_rss_mb"] > 0 for r in records), result.stdout


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
