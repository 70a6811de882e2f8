"""Autoregressive image generation: PixelCNN and VQ-VAE(-2) + PixelCNN prior."""
