"""The public Python API: load a trained generator, then sample, complete and score."""
