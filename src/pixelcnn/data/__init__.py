"""Data: dataset adapters (``datasets``), the prepared on-disk format and its meta (``prepared``),
the one ``.npy`` reader and writer (``npy``), pixel values ↔ model values (``pixels``), and the
extracted code grids (``codes``)."""
