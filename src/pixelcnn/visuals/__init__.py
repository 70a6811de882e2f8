"""Pictures: image grids, progressive-generation strips and GIFs (``images``), training curves (``plots``)."""
