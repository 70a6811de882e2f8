"""Test-process settings: one torch thread.

The tests' tensors are tiny, where a second thread costs more in
synchronisation than it gains (and CPU results are bitwise reproducible only
for a fixed thread count). Subprocesses (the DVC pipeline test) keep torch's
default.
"""

import torch

torch.set_num_threads(1)


def pytest_configure(config) -> None:
    # `pytest -m cuda` runs the CUDA tests (benchmarks/gpu_check.py does); they skip themselves without a GPU
    config.addinivalue_line("markers", "cuda: needs a CUDA device (skipped without one); run them with `pytest -m cuda`")
    # `pytest -m "not slow"` is the quick loop (docs/developing.md); CI runs everything
    config.addinivalue_line("markers", "slow: an integration test of more than a few seconds (whole DAG, presets, browser and app, "
                                       "DDP, stages and scripts as subprocesses, compile), or the wider sweep of a property the quick "
                                       "loop checks on representatives; `pytest -m \"not slow\"` leaves them out")
