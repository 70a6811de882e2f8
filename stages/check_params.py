"""Check the whole params file strictly, before any stage that would delete outputs runs.

DVC re-runs a stage when one of the keys it lists changes, and removes that
stage's outputs before running it. So without this stage a misspelled key
(``pixelcnn.temprature``) changes no listed key and passes silently, and a bad
value (``pixelcnn.hidden: six``) or a removed key is reported only after DVC
has deleted the outputs of the stage that reads it. This stage depends on the
whole file, runs first, and stops ``dvc repro`` / ``dvc exp run`` with the
strict sentence (``params.yaml: unknown key pixelcnn.temprature; allowed keys
...``) before anything is removed. Its output is the same bytes whenever the
file is valid, so a valid edit re-runs nothing downstream because of it.

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
