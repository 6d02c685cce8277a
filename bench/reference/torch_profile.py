#!/usr/bin/env python3
"""Where PyTorch's time goes in one of the benchmark workloads: torch.profiler's self CPU time per op.

usage:
    python bench/reference/torch_profile.py NAME [--steps N] [--threads N] [--rows N] [--shapes]

NAME is a workload of torch_workloads.py (e.g. resnet18_train_b64_32). After 3 warm-up steps,
N steps run under the profiler; the table is sorted by self CPU time (total over the N steps; the
profiler's own overhead included). BENCHMARKS.md compares it with Kindling's perf profiles.
`--shapes` groups the ops by their input shapes as well (one row per convolution layer), to set
beside Kindling's time per matrix product shape (`KINDLING_GEMM_PROFILE=1 kindling-bench run NAME`).
"""
import argparse
import os
import sys

import torch

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import torch_workloads  # noqa: E402


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("name", choices=sorted(torch_workloads.WORKLOADS))
    ap.add_argument("--steps", type=int, default=10)
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--rows", type=int, default=20)
    ap.add_argument("--shapes", action="store_true", help="one row per op and input shapes")
    args = ap.parse_args()
    torch.set_num_threads(args.threads)
    torch.manual_seed(0)
    step = torch_workloads.WORKLOADS[args.name]()
    for _ in range(3):
        step()
    from torch.profiler import ProfilerActivity, profile

    with profile(activities=[ProfilerActivity.CPU], record_shapes=args.shapes) as prof:
        for _ in range(args.steps):
            step()
    print(f"{args.name}: {args.steps} steps, {torch.get_num_threads()} threads, torch {torch.__version__}")
    averages = prof.key_averages(group_by_input_shape=args.shapes)
    print(averages.table(sort_by="self_cpu_time_total", row_limit=args.rows, max_shapes_column_width=120))


if __name__ == "__main__":
    main()
