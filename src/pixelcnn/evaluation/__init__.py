"""Scoring generators (FID, IS, KID, precision/recall, LPIPS) and the pictures the stages draw."""
