"""Model directories as GAttANet Explorer reads them: `config.json` + `model.safetensors`
(src/model/io.rs).

Storage: f32; f16; or int8, where every tensor of rank ≥ 2 with at least 4096 values is stored
as int8 with one f32 scale per output row in `<name>.qscale` (value = int8 · scale, scale =
max |row| / 127, symmetric) and every other tensor as f16. The engine always computes in f32.
"""
from __future__ import annotations

import json
import os
from typing import Dict, Union

import torch
from safetensors.torch import load_file, save_file

from .model import GAttANetModel, build

CONFIG_FILE = "config.json"
WEIGHTS_FILE = "model.safetensors"
INT8_MIN_ELEMS = 4096  # smaller tensors gain nothing: their scales would cost what they save
QSCALE = ".qscale"
F16_MAX = 65504.0

PathLike = Union[str, "os.PathLike[str]"]


def _round_half_away(x: torch.Tensor) -> torch.Tensor:
    # Rust's f32::round; torch.round would send halves to even.
    return torch.sign(x) * torch.floor(x.abs() + 0.5)


def quantize_rows(t: torch.Tensor):
    """Symmetric per-row int8 (rows = the first dimension): (int8 values, f32 scales)."""
    rows = t.reshape(t.shape[0], -1).float()
    peak = rows.abs().amax(1)
    scale = torch.where(peak > 0, peak / 127.0, torch.ones_like(peak))
    q = _round_half_away(rows / scale[:, None]).clamp(-127, 127).to(torch.int8)
    return q.reshape(t.shape), scale


def encode(tensors: Dict[str, torch.Tensor], dtype: str = "f32") -> Dict[str, torch.Tensor]:
    """Tensors as `model.safetensors` stores them in this storage."""
    if dtype not in ("f32", "f16", "int8"):
        raise ValueError(f"dtype: f32, f16 or int8, found {dtype!r}")
    out = {}
    for name, t in tensors.items():
        t = t.detach().to("cpu", torch.float32).contiguous()
        if dtype == "f32":
            out[name] = t
        elif dtype == "int8" and t.dim() >= 2 and t.numel() >= INT8_MIN_ELEMS:
            out[name], out[name + QSCALE] = quantize_rows(t)
        else:
            peak = float(t.abs().max()) if t.numel() else 0.0
            if peak > F16_MAX:
                raise ValueError(f"{name}: holds {peak}, beyond f16's largest value 65504: store it as f32")
            out[name] = t.half()
    return out


def decode(stored: Dict[str, torch.Tensor]) -> Dict[str, torch.Tensor]:
    """Stored tensors (f32, f16, bf16 or int8 with scales) as f32, scales consumed."""
    out = {}
    for name, t in stored.items():
        if name.endswith(QSCALE) and name[: -len(QSCALE)] in stored:
            continue
        if t.dtype == torch.int8:
            scale = stored.get(name + QSCALE)
            if scale is None or scale.shape != (t.shape[0],):
                raise ValueError(f"{name}: int8 weights need a float tensor {name}{QSCALE} of shape [{t.shape[0]}]")
            t = (t.reshape(t.shape[0], -1).float() * scale.float()[:, None]).reshape(t.shape)
        elif not t.is_floating_point():
            raise ValueError(f"{name}: expected a float tensor, found {t.dtype}")
        out[name] = t.float()
    return out


def export(model: GAttANetModel, config: dict, path: PathLike, dtype: str = "f32") -> None:
    """Write the model directory `path` (config.json + model.safetensors) that `gattanet` and the
    page open. Names, shapes and dtypes are those `gattanet convert --dtype DTYPE` writes."""
    model = getattr(model, "module", model)  # a DistributedDataParallel wrapper
    os.makedirs(path, exist_ok=True)
    with open(os.path.join(path, CONFIG_FILE), "w") as f:
        json.dump(config, f, indent=2)
        f.write("\n")
    save_file(encode(model.state_dict(), dtype), os.path.join(path, WEIGHTS_FILE))


def load(config_path: PathLike, weights_path: PathLike = None) -> GAttANetModel:
    """A model from a config.json and a model.safetensors (any storage), in eval mode. Given a
    directory as `config_path` alone, its two files. Names and shapes are checked strictly."""
    if weights_path is None and os.path.isdir(config_path):
        config_path, weights_path = os.path.join(config_path, CONFIG_FILE), os.path.join(config_path, WEIGHTS_FILE)
    with open(config_path) as f:
        config = json.load(f)
    model = build(config)
    tensors = decode(load_file(str(weights_path)))
    expected = model.state_dict()
    missing = sorted(set(expected) - set(tensors))
    extra = sorted(set(tensors) - set(expected))
    if missing:
        raise ValueError(f"{missing[0]}: missing from the weights file (expected shape {list(expected[missing[0]].shape)}; {len(missing)} missing)")
    if extra:
        raise ValueError(f"{extra[0]}: not used by this config ({len(extra)} unexpected tensors; does config.json belong to these weights?)")
    for name, t in tensors.items():
        if t.shape != expected[name].shape:
            raise ValueError(f"{name}: expected shape {list(expected[name].shape)}, found {list(t.shape)}")
    model.load_state_dict(tensors)
    return model.eval()
