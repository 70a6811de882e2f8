"""One trainer for every model (state, resume, EMA, DDP), the batches it reads, one objective per model, ``train``
(``api``: the one way in, for the stages and users) and the DVCLive record of a run (``live``)."""
