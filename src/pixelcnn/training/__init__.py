"""One trainer for every model: the loop (``trainer``: EMA, schedules, early and NaN stop, DDP), its resumable
state (``state``), a training stage's session (``session``), the batches it reads (``loader``), one objective per
model (``objectives``), ``train`` (``api``: the one way in, for the stages and users) and the DVCLive record of a
run (``live``)."""
