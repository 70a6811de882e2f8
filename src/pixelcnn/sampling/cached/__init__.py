"""Exact cached sampling of the PixelCNN (Fast PixelCNN++ style), for every option of its config.

The naive sampler runs the whole network once per (row, column, channel)
step. The cached one keeps every stage's activations and computes, at each
step, only what the new position needs, drawing its randomness exactly like
the naive sampler, so the two return the same samples for the same generator.

- ``streams``: the buffers (vertical stacks, horizontal streams with folded offsets);
- ``stages``: one cache per network stage (gated block, attention, down/up
  sampling) behind the ``StageCache`` protocol: ``vertical(row)`` and ``step(row, col, c)``;
- ``head``: the output head at the current pixel, and the categorical and
  logistic outputs;
- ``loop``: the ``Cache`` that ties them together, ``sample_cached`` and ``cached_logits``.

The derivation (what is cached, why each step equals the full forward pass)
is in docs/cached_sampling.md.
"""

from pixelcnn.sampling.cached.loop import Cache, cached_logits, sample_cached

__all__ = ["Cache", "cached_logits", "sample_cached"]
