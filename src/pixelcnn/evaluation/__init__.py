"""Scoring generators: FID, IS, KID, precision/recall, LPIPS, class accuracy (``evaluate`` in ``api``)."""
