#!/usr/bin/env python3
"""Kindling heads vs scikit-learn / XGBoost on the same feature files, side by side.

Runs Kindling's `fit_heads` example and `heads.py` alternately (`--rounds` times each, so both see the same
machine load), keeps each side's best fit time, and prints the JSON lines followed by a Markdown table of
accuracies and time ratios (Kindling / reference; below 1 means Kindling is faster).

    cargo build --release -p kindling-heads --example fit_heads
    python bench/reference/compare_heads.py --train A.safetensors --test B.safetensors \
        [--heads svm-linear,svm-rbf,gbdt] [--rounds 3] [--threads 2] [--kindling PATH] [-- extra args for both]

Extra arguments after `--` go to both sides (e.g. `--c 1 --gamma 0.00078125 --depth 6`).
"""
import argparse
import json
import os
import subprocess
import sys

HERE = os.path.dirname(os.path.abspath(__file__))


def run(cmd):
    out = subprocess.run(cmd, check=True, capture_output=True, text=True).stdout
    return [json.loads(line) for line in out.splitlines() if line.startswith("{")]


def main():
    argv = sys.argv[1:]
    extra = argv[argv.index("--") + 1:] if "--" in argv else []
    argv = argv[: argv.index("--")] if "--" in argv else argv
    ap = argparse.ArgumentParser()
    ap.add_argument("--train", required=True)
    ap.add_argument("--test", required=True)
    ap.add_argument("--heads", default="svm-linear,svm-rbf,gbdt")
    ap.add_argument("--rounds", type=int, default=3)
    ap.add_argument("--threads", type=int, default=os.cpu_count())
    target = os.environ.get("CARGO_TARGET_DIR", os.path.join(HERE, "..", "..", "target"))
    ap.add_argument("--kindling", default=os.path.join(target, "release", "examples", "fit_heads"))
    args = ap.parse_args(argv)

    best = {}
    for _ in range(args.rounds):
        for head in args.heads.split(","):
            ours = run([args.kindling, args.train, args.test, "--heads", head] + extra)
            ref = run([sys.executable, os.path.join(HERE, "heads.py"), "--train", args.train, "--test", args.test,
                       "--heads", head, "--threads", str(args.threads)] + extra)
            for side, rec in (("kindling", ours[0]), ("reference", ref[0])):
                key = (head, side)
                if key not in best or rec["fit_seconds"] < best[key]["fit_seconds"]:
                    best[key] = rec
    for (head, side), rec in best.items():
        print(json.dumps(dict(rec, head=head, side=side)))
    print()
    print("| head | Kindling fit (s) | reference fit (s) | ratio | Kindling test acc | reference test acc | reference |")
    print("|---|---|---|---|---|---|---|")
    for head in args.heads.split(","):
        k, r = best[(head, "kindling")], best[(head, "reference")]
        print(f"| {head} | {k['fit_seconds']:.3f} | {r['fit_seconds']:.3f} | {k['fit_seconds'] / r['fit_seconds']:.2f} "
              f"| {k['test_accuracy']:.4f} | {r['test_accuracy']:.4f} | {r['impl']} |")


if __name__ == "__main__":
    main()
