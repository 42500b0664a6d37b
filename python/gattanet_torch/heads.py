"""Classifier heads (src/model/head.rs, class_attention.rs). The logits are an attention site
(`logits`), and so is the MLP's hidden layer (`fc1`)."""
from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn

from .layers import LayerNorm, PassContext, Sites, uniform_fan_in_


def _linear(cin: int, cout: int) -> nn.Linear:
    # The Rust trainer's dense init: U(±1/√fan_in) weights, zero bias.
    fc = nn.Linear(cin, cout)
    uniform_fan_in_(fc.weight, cin)
    nn.init.zeros_(fc.bias)
    return fc


class AvgLinear(nn.Module):
    """Global average pooling + linear classifier (`head.fc`)."""

    def __init__(self, features, classes: int):
        super().__init__()
        self.fc = _linear(features[0], classes)
        self.sites = Sites()
        self.sites.add("logits", classes, False)

    def forward(self, x, ctx: PassContext):
        return ctx.site("logits", self.fc(x.mean((2, 3)))), None


class Mlp(nn.Module):
    """Flatten + dense(hidden) + ReLU + dense(classes): the toy CNN's two dense layers."""

    def __init__(self, features, hidden: int, classes: int):
        super().__init__()
        c, h, w = features
        self.fc1 = _linear(c * h * w, hidden)
        self.fc2 = _linear(hidden, classes)
        self.sites = Sites()
        self.sites.add("fc1", hidden, False)
        self.sites.add("logits", classes, False)

    def forward(self, x, ctx: PassContext):
        x = ctx.site("fc1", F.relu(self.fc1(x.flatten(1))))
        return ctx.site("logits", self.fc2(x)), None


class ClassAttentionMlp(nn.Module):
    def __init__(self, dim: int, hidden: int):
        super().__init__()
        self.fc1 = nn.Linear(dim, hidden)
        self.fc2 = nn.Linear(hidden, dim)

    def forward(self, x):
        return self.fc2(F.gelu(self.fc1(x)))


class ClassAttention(nn.Module):
    """PatchConvNet's attention-based aggregation: one learned class token attends over
    [itself, patches] (queries from the token only), LayerScale on both residual branches,
    final LayerNorm and classifier. Returns the logits and the weights (B, heads, 1 + N)."""

    def __init__(self, dim: int, heads: int, mlp_ratio: int, init_scale: float, classes: int):
        super().__init__()
        if heads <= 0 or dim % heads:
            raise ValueError(f"head.heads: must divide the feature width {dim}, found {heads}")
        self.heads = heads
        self.cls_token = nn.Parameter(torch.randn(1, 1, dim) * 0.02)
        self.norm1 = LayerNorm(dim)
        self.q, self.k, self.v, self.proj = (nn.Linear(dim, dim) for _ in range(4))
        self.gamma1 = nn.Parameter(torch.full((dim,), float(init_scale)))
        self.norm2 = LayerNorm(dim)
        self.mlp = ClassAttentionMlp(dim, dim * mlp_ratio)
        self.gamma2 = nn.Parameter(torch.full((dim,), float(init_scale)))
        self.norm = LayerNorm(dim)
        self.fc = nn.Linear(dim, classes)
        for m in self.modules():
            if isinstance(m, nn.Linear):  # timm's trunc_normal(0.02), zero bias
                nn.init.normal_(m.weight, 0.0, 0.02)
                nn.init.zeros_(m.bias)
        self.sites = Sites()
        self.sites.add("logits", classes, False)

    def forward(self, x, ctx: PassContext):
        b, c = x.shape[:2]
        h, dh = self.heads, c // self.heads
        patches = x.flatten(2).transpose(1, 2)  # (B, N, C)
        cls = self.cls_token.expand(b, 1, c)
        u = self.norm1(torch.cat([cls, patches], 1))  # the patches are normalised too
        split = lambda t: t.reshape(b, t.shape[1], h, dh).transpose(1, 2)  # (B, h, n, dh)
        q = split(self.q(u[:, :1])) * dh**-0.5
        k, v = split(self.k(u)), split(self.v(u))
        attn = torch.softmax(q @ k.transpose(-2, -1), -1)  # (B, h, 1, 1 + N)
        o = (attn @ v).transpose(1, 2).reshape(b, 1, c)
        cls = cls + self.proj(o) * self.gamma1
        cls = cls + self.mlp(self.norm2(cls)) * self.gamma2
        logits = self.fc(self.norm(cls)[:, 0])
        return ctx.site("logits", logits), attn[:, :, 0]


def build_head(cfg: dict, features, classes: int) -> nn.Module:
    kind = cfg.get("kind")
    if kind == "avg_linear":
        return AvgLinear(features, classes)
    if kind == "mlp":
        return Mlp(features, cfg["hidden"], classes)
    if kind == "class_attention":
        return ClassAttention(features[0], cfg["heads"], cfg.get("mlp_ratio", 3), cfg.get("init_scale", 1e-4), classes)
    raise ValueError(f"head.kind: unknown kind {kind!r} (avg_linear, mlp, class_attention)")
