"""Autoregressive sampling: how logits become values, the naive reference sampler, the exact cached sampler."""
