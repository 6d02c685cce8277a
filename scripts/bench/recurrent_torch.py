#!/usr/bin/env python3
"""PyTorch (CPU, 2 threads) timings matching crates/kindling-seq/benches/recurrent.rs.

Median wall time of each workload (B=32, T=64, input 128, hidden 256), in milliseconds.

usage: python scripts/bench/recurrent_torch.py
"""
import time

import torch

torch.set_num_threads(2)
torch.manual_seed(0)
B, T, I, H, VOCAB = 32, 64, 128, 256, 10_000


def median_ms(f, reps=20):
    for _ in range(3):
        f()
    ts = []
    for _ in range(reps):
        t0 = time.perf_counter()
        f()
        ts.append(time.perf_counter() - t0)
    ts.sort()
    return ts[len(ts) // 2] * 1e3


def main():
    x = torch.randn(B, T, I)
    lengths = torch.tensor([T // 2 + (b * 7919) % (T // 2 + 1) for b in range(B)])
    lstm = torch.nn.LSTM(I, H, batch_first=True)
    bigru = torch.nn.GRU(I, H, batch_first=True, bidirectional=True)
    rnn = torch.nn.RNN(I, H, batch_first=True)
    res = {}
    with torch.no_grad():
        res["inference/lstm_forward"] = median_ms(lambda: lstm(x))

        def ragged():
            p = torch.nn.utils.rnn.pack_padded_sequence(x, lengths, batch_first=True, enforce_sorted=False)
            out, _ = lstm(p)
            torch.nn.utils.rnn.pad_packed_sequence(out, batch_first=True, total_length=T)

        res["inference/lstm_forward_ragged"] = median_ms(ragged)
        res["inference/bigru_forward"] = median_ms(lambda: bigru(x))
        res["inference/rnn_forward"] = median_ms(lambda: rnn(x))

    def fwd_bwd():
        xi = x.clone().requires_grad_(True)
        out, _ = lstm(xi)
        out.sum().backward()

    res["training/lstm_forward_backward"] = median_ms(fwd_bwd)

    emb = torch.nn.Embedding(VOCAB, I)
    head = torch.nn.Linear(H, 2)
    params = list(emb.parameters()) + list(lstm.parameters()) + list(head.parameters())
    opt = torch.optim.Adam(params, lr=1e-3)
    tokens = torch.randint(0, VOCAB, (B, T))
    labels = torch.randint(0, 2, (B,))

    def step():
        opt.zero_grad()
        _, (h, _) = lstm(emb(tokens))
        loss = torch.nn.functional.cross_entropy(head(h[-1]), labels)
        loss.backward()
        opt.step()

    res["training/lstm_many_to_one_train_step_adam"] = median_ms(step, reps=10)
    print(f"torch {torch.__version__}, {torch.get_num_threads()} threads")
    for k, v in res.items():
        print(f"{k}: {v:.1f} ms")


if __name__ == "__main__":
    main()
