"""The public Python API: load a trained generator, then sample, complete and score.

Legend: N images, C channels, H W pixels, h w a code grid.

    pipe = pixelcnn.load("models/pixelcnn.pt")                      # pixel PixelCNN
    pipe = pixelcnn.load("models/prior.pt", vqvae="models/vqvae.pt")  # VQ-VAE-2 + PixelCNN priors
    out = pipe(16, labels=3, temperature=0.8, generator=torch.Generator().manual_seed(0))
    out.images                       # uint8 (16, C, H, W); out.pil(), out.grid()
    pipe.complete(images, rows=16)   # keep the top 16 rows, sample the rest
    pipe.score(images, labels)       # float64 (N,) bits per dimension
    pixelcnn.generate(model, 16, labels=3)                          # a PixelCNN in memory (a CodePrior: vqvae=)

One job per module:

- ``base``: the ``Pipeline`` interface both generators share (``sample`` /
  ``__call__``, ``complete``, ``score``, ``bits_per_code``, ``describe``,
  ``to``; ``num_classes``, ``image_shape``, ``code_shapes``,
  ``values_per_step``, ``num_parameters``, ``device``), ``Samples``,
  ``Progress`` and the batching loop;
- ``pixel``: ``PixelCNNPipeline``; ``vq``: ``VQPriorPipeline``;
- ``inputs``: user images, labels and arguments → checked arrays, tensors
  and settings (``as_images``, label handling, ``SamplingOptions``,
  ``Sampler``);
- ``loading``: ``load``, which reads each checkpoint once and picks the pipeline;
- ``generate``: ``generate``, which builds the pipeline around a model held in
  memory (``pixelcnn.generate(model, n, ...)``: models do not sample themselves).

Randomness comes only from ``generator=`` (a ``torch.Generator``; None uses
torch's global one): the same generator state gives the same images, equal
to what the low-level samplers return, since the pipelines only batch, label
and convert around them. Bad input raises ``pixelcnn.errors.UserError``
subclasses whose message is one sentence naming the culprit and the fix.

This file imports nothing, so that a stage using one pipeline depends (in
dvc.yaml) on that pipeline's modules only.
"""
