#!/usr/bin/python3
"""Writes the generated seeds of tests/fuzz/corpus/idx/: tiny IDX arrays, raw and gzipped.

The other seeds are copies of tests/fixtures files or small hand-written text files. Run from
anywhere: python3 tests/fuzz/make_corpus.py. The output is deterministic (gzip mtime 0).
"""
import gzip
import os
import struct

OUT = os.path.join(os.path.dirname(os.path.abspath(__file__)), "corpus", "idx")


def idx(dims, data):
    """An unsigned-byte IDX array: magic 0x00000800 | rank, big-endian int32 sizes, the bytes."""
    return struct.pack(">I", 0x0800 | len(dims)) + b"".join(struct.pack(">I", d) for d in dims) + bytes(data)


def gz(raw):
    return gzip.compress(raw, compresslevel=9, mtime=0)


def main():
    os.makedirs(OUT, exist_ok=True)
    images = idx([2, 3, 4], [(7 * i) % 256 for i in range(2 * 3 * 4)])  # two 3x4 images
    labels = idx([5], [0, 1, 2, 9, 3])
    empty = idx([0, 28, 28], [])
    seeds = {
        "images_2x3x4.idx": images,
        "images_2x3x4.idx.gz": gz(images),
        "labels_5.idx": labels,
        "labels_5.idx.gz": gz(labels),
        "empty_0x28x28.idx.gz": gz(empty),
        "truncated_images.idx": images[:-5],  # near-valid: 5 bytes short
        "truncated_images.idx.gz": gz(images)[:-6],  # near-valid: the gzip trailer cut
        "rank4_1x1x2x2.idx": idx([1, 1, 2, 2], [1, 2, 3, 4]),
        "bad_type_int32.idx": struct.pack(">I", 0x0C01) + struct.pack(">I", 1) + b"\0\0\0\1",  # dtype 0x0C
    }
    for name, data in seeds.items():
        with open(os.path.join(OUT, name), "wb") as f:
            f.write(data)
    print(f"wrote {len(seeds)} seeds to {OUT}")


if __name__ == "__main__":
    main()
