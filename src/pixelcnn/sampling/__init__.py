"""Autoregressive sampling: how logits become values (``draw``), the naive reference sampler (``naive``), the exact
cached sampler (``cached``), and ``sample`` (``api``), which runs the one a ``configs.Sampler`` names."""
