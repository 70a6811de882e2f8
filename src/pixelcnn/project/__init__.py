"""What the DVC project adds to the library: params.yaml read strictly (``params``), presets (``presets``),
the package files a script runs (``deps``: stage deps in dvc.yaml, the code part of a training fingerprint),
and the stages' error boundary (``stage``)."""
