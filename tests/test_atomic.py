"""Tests of pixelcnn.atomic's atomic writers: stale temporaries, a full disk, non-finite JSON."""

from __future__ import annotations

import errno
import json
import math
import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from pixelcnn import atomic as io
from pixelcnn.data.prepared import PreparedData, save_prepared
from pixelcnn.errors import OutputError

REPO = Path(__file__).resolve().parents[1]


def _dead_pid() -> int:
    """The pid of a process that has exited (and been reaped)."""
    child = subprocess.Popen([sys.executable, "-c", "pass"])
    child.wait()
    return child.pid


def _listing(folder: Path) -> set[str]:
    return {p.name for p in folder.iterdir()}


# --------------------------------------------------------------------------- stale temporaries


def test_atomic_dir_removes_stale_temporaries_of_its_path_only(tmp_path):
    dead = _dead_pid()
    stale = [".codes.tmp-k3j_x9a2", ".codes.old-k3j_x9a2", f".codes.tmp-{dead}-ab12cd34", f".codes.old-{dead}-ab12cd34"]
    kept = [f".codes.tmp-{os.getpid()}-live0000", ".prepared.tmp-k3j_x9a2", ".codes2.tmp-k3j_x9a2", "codes.tmp-x",
            ".codes.tmp-x.tmp-k3j_x9a2"]
    for name in stale + kept:
        (tmp_path / name).mkdir()
        (tmp_path / name / "part.npy").write_bytes(b"half")
    with io.atomic_dir(tmp_path / "codes") as tmp:
        (tmp / "train.npy").write_bytes(b"whole")
    assert _listing(tmp_path) == {"codes", *kept}
    assert _listing(tmp_path / "codes") == {"train.npy"}


def test_atomic_path_removes_stale_temporaries_of_its_path_only(tmp_path):
    dead = _dead_pid()
    stale = [f".prior.json.tmp-{dead}-ab12cd34.json"]
    kept = [f".prior.json.tmp-{os.getpid()}-live0000.json", ".prior.json.bak", ".pixelcnn.json.tmp-9-ab12cd34.json"]
    for name in stale + kept:
        (tmp_path / name).write_text("{")
    io.write_json(tmp_path / "prior.json", {"a": 1})
    assert _listing(tmp_path) == {"prior.json", *kept}


def test_atomic_temporaries_are_named_for_cleanup_and_git_ignored(tmp_path):
    with io.atomic_path(tmp_path / "eval.json") as file_tmp, io.atomic_dir(tmp_path / "codes") as dir_tmp:
        names = [file_tmp.name, dir_tmp.name, dir_tmp.name.replace(".tmp-", ".old-")]
    assert file_tmp.name.startswith(f".eval.json.tmp-{os.getpid()}-") and file_tmp.name.endswith(".json")
    assert dir_tmp.name.startswith(f".codes.tmp-{os.getpid()}-")
    for path in [f"data/{names[1]}", f"data/{names[2]}", f"metrics/{names[0]}", "dvc_plots/index.html"]:
        result = subprocess.run(["git", "check-ignore", "--no-index", "-q", path], cwd=REPO)
        assert result.returncode == 0, f"{path} is not git-ignored"


# --------------------------------------------------------------------------- a full disk


def _full(code: int = errno.ENOSPC):
    def write(*args, **kwargs):
        raise OSError(code, os.strerror(code))

    return write


@pytest.mark.parametrize("code, words", [(errno.ENOSPC, "no space left on device"), (errno.EDQUOT, "disk quota exceeded")])
def test_write_json_on_a_full_disk_is_one_sentence_and_leaves_the_old_file(tmp_path, monkeypatch, code, words):
    path = tmp_path / "metrics" / "eval.json"
    io.write_json(path, {"fid": 1.0})
    monkeypatch.setattr(Path, "write_text", _full(code))
    with pytest.raises(OutputError) as err:
        io.write_json(path, {"fid": 2.0})
    assert str(err.value) == f"{path}: {words} while writing it; free space and re-run"
    assert _listing(path.parent) == {"eval.json"}
    assert json.loads(path.read_bytes()) == {"fid": 1.0}


def test_write_text_on_a_full_disk_is_one_sentence(tmp_path, monkeypatch):
    monkeypatch.setattr(Path, "write_text", _full())
    with pytest.raises(OutputError, match=r"eval\.md: no space left on device while writing it; free space and re-run$"):
        io.write_text(tmp_path / "eval.md", "| a |\n")
    assert _listing(tmp_path) == set()


def _tiny() -> PreparedData:
    images = np.zeros((2, 1, 4, 4), np.uint8)
    return PreparedData("digits", ["a", "b"], images, np.array([0, 1]), images, np.array([1, 0]))


@pytest.mark.parametrize("where", ["np.save", "write_json"])
def test_atomic_dir_on_a_full_disk_names_the_output_dir_and_keeps_the_old_one(tmp_path, monkeypatch, where):

    out = tmp_path / "prepared"
    save_prepared(_tiny(), out)
    before = {p.name: p.read_bytes() for p in out.iterdir()}
    if where == "np.save":
        monkeypatch.setattr(np, "save", _full())
    else:
        monkeypatch.setattr(Path, "write_text", _full())  # inside write_json(tmp / "meta.json"): a nested atomic_path
    with pytest.raises(OutputError) as err:
        save_prepared(_tiny(), out)
    assert str(err.value) == f"{out}: no space left on device while writing it; free space and re-run"
    assert _listing(tmp_path) == {"prepared"}
    assert {p.name: p.read_bytes() for p in out.iterdir()} == before


def test_other_os_errors_pass_through_unchanged(tmp_path, monkeypatch):
    monkeypatch.setattr(Path, "write_text", _full(errno.EIO))
    with pytest.raises(OSError) as err:
        io.write_json(tmp_path / "a.json", {})
    assert err.value.errno == errno.EIO and not isinstance(err.value, OutputError)
    assert _listing(tmp_path) == set()


# --------------------------------------------------------------------------- JSON holds finite numbers only


@pytest.mark.parametrize("obj, key, shown", [
    ({"top": {"test_bits_per_code": math.nan}, "bottom": {"test_bits_per_code": 2.0}}, "top.test_bits_per_code", "nan"),
    ({"a": 1.0, "curve": [0.5, 0.25, np.float64(math.inf)]}, "curve[2]", "inf"),
    ({"fid": -math.inf}, "fid", "-inf"),
    (math.nan, "the value", "nan"),
])
def test_write_json_refuses_non_finite_numbers_naming_the_key(tmp_path, obj, key, shown):
    path = tmp_path / "metrics" / "prior.json"
    path.parent.mkdir()
    with pytest.raises(OutputError) as err:
        io.write_json(path, obj)
    assert str(err.value) == (
        f"{path}: {key} is {shown}, which JSON cannot hold; find why the run produced it "
        "(a diverged loss, an empty set) and re-run"
    )
    assert not path.exists() and _listing(path.parent) == set()
