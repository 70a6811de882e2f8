"""A training run's record through DVCLive (``dvclive.Live``): per-epoch figures, final metrics, curve pictures.

DVCLive is DVC's own logger: what it writes is what ``dvc exp show``,
``dvc metrics``, ``dvc plots`` and DVC's VS Code extension read, also while
a ``dvc exp run`` is still training. One folder per training run (a stage's
``--live`` folder, or ``pixelcnn.train(log=...)``):

    <dir>/metrics.json              the latest epoch's figures and ``step`` (its epoch) while training;
                                    the run's final metrics once it is done (``dvc metrics``)
    <dir>/plots/metrics/<name>.tsv  one row per epoch: ``step`` (the epoch, from 1) and the figure
    <dir>/plots/images/curves.png   the curves, drawn with matplotlib (viewable offline)

A figure's name is its column in the trainer's history (``train_bpd``,
``test_bits_per_code``, ``lr``), prefixed by the network for models trained
in parts (``top/test_bits_per_code``: a nested key in ``metrics.json``).

Resume never duplicates or loses an epoch: the folder is emptied when the
record opens (``Live(resume=False)``), and the trainer hands over its whole
history, restored from its saved state, before it trains on
(``Trainer.fit(on_epoch=...)``), so after any kill and resume the files hold
epochs 1..E once each, as a run never interrupted.

The record opens at its first use (the trainer's first ``on_epoch``, once the
data, the settings and any saved state are checked), not when a
``TrainingLog`` is made: a run stopped by bad input before training starts
leaves the folder of the previous run as it was (dvc.yaml keeps the stages'
outputs, ``persist: true``, for that).

Inside a DVC pipeline (``dvc repro``, ``dvc exp run``: ``DVC_ROOT`` is set)
DVCLive also signals every finished epoch to the VS Code extension; it never
saves an experiment itself (``save_dvc_exp=False``: ``dvc exp run`` does) nor
writes a ``dvc.yaml`` (``dvcyaml=None``: the project's dvc.yaml lists the
files). Elsewhere (a notebook, a script) it only writes its files: it does
not look for, or create, a DVC repository; nor does it where DVCLive cannot
read the repository (a Git repository without commits, where DVCLive 3.49
itself fails).

dvclive imports DVC (about 3 s), so it is imported when a record opens.
"""

from __future__ import annotations

import os
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

from pixelcnn.visuals.plots import curves_picture

CURVES = "curves.png"


def _live_class() -> type:
    """``dvclive.Live`` that joins DVC only inside a DVC pipeline (see the module docstring)."""
    from dvclive.live import Live  # where it is defined (the package re-exports it without __all__)

    class PipelineLive(Live):
        def _init_dvc(self) -> None:
            # Outside a pipeline, DVCLive would open the repository around the working directory, and `dvc init`
            # one in a Git repository without DVC: a logger must not do that to a user's repository.
            if not os.environ.get("DVC_ROOT"):
                return
            try:
                super()._init_dvc()
            except Exception as exc:  # e.g. scmrepo's SCMError in a Git repository without commits (DVCLive 3.49)
                print(f"DVCLive: {exc.__class__.__name__} ({exc}) while reading the repository; logging to {self.dir} "
                      "only", flush=True)
                self._dvc_repo = None

    return PipelineLive


class TrainingLog:
    """One training run's DVCLive folder (see the module docstring); ``epochs`` during training, ``finish`` at the end."""

    def __init__(self, directory: str | Path) -> None:
        self.directory = Path(directory)
        self.in_pipeline = bool(os.environ.get("DVC_ROOT"))
        self._live: Any = None  # dvclive.Live, opened (emptying the folder) at the first epochs() or finish()
        self.logged: dict[str, int] = {}  # prefix → history rows logged
        self.rows: dict[int, dict[str, float]] = {}  # epoch → every figure logged for it, prefixed

    @property
    def live(self) -> Any:
        """The DVCLive record, opened at first use: until then the folder keeps the previous run's files."""
        if self._live is None:
            self._live = _live_class()(str(self.directory), resume=False, save_dvc_exp=False, dvcyaml=None)
        return self._live

    def epochs(self, history: Sequence[Mapping[str, float]], prefix: str = "") -> None:
        """Log the rows of ``history`` (epoch, lr, train_*, val_*, test_*) not yet logged under ``prefix``."""
        self.live  # noqa: B018  (the record opens here, at the trainer's first call, even with no rows yet)
        for row in history[self.logged.get(prefix, 0) :]:
            epoch = int(row["epoch"])
            self.live.step = epoch
            entry = self.rows.setdefault(epoch, {"epoch": epoch})
            for key, value in row.items():
                if key != "epoch":
                    self.live.log_metric(prefix + key, float(value))
                    entry[prefix + key] = float(value)
            if self.in_pipeline:
                self.live.next_step()  # metrics.json, and the VS Code extension's "a step is done" signal
            else:
                self.live.make_summary()
        self.logged[prefix] = len(history)

    @property
    def history(self) -> list[dict[str, float]]:
        """Every logged epoch's figures, one row per epoch (the networks of a multi-part run side by side)."""
        return [self.rows[epoch] for epoch in sorted(self.rows)]

    def finish(self, metrics: Mapping[str, Any], panels: Mapping[str, Sequence[str]] | None, title: str) -> None:
        """Replace the running figures by the run's final ``metrics`` and draw the curves (``panels``: y-label →
        figures; None: one panel per figure measured on several splits), then close the record."""
        rows = self.history
        (self.directory / "plots").mkdir(parents=True, exist_ok=True)  # a DVC output even when nothing was trained
        if rows:
            self.live.log_image(CURVES, curves_picture(rows, panels or default_panels(rows), title))
        self.live.summary = {**_nested(metrics), "step": rows[-1]["epoch"] if rows else 0}
        self.live.end()


def _nested(metrics: Mapping[str, Any]) -> dict[str, Any]:
    """``{"top/test_bits_per_code": v}`` → ``{"top": {"test_bits_per_code": v}}``, as DVCLive nests its figures."""
    out: dict[str, Any] = {}
    for key, value in metrics.items():
        *parents, leaf = key.split("/")
        node = out
        for parent in parents:
            node = node.setdefault(parent, {})
        node[leaf] = value
    return out


def default_panels(rows: Sequence[Mapping[str, float]]) -> dict[str, list[str]]:
    """One panel per figure, its splits together: ``{"bpd": ["train_bpd", "test_bpd"], "top/bits_per_code": [...]}``."""
    panels: dict[str, list[str]] = {}
    for key in rows[0]:
        prefix, _, name = key.rpartition("/")
        for split in ("train_", "val_", "test_"):
            if name.startswith(split):
                label = f"{prefix}/{name.removeprefix(split)}" if prefix else name.removeprefix(split)
                panels.setdefault(label, []).append(key)
    return panels
