"""Training curves as a picture (matplotlib, imported when drawing).

``dvc plots show`` renders its charts with scripts fetched from the internet,
so offline its HTML page shows no curves; every training run therefore also
draws its curves itself, logged as an image by DVCLive
(``pixelcnn.training.live``), which DVC (and docs/results.md) show as they are.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import TYPE_CHECKING

import numpy as np

if TYPE_CHECKING:
    from PIL import Image as PILImage


def curves_picture(
    rows: Sequence[Mapping[str, float]],
    panels: Mapping[str, Sequence[str]],
    title: str,
    x: str = "epoch",
) -> PILImage.Image:
    """One RGBA picture of side-by-side panels: ``panels`` maps a panel's y-label to the columns of ``rows`` it draws.

    Columns absent from every row are skipped (a row without a column leaves
    a gap); a panel left with none is dropped.
    """
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from PIL import Image

    present = {key for row in rows for key in row}
    shown = {label: [c for c in columns if c in present] for label, columns in panels.items()}
    shown = {label: columns for label, columns in shown.items() if columns}
    if not shown:
        raise ValueError(f"none of the columns {sorted(c for cs in panels.values() for c in cs)} are in the rows")
    fig, axes = plt.subplots(1, len(shown), figsize=(4.2 * len(shown), 3.2), squeeze=False)
    for ax, (label, columns) in zip(axes[0], shown.items()):
        for column in columns:
            points = [(row[x], row[column]) for row in rows if column in row]
            ax.plot(*zip(*points), marker="o", markersize=3, label=column)
        ax.set_xlabel(x)
        ax.set_ylabel(label)
        ax.grid(alpha=0.3)
        ax.legend(fontsize=8)
    fig.suptitle(title)
    fig.tight_layout()
    fig.set_dpi(100)
    canvas = fig.canvas
    assert isinstance(canvas, FigureCanvasAgg)  # matplotlib.use("Agg") above
    canvas.draw()
    picture = Image.fromarray(np.asarray(canvas.buffer_rgba()).copy())  # (H, W, 4)
    plt.close(fig)
    return picture
