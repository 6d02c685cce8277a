#!/usr/bin/env python3
"""PyTorch twins of Kindling's benchmark workloads (bench/kindling-bench/src/workloads.rs).

Same shapes, same optimizer settings, eager PyTorch on the CPU as users run it (`model.eval()` and
`torch.no_grad()` for inference; no TorchScript, no channels-last, no compile). One workload per
process, so that the peak resident memory (VmHWM) belongs to that workload; `cargo xtask bench`
alternates these runs with Kindling's.

usage:
    python bench/reference/torch_workloads.py list
    python bench/reference/torch_workloads.py run NAME [--reps N] [--warmup N] [--threads N]

Prints one JSON line per run: {"workload", "impl": "pytorch", "version", "threads", "times_ms", ...}.

Needs torch and torchvision (CPU wheels are enough) and, for EfficientNet-Lite0, the reference
implementation `efficientnet-lite-pytorch` (see bench/README.md).
"""
import argparse
import json
import time

import torch

VOCAB, EMB, HIDDEN, STEPS = 10_000, 128, 256, 64


def peak_rss_mib():
    try:
        with open("/proc/self/status") as f:
            for line in f:
                if line.startswith("VmHWM:"):
                    return int(line.split()[1]) / 1024.0
    except OSError:
        pass
    return None


def labels(n, classes):
    return torch.tensor([i % classes for i in range(n)])


def infer_vision(build, batch, side=224):
    model = build().eval()
    x = torch.randn(batch, 3, side, side)

    def step():
        with torch.no_grad():
            return float(model(x).double().sum())

    return step


def torchvision_model(name, **kw):
    import torchvision

    return lambda: getattr(torchvision.models, name)(**kw)


def efficientnet_lite0():
    from efficientnet_lite_pytorch import EfficientNet

    return EfficientNet.from_name("efficientnet-lite0")


def finetune(batch):
    """kindling-transfer's defaults: SGD momentum 0.9, weight decay 1e-4, head LR 0.01, backbone 0.001."""
    import torchvision

    model = torchvision.models.resnet18()
    model.fc = torch.nn.Linear(model.fc.in_features, 10)
    model.train()
    head = list(model.fc.parameters())
    head_ids = {id(p) for p in head}
    backbone = [p for p in model.parameters() if id(p) not in head_ids]
    opt = torch.optim.SGD(
        [{"params": backbone, "lr": 1e-3}, {"params": head, "lr": 1e-2}], lr=1e-2, momentum=0.9, weight_decay=1e-4
    )
    x = torch.randn(batch, 3, 224, 224)
    y = labels(batch, 10)

    def step():
        opt.zero_grad()
        loss = torch.nn.functional.cross_entropy(model(x), y)
        value = float(loss)
        loss.backward()
        opt.step()
        return value

    return step


def train_small(batch):
    import torchvision

    model = torchvision.models.resnet18(num_classes=10).train()
    opt = torch.optim.SGD(model.parameters(), lr=0.1, momentum=0.9, weight_decay=5e-4)
    x = torch.randn(batch, 3, 32, 32)
    y = labels(batch, 10)

    def step():
        opt.zero_grad()
        loss = torch.nn.functional.cross_entropy(model(x), y)
        value = float(loss)
        loss.backward()
        opt.step()
        return value

    return step


def lstm_train(batch):
    emb = torch.nn.Embedding(VOCAB, EMB)
    lstm = torch.nn.LSTM(EMB, HIDDEN, batch_first=True)
    head = torch.nn.Linear(HIDDEN, 2)
    params = list(emb.parameters()) + list(lstm.parameters()) + list(head.parameters())
    opt = torch.optim.Adam(params, lr=1e-3)
    tokens = torch.tensor([(i * 7919 + 13) % VOCAB for i in range(batch * STEPS)]).reshape(batch, STEPS)
    y = labels(batch, 2)

    def step():
        opt.zero_grad()
        _, (h, _) = lstm(emb(tokens))
        loss = torch.nn.functional.cross_entropy(head(h[-1]), y)
        value = float(loss)
        loss.backward()
        opt.step()
        return value

    return step


def bigru_infer(batch):
    gru = torch.nn.GRU(EMB, HIDDEN, batch_first=True, bidirectional=True).eval()
    x = torch.randn(batch, STEPS, EMB)

    def step():
        with torch.no_grad():
            out, _ = gru(x)
            return float(out.double().sum())

    return step


WORKLOADS = {
    "resnet18_infer_b8": lambda: infer_vision(torchvision_model("resnet18"), 8),
    "resnet18_infer_b1": lambda: infer_vision(torchvision_model("resnet18"), 1),
    "resnet18_finetune_b8": lambda: finetune(8),
    "resnet18_train_b64_32": lambda: train_small(64),
    "vgg11_infer_b4": lambda: infer_vision(torchvision_model("vgg11"), 4),
    "vgg16_infer_b2": lambda: infer_vision(torchvision_model("vgg16"), 2),
    "efficientnet_lite0_infer_b8": lambda: infer_vision(efficientnet_lite0, 8),
    "lstm_train_b32": lambda: lstm_train(32),
    "bigru_infer_b32": lambda: bigru_infer(32),
}


def main():
    ap = argparse.ArgumentParser()
    sub = ap.add_subparsers(dest="cmd", required=True)
    sub.add_parser("list")
    run = sub.add_parser("run")
    run.add_argument("name", choices=sorted(WORKLOADS))
    run.add_argument("--reps", type=int, default=5)
    run.add_argument("--warmup", type=int, default=2)
    run.add_argument("--threads", type=int, default=2)
    args = ap.parse_args()
    if args.cmd == "list":
        for name in WORKLOADS:
            print(json.dumps({"name": name}))
        return
    torch.set_num_threads(args.threads)
    torch.manual_seed(0)
    t0 = time.perf_counter()
    step = WORKLOADS[args.name]()
    checksum = 0.0
    for _ in range(args.warmup):
        checksum = step()
    setup = time.perf_counter() - t0
    times = []
    for _ in range(max(1, args.reps)):
        t = time.perf_counter()
        checksum = step()
        times.append((time.perf_counter() - t) * 1e3)
    print(
        json.dumps(
            {
                "workload": args.name,
                "impl": "pytorch",
                "version": torch.__version__,
                "threads": torch.get_num_threads(),
                "warmup": args.warmup,
                "times_ms": times,
                "setup_and_warmup_s": setup,
                "peak_rss_mib": peak_rss_mib(),
                "checksum": checksum,
            }
        )
    )


if __name__ == "__main__":
    main()
