"""Datasets, the prepared on-disk format, pixel values, and the extracted code grids."""
