"""The stages' error boundary (pixelcnn.project.stage): bad input is one line and exit 1, once per group."""

from __future__ import annotations

import subprocess
import sys

import pytest

from pixelcnn.errors import DataError
from pixelcnn.project.stage import stage_main

from helpers import ROOT


def failing(argv: list[str]) -> None:
    raise DataError(f"{argv[0]}: not found; run prepare first")


def test_stage_main_prints_a_user_error_once_and_exits_1(monkeypatch, capsys):
    monkeypatch.setattr(sys, "argv", ["stage.py", "data/prepared"])
    monkeypatch.delenv("RANK", raising=False)
    with pytest.raises(SystemExit) as info:
        stage_main(failing)
    assert info.value.code == 1 and capsys.readouterr().err == "error: data/prepared: not found; run prepare first\n"
    monkeypatch.setenv("RANK", "1")  # another process of a torchrun group: silent, same exit
    with pytest.raises(SystemExit) as info:
        stage_main(failing)
    assert info.value.code == 1 and capsys.readouterr().err == ""


def test_stage_main_passes_a_status_on_and_keeps_a_bug_s_traceback(monkeypatch):
    monkeypatch.setattr(sys, "argv", ["stage.py"])
    with pytest.raises(SystemExit) as info:
        stage_main(lambda argv: 3)
    assert info.value.code == 3
    stage_main(lambda argv: None)  # success: returns
    with pytest.raises(ZeroDivisionError):
        stage_main(lambda argv: 1 / 0)


def test_stage_main_check_params_stays_free_of_torch(tmp_path):
    code = (f"import sys; sys.path.insert(0, {str(ROOT / 'src')!r}); import pixelcnn.project.stage, pixelcnn.project.params\n"
            "assert 'torch' not in sys.modules\n")
    subprocess.run([sys.executable, "-c", code], check=True, cwd=tmp_path)
