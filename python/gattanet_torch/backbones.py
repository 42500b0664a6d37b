"""The backbones of config.json, one class per `backbone.kind`, lowered exactly as the Rust side
lowers them (src/model/{toy,resnet,imagenet_resnet,patchconv,conv_groups}.rs): the same
operations in the same order, and module paths that make `state_dict()` names equal to the
tensor names of `model.safetensors`.

Every backbone takes (x, ctx) and calls `ctx.site(name, y)` at each output GAttANet may attend;
`self.sites` lists those outputs in network order and `self.out_channels` is the feature width.
"""
from __future__ import annotations

import math

import torch
import torch.nn.functional as F
from torch import nn

from .layers import (
    ConvBN,
    LayerNormChannels,
    PassContext,
    Sites,
    SqueezeExcite,
    round_half_away,
    uniform_fan_in_,
)


class Toy(nn.Module):
    """The paper's toy CNN trunk: conv3×3 → BN → ReLU three times, a 3×3 stride-2 max-pool
    (no padding, odd edges dropped) after the first two. Sites: conv1, conv2, conv3."""

    def __init__(self, cin: int, channels, stat_sets: int):
        super().__init__()
        self.sites = Sites()
        for i, c in enumerate(channels):
            self.add_module(f"conv{i + 1}", ConvBN(cin, c, 3, 1, "relu", stat_sets))
            self.sites.add(f"conv{i + 1}", c, True)
            cin = c
        self.out_channels = cin

    def forward(self, x, ctx: PassContext):
        for i in range(3):
            x = ctx.site(f"conv{i + 1}", getattr(self, f"conv{i + 1}")(x, ctx))
            if i < 2:
                x = F.max_pool2d(x, 3, 2)
        return x


class BasicBlock(nn.Module):
    """ReLU(BN(conv3×3(ReLU(BN(conv3×3 x)))) + shortcut(x)); the stride on the first conv."""

    def __init__(self, cin: int, c: int, stride: int, stat_sets: int):
        super().__init__()
        self.conv1 = ConvBN(cin, c, 3, stride, "relu", stat_sets)
        self.conv2 = ConvBN(c, c, 3, 1, "relu", stat_sets)
        self.shortcut = ConvBN(cin, c, 1, stride, "none", stat_sets) if stride != 1 or cin != c else None
        self.out_channels = c

    def forward(self, x, ctx):
        skip = x if self.shortcut is None else self.shortcut(x, ctx)
        return self.conv2(self.conv1(x, ctx), ctx, residual=skip)


class Bottleneck(nn.Module):
    """1×1 reduce → 3×3 (with the stride, torchvision's v1.5) → 1×1 expand to 4× width, + shortcut."""

    expansion = 4

    def __init__(self, cin: int, c: int, stride: int, stat_sets: int):
        super().__init__()
        cout = self.expansion * c
        self.conv1 = ConvBN(cin, c, 1, 1, "relu", stat_sets)
        self.conv2 = ConvBN(c, c, 3, stride, "relu", stat_sets)
        self.conv3 = ConvBN(c, cout, 1, 1, "relu", stat_sets)
        self.shortcut = ConvBN(cin, cout, 1, stride, "none", stat_sets) if stride != 1 or cin != cout else None
        self.out_channels = cout

    def forward(self, x, ctx):
        skip = x if self.shortcut is None else self.shortcut(x, ctx)
        return self.conv3(self.conv2(self.conv1(x, ctx), ctx), ctx, residual=skip)


class _Stages(nn.Module):
    """Stages `stage{s}` of blocks `block{i}` (1-based), stride 2 entering every stage but the
    first; every block's output is a site `stage{s}.block{i}`."""

    def _build_stages(self, cin: int, width: int, blocks, block_cls, stat_sets: int) -> int:
        for s, n in enumerate(blocks):
            stage = nn.Module()
            for i in range(n):
                stride = 2 if s > 0 and i == 0 else 1
                block = block_cls(cin, width << s, stride, stat_sets)
                stage.add_module(f"block{i + 1}", block)
                cin = block.out_channels
                self.sites.add(f"stage{s + 1}.block{i + 1}", cin, True)
            self.add_module(f"stage{s + 1}", stage)
        self.num_stages = len(blocks)
        return cin

    def _run_stages(self, x, ctx):
        for s in range(self.num_stages):
            for name, block in getattr(self, f"stage{s + 1}").named_children():
                x = ctx.site(f"stage{s + 1}.{name}", block(x, ctx))
        return x


class CifarResNet(_Stages):
    """CIFAR ResNet (He et al. 2016, §4.2): 3×3 stem, three stages of (depth − 2) / 6 basic
    blocks with widths w, 2w, 4w."""

    def __init__(self, cin: int, depth: int, width: int, stat_sets: int):
        super().__init__()
        if depth < 8 or (depth - 2) % 6:
            raise ValueError(f"backbone.depth: must be 6n+2 with n >= 1, found {depth}")
        self.sites = Sites()
        self.stem = ConvBN(cin, width, 3, 1, "relu", stat_sets)
        n = (depth - 2) // 6
        self.out_channels = self._build_stages(width, width, [n] * 3, BasicBlock, stat_sets)

    def forward(self, x, ctx):
        return self._run_stages(self.stem(x, ctx), ctx)


IMAGENET_LAYOUTS = {
    18: ([2, 2, 2, 2], False),
    34: ([3, 4, 6, 3], False),
    50: ([3, 4, 6, 3], True),
    101: ([3, 4, 23, 3], True),
    152: ([3, 8, 36, 3], True),
}


class ImagenetResNet(_Stages):
    """ImageNet ResNet in torchvision's layout: 7×7 stride-2 stem → BN → ReLU, 3×3 stride-2
    max-pool (padding 1), four stages of widths w, 2w, 4w, 8w; basic blocks for depth 18/34,
    bottlenecks for 50/101/152."""

    def __init__(self, cin: int, depth: int, width: int, stat_sets: int):
        super().__init__()
        if depth not in IMAGENET_LAYOUTS:
            raise ValueError(f"backbone.depth: must be 18, 34, 50, 101 or 152, found {depth}")
        blocks, bottleneck = IMAGENET_LAYOUTS[depth]
        self.sites = Sites()
        self.stem = ConvBN(cin, width, 7, 2, "relu", stat_sets)
        block = Bottleneck if bottleneck else BasicBlock
        self.out_channels = self._build_stages(width, width, blocks, block, stat_sets)

    def forward(self, x, ctx):
        # The Rust side pads with zeros: the same as PyTorch's −∞ padding after a ReLU.
        x = F.max_pool2d(self.stem(x, ctx), 3, 2, 1)
        return self._run_stages(x, ctx)


class PatchBlock(nn.Module):
    """x + γ ⊙ conv1×1(SE(GELU(dw3×3(GELU(conv1×1(LN(x))))))), PatchConvNet's trunk block."""

    def __init__(self, dim: int, reduced: int, init_scale: float):
        super().__init__()
        self.norm = LayerNormChannels(dim)
        self.conv1 = nn.Conv2d(dim, dim, 1)
        self.dwconv = nn.Conv2d(dim, dim, 3, 1, 1, groups=dim)
        self.se = SqueezeExcite(dim, reduced)
        self.conv2 = nn.Conv2d(dim, dim, 1)
        self.gamma = nn.Parameter(torch.full((dim,), float(init_scale)))
        for conv in (self.conv1, self.conv2):
            uniform_fan_in_(conv.weight, dim)
            uniform_fan_in_(conv.bias, dim)

    def forward(self, x):
        u = F.gelu(self.conv1(self.norm(x)))
        u = self.se(F.gelu(self.dwconv(u)))
        return x + self.conv2(u) * self.gamma[None, :, None, None]


class PatchConv(nn.Module):
    """PatchConvNet trunk: log2(stem_stride) stride-2 3×3 convs (a single stride-1 conv for
    stride 1) whose widths double up to `dim`, GELU between them, no bias or norm; then `depth`
    blocks at constant width. Sites: block1..block{depth}."""

    def __init__(self, cin: int, dim: int, depth: int, stem_stride: int, init_scale: float, se_ratio: float):
        super().__init__()
        if stem_stride not in (1, 2, 4, 8, 16):
            raise ValueError(f"backbone.stem_stride: must be 1, 2, 4, 8 or 16, found {stem_stride}")
        n = max(int(math.log2(stem_stride)), 1)
        stride = 1 if stem_stride == 1 else 2
        self.stem = nn.ModuleList()
        for i in range(n):
            c = dim >> (n - 1 - i)
            conv = nn.Conv2d(cin, c, 3, stride, 1, bias=False)
            uniform_fan_in_(conv.weight, cin * 9)
            self.stem.append(conv)
            cin = c
        reduced = round_half_away(dim * se_ratio)
        self.blocks = nn.ModuleList(PatchBlock(dim, reduced, init_scale) for _ in range(depth))
        self.sites = Sites()
        for i in range(depth):
            self.sites.add(f"block{i + 1}", dim, True)
        self.out_channels = dim

    def forward(self, x, ctx):
        for i, conv in enumerate(self.stem):
            x = conv(x)
            if i + 1 < len(self.stem):
                x = F.gelu(x)
        for i, block in enumerate(self.blocks):
            x = ctx.site(f"block{i + 1}", block(x))
        return x


class PatchWhitening(nn.Module):
    """The frozen 3×3 patch-whitening conv: ± the leading eigenvectors of the training images'
    3×3 patch covariance, scaled to unit variance (then GELU). Its weight is a buffer: set from
    data (`set_from_images`), never trained, yet stored as `backbone.whiten.weight`."""

    EPS = 5e-4  # added to each eigenvalue before the square root (WHITENING_EPS on the Rust side)

    def __init__(self, cin: int, pairs: int):
        super().__init__()
        self.pairs = pairs
        self.register_buffer("weight", torch.zeros(2 * pairs, cin, 3, 3))

    def forward(self, x):
        return F.gelu(F.conv2d(x, self.weight, padding=1))

    @torch.no_grad()
    def set_from_images(self, x: torch.Tensor) -> None:
        """x: normalised images (N, 3, H, W); the uncentred covariance of every 3×3 patch inside
        them (index c·9 + dy·3 + dx), as the Rust trainer computes it (on up to 5000 images)."""
        patches = F.unfold(x.double(), 3).transpose(1, 2).reshape(-1, x.shape[1] * 9)
        cov = patches.T @ patches / patches.shape[0]
        eigenvalues, eigenvectors = torch.linalg.eigh(cov)
        order = torch.argsort(eigenvalues, descending=True)[: self.pairs]
        scale = 1.0 / torch.sqrt(eigenvalues[order].clamp(min=0) + self.EPS)
        filters = (eigenvectors[:, order] * scale).T.reshape(self.pairs, x.shape[1], 3, 3)
        self.weight.copy_(torch.cat([filters, -filters]).float())


class ConvGroups(nn.Module):
    """Conv groups with patch whitening (the fast CIFAR-10 recipes' trunk): whitening conv →
    GELU, then per width conv → BN → GELU → 2×2 max-pool → conv → BN → GELU, then `blocks`
    residual pairs GELU(x + BN(conv(GELU(BN(conv x))))) at the last width.
    Sites: group{g}.conv1, group{g}.conv2, block{i}."""

    def __init__(self, cin: int, whitening: int, widths, blocks: int, stat_sets: int):
        super().__init__()
        self.sites = Sites()
        self.whiten = PatchWhitening(cin, whitening)
        prev = 2 * whitening
        for g, c in enumerate(widths):
            group = nn.Module()
            group.conv1 = ConvBN(prev, c, 3, 1, "gelu", stat_sets)
            group.conv2 = ConvBN(c, c, 3, 1, "gelu", stat_sets)
            self.add_module(f"group{g + 1}", group)
            self.sites.add(f"group{g + 1}.conv1", c, True)
            self.sites.add(f"group{g + 1}.conv2", c, True)
            prev = c
        for i in range(blocks):
            block = nn.Module()
            block.conv1 = ConvBN(prev, prev, 3, 1, "gelu", stat_sets)
            block.conv2 = ConvBN(prev, prev, 3, 1, "gelu", stat_sets)
            self.add_module(f"block{i + 1}", block)
            self.sites.add(f"block{i + 1}", prev, True)
        self.num_groups, self.num_blocks, self.out_channels = len(widths), blocks, prev

    def forward(self, x, ctx):
        x = self.whiten(x)
        for g in range(self.num_groups):
            group = getattr(self, f"group{g + 1}")
            x = ctx.site(f"group{g + 1}.conv1", group.conv1(x, ctx))
            x = F.max_pool2d(x, 2, 2)
            x = ctx.site(f"group{g + 1}.conv2", group.conv2(x, ctx))
        for i in range(self.num_blocks):
            block = getattr(self, f"block{i + 1}")
            x = ctx.site(f"block{i + 1}", block.conv2(block.conv1(x, ctx), ctx, residual=x))
        return x


def build_backbone(cfg: dict, cin: int, stat_sets: int) -> nn.Module:
    kind = cfg.get("kind")
    if kind == "toy":
        return Toy(cin, cfg["channels"], stat_sets)
    if kind == "resnet":
        return CifarResNet(cin, cfg["depth"], cfg["width"], stat_sets)
    if kind == "imagenet_resnet":
        return ImagenetResNet(cin, cfg["depth"], cfg.get("width", 64), stat_sets)
    if kind == "patchconv":
        return PatchConv(
            cin, cfg["dim"], cfg["depth"], cfg["stem_stride"], cfg.get("init_scale", 1e-4), cfg.get("se_ratio", 0.25)
        )
    if kind == "conv_groups":
        return ConvGroups(cin, cfg["whitening"], cfg["widths"], cfg.get("blocks", 0), stat_sets)
    raise ValueError(f"backbone.kind: unknown kind {kind!r} (toy, resnet, imagenet_resnet, patchconv, conv_groups)")
