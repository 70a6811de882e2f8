"""The networks: masked layers, the PixelCNN with its heads and attention, the VQ-VAE, the code priors, the classifier."""
