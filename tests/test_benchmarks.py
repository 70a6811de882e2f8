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
