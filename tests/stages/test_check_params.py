"""The first stage: the whole params file checked strictly, an output that never depends on the values, no torch."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

from helpers import ROOT, tiny_params, write_params

SCRIPT = ROOT / "stages" / "check_params.py"


def check(params: Path, out: Path) -> subprocess.CompletedProcess:
    """``python stages/check_params.py`` as dvc.yaml runs it."""
    return subprocess.run([sys.executable, str(SCRIPT), "--params", str(params), "--out", str(out)],
                          capture_output=True, text=True, timeout=120)


def test_check_params_output_is_the_same_bytes_for_every_valid_file(tmp_path):
    """So a valid edit re-runs nothing downstream because of the check (DVC compares the output's hash)."""
    written = []
    for i, sections in enumerate(({}, {"pixelcnn": {"temperature": 0.5, "epochs": 3}}, {"seed": 7, "prior": {"top_k": 4}})):
        params = write_params(tmp_path / f"{i}" / "params.yaml", **sections)
        out = tmp_path / f"{i}" / "params_checked"
        result = check(params, out)
        assert result.returncode == 0, result.stderr
        written.append(out.read_bytes().replace(str(params).encode(), b"params.yaml"))
    assert written[0] and written.count(written[0]) == 3


@pytest.mark.parametrize("edit, sentence", [
    (lambda raw: raw["pixelcnn"].update(temprature=0.5), "unknown key pixelcnn.temprature; allowed keys of pixelcnn: "),
    (lambda raw: raw["pixelcnn"].update(hidden="six"), "pixelcnn.hidden must be an integer, got 'six'"),
    (lambda raw: raw["pixelcnn"].pop("temperature"), "pixelcnn.temperature is missing; add it to the pixelcnn section"),
    (lambda raw: raw["pixelcnn"].update(lr=float("inf")), "pixelcnn.lr must be a finite number, got inf"),
])
def test_check_params_refuses_a_bad_file_with_one_sentence_and_writes_nothing(tmp_path, edit, sentence):
    raw = tiny_params()
    edit(raw)
    params = write_params(tmp_path / "params.yaml", base=raw)
    out = tmp_path / "params_checked"
    result = check(params, out)
    assert result.returncode == 1 and result.stdout == ""
    assert result.stderr.startswith(f"error: {params}: {sentence}") and result.stderr.count("\n") == 1, result.stderr
    assert not out.exists()


def test_check_params_imports_no_torch(tmp_path):
    """It runs on every edit of params.yaml: about a second, not torch's import."""
    params = write_params(tmp_path / "params.yaml")
    code = (f"import sys, runpy; sys.argv = [{str(SCRIPT)!r}, '--params', {str(params)!r}, '--out', {str(tmp_path / 'ok')!r}]; "
            f"sys.path.insert(0, {str(SCRIPT.parent)!r}); runpy.run_path({str(SCRIPT)!r}, run_name='__main__'); "
            "print('torch' in sys.modules)")
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120)
    assert result.stdout == "False\n", result.stderr
    assert (tmp_path / "ok").is_file()
