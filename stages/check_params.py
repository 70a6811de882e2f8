"""Check the whole params file strictly, before any other stage runs.

DVC re-runs a stage when one of the keys it lists changes. So without this
stage a misspelled key (``pixelcnn.temprature``) changes no listed key and
passes silently. This stage depends on the whole file, runs first, and stops
``dvc repro`` / ``dvc exp run`` with the strict sentence (``params.yaml:
unknown key pixelcnn.temprature; allowed keys ...``) before any other stage
runs. Its output is the same bytes whenever the file is valid, so a valid edit
re-runs nothing downstream because of it.

Outputs do not depend on this stage running first: every output in dvc.yaml
is ``persist: true`` (DVC does not delete it before its stage runs), and every
stage checks the whole file itself (``params.load_file``) before it writes, so
``dvc repro -s STAGE``, which skips this stage, loses nothing to a bad value.

Imports no torch, so it costs about a second.
"""

import _checkout  # noqa: F401  (this checkout's src/ first on sys.path)

import argparse

from pixelcnn.atomic import write_text
from pixelcnn.project import params
from pixelcnn.project.stage import stage_main


def main(argv: list[str]) -> None:
    p = argparse.ArgumentParser(description=__doc__)
    p.add_argument("--params", default="params.yaml")
    p.add_argument("--out", required=True, help="written when the file is valid; its bytes never depend on the values")
    args = p.parse_args(argv)
    params.load_file(args.params)  # every section and key: known, present, of its type, in range
    write_text(args.out, f"{args.params}: valid (every section and key known, present, of its type and in range)\n")


if __name__ == "__main__":
    stage_main(main)
