"""Training curves as PNG files (matplotlib, imported when drawing).

``dvc plots show`` renders its charts with scripts fetched from the internet,
so offline its HTML page shows no curves; every training stage therefore
also draws its curves itself, as image plots DVC (and the README) show as
they are.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from pathlib import Path

from pixelcnn.atomic import atomic_path


def save_curves(
    path: str | Path,
    rows: Sequence[Mapping[str, float]],
    panels: Mapping[str, Sequence[str]],
    title: str,
    x: str = "epoch",
) -> None:
    """One PNG of side-by-side panels: ``panels`` maps a panel's y-label to the columns of ``rows`` it draws.

    Columns absent from ``rows`` are skipped; a panel left with none is dropped.
    """
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    shown = {label: [c for c in columns if rows and c in rows[0]] for label, columns in panels.items()}
    shown = {label: columns for label, columns in shown.items() if columns}
    if not shown:
        raise ValueError(f"none of the columns {sorted(c for cs in panels.values() for c in cs)} are in the rows")
    fig, axes = plt.subplots(1, len(shown), figsize=(4.2 * len(shown), 3.2), squeeze=False)
    xs = [row[x] for row in rows]
    for ax, (label, columns) in zip(axes[0], shown.items()):
        for column in columns:
            ax.plot(xs, [row[column] for row in rows], marker="o", markersize=3, label=column)
        ax.set_xlabel(x)
        ax.set_ylabel(label)
        ax.grid(alpha=0.3)
        ax.legend(fontsize=8)
    fig.suptitle(title)
    fig.tight_layout()
    with atomic_path(path, ".png") as tmp:
        fig.savefig(tmp, format="png", dpi=100, metadata={"Software": None})  # no version stamp: same bytes on re-runs
    plt.close(fig)
