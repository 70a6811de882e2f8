"""Write a seeded, class-balanced subset of Fashion-MNIST in the package's own format: the four idx files,
gzip-compressed (byte-reproducible: no timestamp in the gzip header), flat in one folder.

    uv run python data/make_fashion_subset.py --train 6000 --test 1000 --out data/fashion-mnist

reads Debian's dataset-fashion-mnist (/usr/share/datasets/fashion-mnist; --source to read another folder of the
four files) and keeps --train / 10 training and --test / 10 test images of every class, drawn with --seed, in
their original order. `data.name: fashion_mnist` with `data.root` at --out then reads them as it reads the package.

Fashion-MNIST is © 2017 Zalando SE, released under the MIT License
(https://github.com/zalandoresearch/fashion-mnist); a subset keeps that notice (FASHION_MNIST_LICENSE beside it).
"""

from __future__ import annotations

import argparse
import gzip
import struct
from pathlib import Path

import numpy as np

from pixelcnn.data import idx
from pixelcnn.data.datasets import FASHION_MNIST_PACKAGE

NOTICE = """Fashion-MNIST subset: {train} training and {test} test images (a tenth of each per class, seed {seed}),
drawn by data/make_fashion_subset.py from Debian's dataset-fashion-mnist.

The MIT License (MIT) Copyright © 2017 Zalando SE, https://tech.zalando.com

Permission is hereby granted, free of charge, to any person obtaining a copy of this software and associated
documentation files (the "Software"), to deal in the Software without restriction, including without limitation
the rights to use, copy, modify, merge, publish, distribute, sublicense, and/or sell copies of the Software, and to
permit persons to whom the Software is furnished to do so, subject to the following conditions:

The above copyright notice and this permission notice shall be included in all copies or substantial portions of
the Software.

THE SOFTWARE IS PROVIDED "AS IS", WITHOUT WARRANTY OF ANY KIND, EXPRESS OR IMPLIED, INCLUDING BUT NOT LIMITED TO THE
WARRANTIES OF MERCHANTABILITY, FITNESS FOR A PARTICULAR PURPOSE AND NONINFRINGEMENT. IN NO EVENT SHALL THE AUTHORS OR
COPYRIGHT HOLDERS BE LIABLE FOR ANY CLAIM, DAMAGES OR OTHER LIABILITY, WHETHER IN AN ACTION OF CONTRACT, TORT OR
OTHERWISE, ARISING FROM, OUT OF OR IN CONNECTION WITH THE SOFTWARE OR THE USE OR OTHER DEALINGS IN THE SOFTWARE.
"""


def idx_bytes(array: np.ndarray) -> bytes:
    """uint8 ``array`` as an idx file: magic (0, 0, 0x08, ndim), big-endian uint32 dims, the bytes."""
    return struct.pack(">I", 0x0800 | array.ndim) + struct.pack(f">{array.ndim}I", *array.shape) + array.astype(np.uint8).tobytes()


def write_subset(source: Path, out: Path, n_train: int, n_test: int, seed: int) -> None:
    files = idx.find([source])
    if files is None:
        raise SystemExit(f"{source}: the four Fashion-MNIST idx files are not there; `apt-get install dataset-fashion-mnist`")
    rng = np.random.default_rng(seed)
    out.mkdir(parents=True, exist_ok=True)
    for prefix, n in (("train", n_train), ("t10k", n_test)):
        split = idx.read_split(files, prefix, classes=10)
        keep = np.sort(np.concatenate([rng.choice(np.flatnonzero(split.labels == k), n // 10, replace=False) for k in range(10)]))
        for kind, array in (("images-idx3", split.images[keep]), ("labels-idx1", split.labels[keep])):
            (out / f"{prefix}-{kind}-ubyte.gz").write_bytes(gzip.compress(idx_bytes(array), compresslevel=9, mtime=0))
    (out / "FASHION_MNIST_LICENSE").write_text(NOTICE.format(train=n_train, test=n_test, seed=seed))


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--source", default=FASHION_MNIST_PACKAGE)
    p.add_argument("--out", default="data/fashion-mnist")
    p.add_argument("--train", type=int, default=6000)
    p.add_argument("--test", type=int, default=1000)
    p.add_argument("--seed", type=int, default=0)
    args = p.parse_args()
    write_subset(Path(args.source), Path(args.out), args.train, args.test, args.seed)


if __name__ == "__main__":
    main()
