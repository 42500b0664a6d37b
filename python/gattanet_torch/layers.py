"""Building blocks shared by the backbones and heads, numerically as the Rust engine computes them.

Constants come from the Rust side: BatchNorm eps 1e-5 and momentum 0.1 (`BN_EPS`, `BN_MOMENTUM`
in src/model/layers.rs), LayerNorm eps 1e-6 everywhere, exact (erf) GELU, k×k convolutions padded
by k // 2.
"""
from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import Callable, List, Optional

import torch
import torch.nn.functional as F
from torch import nn

BN_EPS = 1e-5
BN_MOMENTUM = 0.1
LN_EPS = 1e-6


@dataclass
class PassContext:
    """What one pass needs besides its input: which pass (per-pass BatchNorm statistics) and the
    tap every attention site reports its output to (it applies the previous pass's gain)."""

    index: int
    site: Callable[[str, torch.Tensor], torch.Tensor] = field(default=lambda name, y: y)


def activate(x: torch.Tensor, act: str) -> torch.Tensor:
    if act == "relu":
        return F.relu(x)
    if act == "gelu":
        return F.gelu(x)  # the erf form, as the Rust side (never the tanh approximation)
    return x


def round_half_away(x: float) -> int:
    """Rust's f64::round (halves away from zero); Python's round() would go to even."""
    return int(math.floor(abs(x) + 0.5)) * (1 if x >= 0 else -1)


class RunningStats(nn.Module):
    """One set of BatchNorm running statistics; its buffers are named `mean` and `var`."""

    def __init__(self, channels: int):
        super().__init__()
        self.register_buffer("mean", torch.zeros(channels))
        self.register_buffer("var", torch.ones(channels))


class PassBatchNorm(nn.Module):
    """BatchNorm with one running-statistics set per pass (`stats0`, `stats1`, ...): pass 2 sees
    modulated activations, so statistics shared with pass 1 would fit neither pass. A pass beyond
    the last set uses the last one."""

    def __init__(self, channels: int, stat_sets: int):
        super().__init__()
        self.weight = nn.Parameter(torch.ones(channels))
        self.bias = nn.Parameter(torch.zeros(channels))
        self.stat_sets = stat_sets
        for s in range(stat_sets):
            self.add_module(f"stats{s}", RunningStats(channels))

    def stats(self, index: int) -> RunningStats:
        return getattr(self, f"stats{min(index, self.stat_sets - 1)}")

    def forward(self, x: torch.Tensor, ctx: PassContext) -> torch.Tensor:
        st = self.stats(ctx.index)
        # PyTorch's running update (momentum 0.1, unbiased variance) is the Rust trainer's too.
        return F.batch_norm(x, st.mean, st.var, self.weight, self.bias, self.training, BN_MOMENTUM, BN_EPS)


class ConvBN(nn.Module):
    """conv (no bias) → BatchNorm → [+ residual] → activation; tensors `conv.weight`, `bn.*`."""

    def __init__(self, cin: int, cout: int, k: int, stride: int, act: str, stat_sets: int):
        super().__init__()
        self.conv = nn.Conv2d(cin, cout, k, stride, k // 2, bias=False)
        self.bn = PassBatchNorm(cout, stat_sets)
        self.act = act
        # The Rust trainer's init: Kaiming normal, fan_in = cin·k·k.
        nn.init.normal_(self.conv.weight, 0.0, math.sqrt(2.0 / (cin * k * k)))

    def forward(self, x: torch.Tensor, ctx: PassContext, residual: Optional[torch.Tensor] = None) -> torch.Tensor:
        y = self.bn(self.conv(x), ctx)
        if residual is not None:
            y = y + residual
        return activate(y, self.act)


class LayerNormChannels(nn.Module):
    """LayerNorm over the channels at each position of an NCHW map (biased variance, eps inside
    the square root)."""

    def __init__(self, channels: int):
        super().__init__()
        self.weight = nn.Parameter(torch.ones(channels))
        self.bias = nn.Parameter(torch.zeros(channels))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        # in f32 under mixed precision too (CPU autocast leaves layer_norm's inputs mixed)
        y = F.layer_norm(x.float().permute(0, 2, 3, 1), (x.shape[1],), self.weight, self.bias, LN_EPS)
        return y.permute(0, 3, 1, 2)


class LayerNorm(nn.LayerNorm):
    """LayerNorm over the last dimension with eps 1e-6, in f32 under mixed precision too."""

    def __init__(self, channels: int):
        super().__init__(channels, eps=LN_EPS)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return super().forward(x.float())


class SqueezeExcite(nn.Module):
    """Channel gates sigmoid(expand(ReLU(reduce(mean over positions)))) times the input."""

    def __init__(self, channels: int, reduced: int):
        super().__init__()
        self.reduce = nn.Linear(channels, reduced)
        self.expand = nn.Linear(reduced, channels)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        s = self.expand(F.relu(self.reduce(x.mean((2, 3)))))
        return x * torch.sigmoid(s)[:, :, None, None]


def uniform_fan_in_(t: torch.Tensor, fan_in: int) -> torch.Tensor:
    """PyTorch's default conv/linear init U(±1/√fan_in), which the Rust trainer uses for these."""
    b = 1.0 / math.sqrt(fan_in)
    return nn.init.uniform_(t, -b, b)


class Sites:
    """The attention sites a network offers, in network order: (name, channels, is_conv)."""

    def __init__(self) -> None:
        self.entries: List[tuple] = []

    def add(self, name: str, channels: int, conv: bool) -> str:
        self.entries.append((name, channels, conv))
        return name
