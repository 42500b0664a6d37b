"""Start an `imagenet_resnet` model from a torchvision ResNet's weights.

torchvision name                            →  our name
conv1.weight                                →  backbone.stem.conv.weight
bn1.{weight,bias}                           →  backbone.stem.bn.{weight,bias}
bn1.running_{mean,var}                      →  backbone.stem.bn.stats{p}.{mean,var}  (every pass p)
layer{s}.{i}.conv{k}.weight                 →  backbone.stage{s}.block{i+1}.conv{k}.conv.weight
layer{s}.{i}.bn{k}.*                        →  backbone.stage{s}.block{i+1}.conv{k}.bn.*
layer{s}.{i}.downsample.0.weight            →  backbone.stage{s}.block{i+1}.shortcut.conv.weight
layer{s}.{i}.downsample.1.*                 →  backbone.stage{s}.block{i+1}.shortcut.bn.*
fc.{weight,bias}                            →  head.fc.{weight,bias}  (avg_linear head, same class count)

`num_batches_tracked` is dropped. The running statistics go to every per-pass set: with α = 0
every pass is the torchvision network. GAttANet's keys, queries and α (and any head other than
a matching `avg_linear`) keep their fresh initialisation.
"""
from __future__ import annotations

import re
import warnings
from typing import Dict, Optional, Tuple

import torch

from .model import GAttANetModel, build

_BLOCK = re.compile(r"^layer(\d+)\.(\d+)\.(.+)$")


def _bn_names(ours: str, part: str, stat_sets: int):
    """Names of one torchvision BatchNorm tensor (`weight`, `running_mean`, ...) in our model."""
    if part in ("weight", "bias"):
        return [f"{ours}.{part}"]
    if part in ("running_mean", "running_var"):
        return [f"{ours}.stats{s}.{part[len('running_'):]}" for s in range(stat_sets)]
    if part == "num_batches_tracked":
        return []
    raise KeyError(part)


def rename_torchvision(state_dict: Dict[str, torch.Tensor], stat_sets: int) -> Tuple[Dict[str, torch.Tensor], Dict[str, torch.Tensor]]:
    """(backbone tensors under our names, the `fc.*` tensors). Raises on any name it cannot place."""
    out: Dict[str, torch.Tensor] = {}
    fc: Dict[str, torch.Tensor] = {}
    for name, t in state_dict.items():
        name = name[len("module."):] if name.startswith("module.") else name  # a DDP checkpoint
        head, _, part = name.rpartition(".")
        if head == "conv1":
            targets = ["backbone.stem.conv.weight"]
        elif head == "bn1":
            targets = _bn_names("backbone.stem.bn", part, stat_sets)
        elif head == "fc":
            fc[f"head.fc.{part}"] = t
            continue
        else:
            m = _BLOCK.match(head)
            if not m:
                raise KeyError(f"{name}: not a torchvision ResNet tensor")
            stage, index, layer = m.group(1), int(m.group(2)) + 1, m.group(3)
            block = f"backbone.stage{stage}.block{index}"
            conv = re.fullmatch(r"conv(\d)", layer)
            bn = re.fullmatch(r"bn(\d)", layer)
            if conv:
                targets = [f"{block}.conv{conv.group(1)}.conv.{part}"]
            elif bn:
                targets = _bn_names(f"{block}.conv{bn.group(1)}.bn", part, stat_sets)
            elif layer == "downsample.0":
                targets = [f"{block}.shortcut.conv.{part}"]
            elif layer == "downsample.1":
                targets = _bn_names(f"{block}.shortcut.bn", part, stat_sets)
            else:
                raise KeyError(f"{name}: not a torchvision ResNet tensor")
        for target in targets:
            out[target] = t.detach().clone().float()
    return out, fc


def from_torchvision(state_dict: Dict[str, torch.Tensor], config: dict, model: Optional[GAttANetModel] = None) -> GAttANetModel:
    """An `imagenet_resnet` model (built from `config`, or the given one) with a torchvision
    ResNet's weights: `from_torchvision(torchvision.models.resnet50(weights=...).state_dict(), cfg)`.
    The depth and width must match the torchvision network (width 64 for theirs); every backbone
    tensor must be found. The classifier is copied only when the head is `avg_linear` with as
    many classes; otherwise it keeps its initialisation and a warning says so."""
    if config["backbone"].get("kind") != "imagenet_resnet":
        raise ValueError("from_torchvision: the config's backbone must be `imagenet_resnet`")
    model = model if model is not None else build(config)
    backbone, fc = rename_torchvision(state_dict, model.passes)
    ours = model.state_dict()
    for name, t in backbone.items():
        if name not in ours:
            raise KeyError(f"{name}: torchvision has it, this config does not (depth {config['backbone']['depth']}?)")
        if ours[name].shape != t.shape:
            raise ValueError(f"{name}: torchvision's shape {list(t.shape)}, this config's {list(ours[name].shape)} (width?)")
    absent = [n for n in ours if n.startswith("backbone.") and n not in backbone]
    if absent:
        raise KeyError(f"{absent[0]}: not in the torchvision state dict ({len(absent)} backbone tensors missing)")
    copied = dict(backbone)
    head_fc = ours.get("head.fc.weight")
    if config["head"]["kind"] == "avg_linear" and head_fc is not None and fc.get("head.fc.weight") is not None and fc["head.fc.weight"].shape == head_fc.shape:
        copied.update({k: v.float() for k, v in fc.items()})
    elif fc:
        n = fc["head.fc.weight"].shape[0] if "head.fc.weight" in fc else "?"
        warnings.warn(
            f"from_torchvision: torchvision's classifier ({n} classes) was not copied: this model has a "
            f"{config['head']['kind']} head with {len(config['classes'])} classes, which keeps its initialisation "
            "(train or fine-tune it)",
            stacklevel=2,
        )
    with torch.no_grad():
        for name, t in copied.items():
            ours[name].copy_(t)
    return model
