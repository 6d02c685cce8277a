#!/usr/bin/env python3
"""A/B timing of kindling-bench binaries: rounds alternate the binaries, each round runs one
workload for REPS timed steps (`kindling-bench run WORKLOAD --reps REPS`); prints each binary's
median of the round medians and the round medians themselves.

usage:
    python bench/ab.py WORKLOAD REPS ROUNDS BINARY...

Build each variant with `cargo build --release -p kindling-bench` and copy
`target/release/kindling-bench` aside before changing the code. On a shared machine, pause other
work while it runs; rounds of the same binary still vary (BENCHMARKS.md gives the spread seen).
"""
import json
import statistics
import subprocess
import sys


def main():
    if len(sys.argv) < 5:
        sys.exit(__doc__)
    workload, reps, rounds, binaries = sys.argv[1], sys.argv[2], int(sys.argv[3]), sys.argv[4:]
    medians = {b: [] for b in binaries}
    for _ in range(rounds):
        for b in binaries:
            out = subprocess.run([b, "run", workload, "--reps", reps], capture_output=True, text=True, check=True)
            run = json.loads(out.stdout.strip().splitlines()[-1])
            medians[b].append(statistics.median(run["times_ms"]))
    for b in binaries:
        print(b, "median %.2f" % statistics.median(medians[b]), ["%.1f" % v for v in medians[b]])


if __name__ == "__main__":
    main()
