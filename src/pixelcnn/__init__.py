"""Autoregressive image generation: PixelCNN and VQ-VAE(-2) + PixelCNN prior.

The public API, imported on first use so that ``import pixelcnn`` stays cheap:

    import torch, pixelcnn
    pipe = pixelcnn.load("models/pixelcnn.pt")        # or load("models/prior.pt", vqvae="models/vqvae.pt")
    out = pipe(16, labels=3, temperature=0.8, generator=torch.Generator().manual_seed(0))
    out.images                                        # uint8 (16, C, H, W); out.pil(), out.grid()

    model = pixelcnn.PixelCNN(pixelcnn.PixelCNNConfig(channels=1, height=28, width=28, num_classes=10))
    pixelcnn.train(model, images, labels, epochs=5)   # images uint8 (N, 1, 28, 28), labels int (N,)
    pixelcnn.generate(model, 16, labels=3).images     # the exact cached sampler (a CodePrior: vqvae=...)
    pixelcnn.evaluate(samples, test_images, ...)      # FID, IS, KID, precision/recall, LPIPS, class accuracy

Names that other PixelCNN repositories use (``PixelCNNSampler``,
``HierarchicalPixelCNN``, ``train_pixelcnn``, ...) raise one sentence naming
what to use here (``pixelcnn.compat``).
"""

from pixelcnn import compat as _compat  # standard library only; at module level, so that looking up a submodule
from pixelcnn.errors import UserError  # (`from pixelcnn.project import params`) runs nothing new

_API = {  # public name → the module that defines it
    "load": "pixelcnn.pipelines.loading",
    "generate": "pixelcnn.pipelines.generate",
    "Pipeline": "pixelcnn.pipelines.base",
    "Samples": "pixelcnn.pipelines.base",
    "Progress": "pixelcnn.pipelines.base",
    "PixelCNNPipeline": "pixelcnn.pipelines.pixel",
    "VQPriorPipeline": "pixelcnn.pipelines.vq",
    "PixelCNN": "pixelcnn.models.pixelcnn",
    "VQVAE": "pixelcnn.models.vqvae",
    "CodePrior": "pixelcnn.models.prior",
    "CodePriorConfig": "pixelcnn.models.prior",
    "LevelConfig": "pixelcnn.models.prior",
    "level_config": "pixelcnn.models.prior",
    "Classifier": "pixelcnn.models.classifier",
    "PixelCNNConfig": "pixelcnn.configs",
    "VQVAEConfig": "pixelcnn.configs",
    "CondNetConfig": "pixelcnn.configs",
    "ClassifierConfig": "pixelcnn.configs",
    "OptimConfig": "pixelcnn.configs",
    "RunConfig": "pixelcnn.configs",
    "EvaluateConfig": "pixelcnn.configs",
    "SamplingOptions": "pixelcnn.configs",
    "Sampler": "pixelcnn.configs",
    "train": "pixelcnn.training.api",
    "TrainResult": "pixelcnn.training.api",
    "TrainingLog": "pixelcnn.training.live",
    "evaluate": "pixelcnn.evaluation.api",
}
__all__ = [*_API, "UserError"]  # pyright: ignore[reportUnsupportedDunderAll]  (the lazy names are _API's keys)


def __getattr__(name: str):
    if name in _API:
        from importlib import import_module  # not `from pixelcnn import ...`: that would ask this function again

        return getattr(import_module(_API[name]), name)
    if name in _compat.PACKAGE:
        raise _compat.renamed(name)
    raise AttributeError(f"module 'pixelcnn' has no attribute {name!r}")


def __dir__() -> list[str]:
    return sorted(set(globals()) | set(_API))
