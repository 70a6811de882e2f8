"""One trainer for every model (state, resume, EMA, DDP), the streamed batches, and one objective per model."""
