"""GAttANet: global attention agreement (VanRullen & Alamia, 2021), as src/model/gatta.rs.

For every attended layer l with activation a_l (conv: C×H×W, dense: C units):

    keys      k_l = K_lᵀ a_l at every position        (dense: k_l[c] = a_l[c] · K_l[c])
    queries   q_l = Q_lᵀ a_l at every position        (dense: q_l[c] = a_l[c] · Q_l[c])
    global    q̄   = mean over layers of (mean over positions of q_l)    [layer_balanced]
                  or one mean over every position of every layer       [flat]
    agreement g_l = k_l · q̄   (÷ √d with scale_by_sqrt_d)
    next pass ã_l = a_l ⊙ (1 + α_l · g_l)   (α_l · tanh g_l with bounded)

The projections are linear and bias-free, so q̄ and g are computed without building the key and
query maps: mean(Q_lᵀ a) = Q_lᵀ mean(a), and k · q̄ = (K_l q̄)ᵀ a.
"""
from __future__ import annotations

import math
from typing import List, Sequence

import torch
from torch import nn

from .layers import uniform_fan_in_


class AttendedLayer(nn.Module):
    """K_l, Q_l (C, d) and α_l (1) of one attended layer."""

    def __init__(self, name: str, channels: int, conv: bool, dim: int, alpha_init: float):
        super().__init__()
        self.name, self.conv = name, conv
        self.key = nn.Parameter(uniform_fan_in_(torch.empty(channels, dim), channels))
        self.query = nn.Parameter(uniform_fan_in_(torch.empty(channels, dim), channels))
        self.alpha = nn.Parameter(torch.full((1,), float(alpha_init)))


class GAttANet(nn.Module):
    """Keys, queries and gains of every attended layer. Site names contain dots
    (`stage1.block1`), which module names may not, so the layers live in a list and the
    state-dict hooks below name their tensors `{site}.key` / `.query` / `.alpha` as the Rust
    side does."""

    def __init__(self, cfg: dict, sites: Sequence[tuple]):
        super().__init__()
        self.dim = cfg.get("dim", 16)
        self.pooling = cfg.get("pooling", "layer_balanced")
        if self.pooling not in ("layer_balanced", "flat"):
            raise ValueError(f"attention.pooling: layer_balanced or flat, found {self.pooling!r}")
        self.scale = 1.0 / math.sqrt(self.dim) if cfg.get("scale_by_sqrt_d", False) else 1.0
        self.bounded = bool(cfg.get("bounded", False))
        alpha_init = cfg.get("alpha_init", 0.0)
        self.layers = nn.ModuleList(AttendedLayer(n, c, conv, self.dim, alpha_init) for n, c, conv in sites)
        self._register_state_dict_hook(_site_names)
        self._register_load_state_dict_pre_hook(_list_names, with_module=True)

    @property
    def names(self) -> List[str]:
        return [layer.name for layer in self.layers]

    def layer_query(self, l: int, a: torch.Tensor) -> torch.Tensor:
        """Mean query of layer l, (B, d)."""
        layer = self.layers[l]
        if layer.conv:
            return a.mean((2, 3)) @ layer.query
        return a @ layer.query / a.shape[1]

    def global_query(self, acts: Sequence[torch.Tensor]) -> torch.Tensor:
        per_layer = [self.layer_query(l, a) for l, a in enumerate(acts)]
        if self.pooling == "layer_balanced":
            return torch.stack(per_layer).mean(0)
        # flat: every position of every layer counts once
        positions = [a.shape[2] * a.shape[3] if a.dim() == 4 else a.shape[1] for a in acts]
        return sum(q * n for q, n in zip(per_layer, positions)) / sum(positions)

    def agreement(self, l: int, a: torch.Tensor, q: torch.Tensor) -> torch.Tensor:
        """g_l: (B, H, W) for conv layers, (B, C) for dense layers."""
        w = q @ self.layers[l].key.t()  # (B, C): K_l q̄, one weight per channel or unit
        g = torch.einsum("bc,bchw->bhw", w, a) if a.dim() == 4 else a * w
        return g * self.scale

    def gain(self, l: int, g: torch.Tensor, alpha=None) -> torch.Tensor:
        """1 + α·g (1 + α·tanh g when bounded); `alpha` overrides the learned α."""
        alpha = self.layers[l].alpha if alpha is None else alpha
        return 1 + alpha * (torch.tanh(g) if self.bounded else g)

    # --- explicit maps, for tests that hold the cheap form equal to the definition ----------
    def keys(self, l: int, a: torch.Tensor) -> torch.Tensor:
        return _project(a, self.layers[l].key)

    def queries(self, l: int, a: torch.Tensor) -> torch.Tensor:
        return _project(a, self.layers[l].query)


def modulate(a: torch.Tensor, gain: torch.Tensor) -> torch.Tensor:
    """One gain per position (shared by the channels) for conv layers, one per unit for dense."""
    return a * gain[:, None] if a.dim() == 4 else a * gain


def _project(a: torch.Tensor, p: torch.Tensor) -> torch.Tensor:
    """(B, C, H, W) → (B, d, H, W); (B, C) → (B, C, d) with row c scaled by a[c]."""
    if a.dim() == 4:
        return torch.einsum("cd,bchw->bdhw", p, a)
    return a[:, :, None] * p[None]


def _site_names(module: GAttANet, state: dict, prefix: str, local_metadata) -> None:
    for i, name in enumerate(module.names):
        for t in ("key", "query", "alpha"):
            state[f"{prefix}{name}.{t}"] = state.pop(f"{prefix}layers.{i}.{t}")


def _list_names(module: GAttANet, state: dict, prefix: str, *args) -> None:
    for i, name in enumerate(module.names):
        for t in ("key", "query", "alpha"):
            if f"{prefix}{name}.{t}" in state:
                state[f"{prefix}layers.{i}.{t}"] = state.pop(f"{prefix}{name}.{t}")
