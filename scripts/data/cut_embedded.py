#!/usr/bin/env python3
"""Cut the stratified Fashion-MNIST / MNIST subsets embedded in kindling-data.

Takes the first K images of each class, in file order, from the official IDX files, and
writes them back as gzipped IDX (same format as the originals). Deterministic.

usage: cut_embedded.py SRC_DIR DST_DIR TRAIN_PER_CLASS TEST_PER_CLASS
"""
import gzip
import struct
import sys
from pathlib import Path


def read_idx(path):
    raw = gzip.open(path, "rb").read()
    ndim = raw[3]
    dims = struct.unpack(">" + "I" * ndim, raw[4 : 4 + 4 * ndim])
    return dims, raw[4 + 4 * ndim :]


def write_idx(path, dims, payload):
    header = bytes([0, 0, 8, len(dims)]) + struct.pack(">" + "I" * len(dims), *dims)
    with open(path, "wb") as f:
        # mtime=0 keeps the output byte-identical between runs
        with gzip.GzipFile(fileobj=f, mode="wb", compresslevel=9, mtime=0) as g:
            g.write(header + payload)


def cut(src, dst, split, per_class):
    prefix = "train" if split == "train" else "t10k"
    idims, images = read_idx(src / f"{prefix}-images-idx3-ubyte.gz")
    _, labels = read_idx(src / f"{prefix}-labels-idx1-ubyte.gz")
    n, h, w = idims
    counts = [0] * 10
    keep = []
    for i in range(n):
        c = labels[i]
        if counts[c] < per_class:
            counts[c] += 1
            keep.append(i)
    px = h * w
    write_idx(dst / f"{split}-images.idx.gz", (len(keep), h, w), b"".join(images[i * px : (i + 1) * px] for i in keep))
    write_idx(dst / f"{split}-labels.idx.gz", (len(keep),), bytes(labels[i] for i in keep))
    print(f"{dst}/{split}: {len(keep)} images, per class {counts}")


if __name__ == "__main__":
    src, dst = Path(sys.argv[1]), Path(sys.argv[2])
    dst.mkdir(parents=True, exist_ok=True)
    cut(src, dst, "train", int(sys.argv[3]))
    cut(src, dst, "test", int(sys.argv[4]))
