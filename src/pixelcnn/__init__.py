"""Autoregressive image generation: PixelCNN and VQ-VAE(-2) + PixelCNN prior.

The public API (see ``pixelcnn.pipelines``), imported on first use so that
``import pixelcnn`` stays cheap:

    import torch, pixelcnn
    pipe = pixelcnn.load("models/pixelcnn.pt")        # or load("models/prior.pt", vqvae="models/vqvae.pt")
    out = pipe(16, labels=3, temperature=0.8, generator=torch.Generator().manual_seed(0))
    out.images                                        # uint8 (16, C, H, W); out.pil(), out.grid()
"""

from pixelcnn.errors import UserError

__all__ = ["load", "Pipeline", "PixelCNNPipeline", "VQPriorPipeline", "Samples", "Progress", "UserError"]
_API = {  # public name → the module of pixelcnn.pipelines that defines it
    "load": "loading", "Pipeline": "base", "Samples": "base", "Progress": "base",
    "PixelCNNPipeline": "pixel", "VQPriorPipeline": "vq",
}


def __getattr__(name: str):
    if name in _API:
        from importlib import import_module

        return getattr(import_module(f"pixelcnn.pipelines.{_API[name]}"), name)
    raise AttributeError(f"module 'pixelcnn' has no attribute {name!r}")


def __dir__() -> list[str]:
    return sorted(set(globals()) | set(_API))
