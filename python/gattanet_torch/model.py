"""`build(config)`: the network a config.json describes, with GAttANet's T passes.

Pass 0 is the plain feed-forward pass; pass t > 0 multiplies every attended layer's output by the
gain 1 + α·g computed from pass t − 1 (src/model/mod.rs, `Model::run`).
"""
from __future__ import annotations

import copy
from dataclasses import dataclass
from typing import Dict, List, Optional, Sequence

import torch
from torch import nn

from .backbones import IMAGENET_LAYOUTS, build_backbone
from .gatta import GAttANet, modulate
from .heads import build_head
from .layers import PassContext


@dataclass
class Pass:
    """Everything one pass produced (batch first)."""

    logits: torch.Tensor
    # Agreement g per attended layer, from this pass's activations: (B, H, W) or (B, C). Empty
    # in the last pass unless maps were asked for (it drives nothing).
    agreement: List[torch.Tensor]
    # The gains that multiplied the attended layers in this pass (None in pass 0).
    gains: Optional[List[torch.Tensor]]
    # The global query (B, d) from this pass's activations.
    query: Optional[torch.Tensor]
    # Class-attention weights (B, heads, 1 + N) over [class token, patches], if that head.
    class_attention: Optional[torch.Tensor]


class _Tap:
    """Applies the previous pass's gains at the attended sites and records their outputs."""

    def __init__(self, attended: Dict[str, int], gains: Optional[List[torch.Tensor]]):
        self.attended, self.gains, self.acts = attended, gains, []

    def __call__(self, name: str, y: torch.Tensor) -> torch.Tensor:
        l = self.attended.get(name)
        if l is None:
            return y
        if self.gains is not None:
            y = modulate(y, self.gains[l])
        self.acts.append(y)
        return y


def _conv_out(n: int, k: int, stride: int, pad: int) -> int:
    return (n + 2 * pad - k) // stride + 1


def feature_shape(config: dict) -> List[int]:
    """[C, H, W] of the backbone's output, computed from the config alone."""
    bb, (h, w) = config["backbone"], config["input"]["size"]
    kind = bb["kind"]
    if kind == "toy":
        size = lambda n: _conv_out(_conv_out(n, 3, 2, 0), 3, 2, 0)
        c = bb["channels"][-1]
    elif kind == "resnet":
        size = lambda n: _conv_out(_conv_out(n, 3, 2, 1), 3, 2, 1)
        c = 4 * bb["width"]
    elif kind == "imagenet_resnet":
        def size(n):
            n = _conv_out(_conv_out(n, 7, 2, 3), 3, 2, 1)
            for _ in range(3):
                n = _conv_out(n, 3, 2, 1)
            return n

        width = bb.get("width", 64)
        c = 8 * width * (4 if IMAGENET_LAYOUTS[bb["depth"]][1] else 1)
    elif kind == "patchconv":
        s = bb["stem_stride"]
        n_convs, stride = max(s.bit_length() - 1, 1), (1 if s == 1 else 2)

        def size(n):
            for _ in range(n_convs):
                n = _conv_out(n, 3, stride, 1)
            return n

        c = bb["dim"]
    elif kind == "conv_groups":
        def size(n):
            for _ in bb["widths"]:
                n = _conv_out(n, 2, 2, 0)
            return n

        c = bb["widths"][-1]
    else:
        raise ValueError(f"backbone.kind: unknown kind {kind!r}")
    return [c, size(h), size(w)]


class GAttANetModel(nn.Module):
    """A config's backbone + head (+ GAttANet). `state_dict()` names are `model.safetensors`'s."""

    def __init__(self, config: dict):
        super().__init__()
        config = copy.deepcopy(config)
        self.config = config
        att = config.get("attention")
        self.passes = att.get("passes", 2) if att else 1
        # One BatchNorm statistics set per trained pass (`ModelConfig::stat_sets`).
        stat_sets = self.passes
        channels = config["input"].get("channels", 3)
        classes = len(config["classes"])
        if classes < 2:
            raise ValueError(f"classes: need at least 2 classes, found {classes}")
        self.backbone = build_backbone(config["backbone"], channels, stat_sets)
        features = feature_shape(config)
        self.head = build_head(config["head"], features, classes)
        offered = self.backbone.sites.entries + self.head.sites.entries
        self.offered_sites = [name for name, _, _ in offered]
        self.gatta: Optional[GAttANet] = None
        self.attended: Dict[str, int] = {}
        if att:
            wanted = att.get("layers")
            for name in wanted or []:
                if name not in self.offered_sites:
                    raise ValueError(
                        f"attention.layers: no layer named `{name}`; this model offers: {', '.join(self.offered_sites)}"
                    )
            sites = [s for s in offered if wanted is None or s[0] in wanted]
            self.gatta = GAttANet(att, sites)
            self.attended = {name: l for l, (name, _, _) in enumerate(sites)}

    @property
    def attended_sites(self) -> List[str]:
        return list(self.attended)

    def forward(self, x: torch.Tensor, passes: Optional[int] = None, alphas: Optional[Sequence[float]] = None, maps: bool = False):
        """The logits of every pass (a list), or with `maps=True` every pass's `Pass`
        (agreement maps of the last pass included, class-attention weights)."""
        runs = self.run(x, passes, alphas, final_maps=maps)
        return runs if maps else [p.logits for p in runs]

    def run(self, x: torch.Tensor, passes: Optional[int] = None, alphas: Optional[Sequence[float]] = None, final_maps: bool = True) -> List[Pass]:
        """Run T passes on x (B, C, H, W). `alphas` (one per attended layer) replaces the learned
        α; without GAttANet a single plain pass runs whatever `passes` says."""
        g = self.gatta
        passes = max(passes or self.passes, 1) if g is not None else 1
        if alphas is not None and g is not None and len(alphas) != len(g.layers):
            raise ValueError(f"alphas: one per attended layer ({len(g.layers)}), got {len(alphas)}")
        outputs: List[Pass] = []
        gains = None
        for t in range(passes):
            tap = _Tap(self.attended, gains)
            ctx = PassContext(t, tap)
            logits, class_attention = self.head(self.backbone(x, ctx), ctx)
            last = t + 1 == passes
            query, agreement = None, []
            if g is not None and (not last or final_maps):
                query = g.global_query(tap.acts)
                agreement = [g.agreement(l, a, query) for l, a in enumerate(tap.acts)]
            applied = gains
            if not last:
                gains = [
                    g.gain(l, a, None if alphas is None else torch.tensor([float(alphas[l])], device=a.device, dtype=a.dtype))
                    for l, a in enumerate(agreement)
                ]
            outputs.append(Pass(logits, agreement, applied, query, class_attention))
        return outputs

    def learned_alphas(self) -> List[float]:
        return [float(layer.alpha) for layer in self.gatta.layers] if self.gatta is not None else []


def build(config: dict) -> GAttANetModel:
    """The model a config.json (as a dict) describes, freshly initialised as the Rust trainer
    initialises it (the distributions, not the same random numbers)."""
    return GAttANetModel(config)
