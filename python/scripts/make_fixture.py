#!/usr/bin/env python3
"""Write the PyTorch → Rust parity fixtures: tests/fixtures/torch/<model>/ holds a small model
built and exported by gattanet_torch (config.json, model.safetensors), one input image as a raw
f32 tensor (input.safetensors, tensor `input` of shape (1, C, H, W), already normalised, so both
sides start from the same bits), and expected.json: what gattanet_torch computes for it, in the
`inspection.json` layout (per pass: logits, probabilities, global query, every attended layer's
agreement and applied gain, class-attention weights). tests/torch_parity.rs checks the Rust
engine against it.

The weights are random but far from any identity: BatchNorm statistics differ per pass, α, biases
and LayerScale are non-zero, so a different eps, a shared statistics set, a swapped name or a
missed modulation all move the numbers. Expected values are computed from the weights as stored
(f16 and int8 models round them first).

    python3 python/scripts/make_fixture.py [OUT_DIR]       (default: tests/fixtures/torch)
"""
import json
import os
import shutil
import sys

import torch
from safetensors.torch import save_file

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.dirname(HERE))

import gattanet_torch as gt  # noqa: E402

INPUT = lambda size: {"size": [size, size], "channels": 3, "mean": [0.5, 0.4, 0.3], "std": [0.25, 0.2, 0.3]}
CLASSES = lambda n: [f"class{i}" for i in range(n)]

# (directory, storage, config): every backbone and head, both poolings, sqrt-d scaling, bounded
# gains, 2 and 3 passes, a subset of attended layers.
FIXTURES = [
    ("resnet-class-attention", "f32", {
        "name": "resnet-class-attention", "classes": CLASSES(3), "input": INPUT(8),
        "backbone": {"kind": "resnet", "depth": 8, "width": 2},
        "head": {"kind": "class_attention", "heads": 2, "mlp_ratio": 2, "init_scale": 0.5},
        "attention": {"dim": 4, "passes": 3, "pooling": "flat", "scale_by_sqrt_d": True},
    }),
    ("toy-mlp-int8", "int8", {
        "name": "toy-mlp-int8", "classes": CLASSES(4), "input": INPUT(12),
        "backbone": {"kind": "toy", "channels": [4, 6, 8]},
        "head": {"kind": "mlp", "hidden": 128},  # 8·2·2 × 128 = 4096 weights: stored as int8
        "attention": {"dim": 4, "passes": 2, "bounded": True},
    }),
    ("patchconv-f16", "f16", {
        "name": "patchconv-f16", "classes": CLASSES(5), "input": INPUT(16),
        "backbone": {"kind": "patchconv", "dim": 8, "depth": 2, "stem_stride": 4, "init_scale": 0.5, "se_ratio": 0.25},
        "head": {"kind": "class_attention", "heads": 2, "mlp_ratio": 2, "init_scale": 0.5},
        "attention": {"dim": 4, "passes": 2},
    }),
    ("conv-groups-f16", "f16", {
        "name": "conv-groups-f16", "classes": CLASSES(4), "input": INPUT(10),
        "backbone": {"kind": "conv_groups", "whitening": 3, "widths": [6, 8], "blocks": 1},
        "head": {"kind": "class_attention", "heads": 2, "mlp_ratio": 2, "init_scale": 0.5},
        "attention": {"dim": 4, "passes": 2},
    }),
    ("imagenet-resnet50", "f16", {
        "name": "imagenet-resnet50", "classes": CLASSES(4), "input": INPUT(16),
        "backbone": {"kind": "imagenet_resnet", "depth": 50, "width": 1},
        "head": {"kind": "avg_linear"},
        "attention": {"dim": 3, "passes": 3, "layers": ["stage1.block1", "stage2.block1", "stage4.block3", "logits"]},
    }),
]


def randomize(model: torch.nn.Module, seed: int) -> None:
    """Weights far from any identity, drawn by name (like tests/common/mod.rs on the Rust side)."""
    g = torch.Generator().manual_seed(seed)
    uniform = lambda shape, lo, hi: lo + (hi - lo) * torch.rand(shape, generator=g)
    with torch.no_grad():
        for name, t in sorted(model.state_dict().items()):
            if name.endswith(".var"):
                v = uniform(t.shape, 0.5, 1.5)
            elif name.endswith(".mean"):
                v = 0.2 * torch.randn(t.shape, generator=g)
            elif name.endswith(".alpha"):
                v = 0.3 * torch.randn(t.shape, generator=g)
            elif name.endswith(".bias"):
                v = 0.1 * torch.randn(t.shape, generator=g)
            elif "gamma" in name:
                v = uniform(t.shape, 0.3, 0.7)
            elif t.dim() == 1 and name.endswith(".weight"):  # BatchNorm / LayerNorm scale
                v = uniform(t.shape, 0.5, 1.5)
            elif name.endswith("cls_token"):
                v = 0.5 * torch.randn(t.shape, generator=g)
            else:
                fan_in = t.shape[0] if name.startswith("gatta.") else max(t[0].numel(), 1)
                b = (1.0 if name.startswith("gatta.") else 6.0) ** 0.5 / fan_in**0.5
                v = uniform(t.shape, -b, b)
            t.copy_(v)


def shortest(value):
    """Floats with 9 significant digits: enough to give back the same f32, half the text."""
    if isinstance(value, float):
        return float(f"{value:.9g}")
    if isinstance(value, list):
        return [shortest(v) for v in value]
    if isinstance(value, dict):
        return {k: shortest(v) for k, v in value.items()}
    return value


def main(out_dir: str) -> None:
    os.makedirs(out_dir, exist_ok=True)
    for seed, (name, storage, config) in enumerate(FIXTURES):
        path = os.path.join(out_dir, name)
        shutil.rmtree(path, ignore_errors=True)
        model = gt.build(config)
        randomize(model, seed + 1)
        gt.export(model, config, path, storage)
        stored = gt.load(path)  # expected values from the weights as the file holds them
        h, w = config["input"]["size"]
        x = torch.randn(1, 3, h, w, generator=torch.Generator().manual_seed(100 + seed))
        save_file({"input": x.contiguous()}, os.path.join(path, "input.safetensors"))
        expected = gt.inspect(stored, x)
        expected["storage"] = storage
        for p in expected["passes"]:
            del p["probabilities"]  # the softmax of the logits: nothing more to check
        with open(os.path.join(path, "expected.json"), "w") as f:
            json.dump(shortest(expected), f)
        size = sum(os.path.getsize(os.path.join(path, f)) for f in os.listdir(path))
        print(f"{path}: {size / 1024:.1f} KiB")


if __name__ == "__main__":
    main(sys.argv[1] if len(sys.argv) > 1 else os.path.join(os.path.dirname(os.path.dirname(HERE)), "tests", "fixtures", "torch"))
