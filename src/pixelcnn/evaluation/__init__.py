"""Scoring generators: the feature spaces (``features``), FID, IS, KID, precision/recall, LPIPS, class accuracy
(``metrics``), the evaluate stage's files and table (``report``), and ``evaluate`` (``api``)."""
