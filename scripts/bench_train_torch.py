#!/usr/bin/env python3
"""PyTorch reference for `gattanet bench --train`: the same toy CNN (with or without GAttANet),
built from the same config JSON, timed the same way (a full training step and the eval-mode
forward on a synthetic batch, models taking turns, medians after warm-up steps).

A benchmark tool, not product code. It follows src/model/{toy,head,gatta,layers}.rs:
conv3x3 (pad 1, no bias) + BatchNorm + ReLU, max-pool 3/2 after conv1 and conv2, then the mlp
head (flatten, dense + ReLU, dense). Attended sites: conv1..3, fc1 and the logits, each taken
after its nonlinearity. Keys/queries K_l, Q_l (C, d), bias-free; q̄ from the mean of each layer's
pooled queries (layer_balanced) or one mean over all positions (flat); g_l = k_l·q̄ (optionally
/√d, optionally tanh); the next pass multiplies the activation by 1 + α_l·g_l (one gain per
position for conv maps, one per unit for dense layers). BatchNorm keeps one set of running
statistics per pass. Loss: label-smoothed cross-entropy on the last pass (+ aux weight × the
earlier passes); SGD Nesterov 0.9 with weight decay on weights, keys and queries; clipping at 5.

Usage: bench_train_torch.py --config A.json --config B.json --batch 128 --threads 2 [--json OUT]
       [--parity target/release/gattanet]   (first: same weights and image, logits of every pass
                                              must match our `gattanet inspect`)
"""
import argparse
import json
import math
import statistics
import time

import torch
import torch.nn as nn
import torch.nn.functional as F

BN_EPS, BN_MOMENTUM = 1e-5, 0.1


class PassBatchNorm(nn.Module):
    """BatchNorm2d with shared γ, β and one set of running statistics per pass."""

    def __init__(self, c, sets):
        super().__init__()
        self.weight = nn.Parameter(torch.ones(c))
        self.bias = nn.Parameter(torch.zeros(c))
        for s in range(sets):
            self.register_buffer(f"mean{s}", torch.zeros(c))
            self.register_buffer(f"var{s}", torch.ones(c))
        self.sets = sets

    def forward(self, x, p):
        s = min(p, self.sets - 1)
        return F.batch_norm(x, getattr(self, f"mean{s}"), getattr(self, f"var{s}"), self.weight, self.bias,
                            self.training, BN_MOMENTUM, BN_EPS)


class Toy(nn.Module):
    def __init__(self, cfg):
        super().__init__()
        if cfg["backbone"]["kind"] != "toy" or cfg["head"]["kind"] != "mlp":
            raise SystemExit(f"{cfg['name']}: only the toy backbone with the mlp head is implemented here")
        att = cfg.get("attention")
        self.att = att
        passes = att.get("passes", 2) if att else 1
        self.passes = passes
        cin, (h, w) = cfg["input"]["channels"], cfg["input"]["size"]
        chans = cfg["backbone"]["channels"]
        self.convs = nn.ModuleList()
        self.bns = nn.ModuleList()
        sites = []  # (name, channels, spatial (h, w) or None)
        for i, c in enumerate(chans):
            self.convs.append(nn.Conv2d(cin, c, 3, padding=1, bias=False))
            nn.init.kaiming_normal_(self.convs[-1].weight, nonlinearity="relu")
            self.bns.append(PassBatchNorm(c, passes))
            sites.append((f"conv{i + 1}", c, (h, w)))
            if i < 2:
                h, w = (h - 3) // 2 + 1, (w - 3) // 2 + 1
            cin = c
        hidden, classes = cfg["head"]["hidden"], len(cfg["classes"])
        self.fc1 = nn.Linear(cin * h * w, hidden)
        self.fc2 = nn.Linear(hidden, classes)
        sites += [("fc1", hidden, None), ("logits", classes, None)]
        if att:
            names = att.get("layers")
            self.attended = [names is None or n in names for n, _, _ in sites]
            d = att.get("dim", 16)
            chosen = [s for s, on in zip(sites, self.attended) if on]
            self.spatial = [sp for _, _, sp in chosen]
            self.positions = [sp[0] * sp[1] if sp else c for _, c, sp in chosen]
            self.keys = nn.ParameterList([nn.Parameter(torch.empty(c, d).uniform_(-c ** -0.5, c ** -0.5)) for _, c, _ in chosen])
            self.queries = nn.ParameterList([nn.Parameter(torch.empty(c, d).uniform_(-c ** -0.5, c ** -0.5)) for _, c, _ in chosen])
            self.alphas = nn.ParameterList([nn.Parameter(torch.full((1,), float(att.get("alpha_init", 0.0)))) for _ in chosen])
            self.scale = 1 / math.sqrt(d) if att.get("scale_by_sqrt_d", False) else 1.0
            self.bounded = att.get("bounded", False)
            self.flat = att.get("pooling", "layer_balanced") == "flat"
        else:
            self.attended = [False] * len(sites)

    def forward_once(self, x, p, gains):
        acts, site = [], 0

        def tap(a):
            nonlocal site
            i = site
            site += 1
            if not self.attended[i]:
                return a
            l = len(acts)
            if gains is not None:
                a = a * gains[l].unsqueeze(1) if a.dim() == 4 else a * gains[l]
            acts.append(a)
            return a

        for i, (conv, bn) in enumerate(zip(self.convs, self.bns)):
            x = tap(F.relu(bn(conv(x), p)))
            if i < 2:
                x = F.max_pool2d(x, 3, 2)
        x = tap(F.relu(self.fc1(x.flatten(1))))
        return tap(self.fc2(x)), acts

    def gains(self, acts):
        per_layer = []
        for l, a in enumerate(acts):
            if a.dim() == 4:
                per_layer.append(a.mean((2, 3)) @ self.queries[l])
            else:
                per_layer.append(a @ self.queries[l] / self.positions[l])
        if self.flat:
            q = sum(pl * n for pl, n in zip(per_layer, self.positions)) / sum(self.positions)
        else:
            q = torch.stack(per_layer).mean(0)
        out = []
        for l, a in enumerate(acts):
            wk = q @ self.keys[l].t()  # (B, C): K_l q̄
            g = torch.einsum("bchw,bc->bhw", a, wk) if a.dim() == 4 else a * wk
            g = g * self.scale
            if self.bounded:
                g = torch.tanh(g)
            out.append(1 + self.alphas[l] * g)
        return out

    def forward(self, x):
        logits, gains = [], None
        for p in range(self.passes):
            out, acts = self.forward_once(x, p, gains)
            logits.append(out)
            if p + 1 < self.passes:
                gains = self.gains(acts)
        return logits


class Bench:
    def __init__(self, path, batch, channels_last):
        with open(path) as f:
            cfg = json.load(f)
        self.name = cfg["name"]
        self.model = Toy(cfg)
        fmt = torch.channels_last if channels_last else torch.contiguous_format
        self.model = self.model.to(memory_format=fmt)
        c, (h, w) = cfg["input"]["channels"], cfg["input"]["size"]
        self.x = torch.randn(batch, c, h, w).contiguous(memory_format=fmt)
        self.y = torch.arange(batch) % len(cfg["classes"])
        self.aux = (cfg.get("attention") or {}).get("aux_loss_weight", 0.0)
        decay = [p for n, p in self.model.named_parameters() if n.endswith("weight") and ".bns." not in f".{n}" or n.startswith(("keys", "queries"))]
        other = [p for p in self.model.parameters() if all(p is not q for q in decay)]
        self.opt = torch.optim.SGD([{"params": decay, "weight_decay": 5e-4}, {"params": other, "weight_decay": 0.0}],
                                   lr=1e-3, momentum=0.9, nesterov=True)

    def step(self):
        t = time.perf_counter()
        self.model.train()
        logits = self.model(self.x)
        loss = F.cross_entropy(logits[-1], self.y, label_smoothing=0.1)
        for l in logits[:-1]:
            if self.aux > 0:
                loss = loss + self.aux * F.cross_entropy(l, self.y, label_smoothing=0.1)
        self.opt.zero_grad(set_to_none=True)
        loss.backward()
        torch.nn.utils.clip_grad_norm_(self.model.parameters(), 5.0)
        self.opt.step()
        value = loss.item()
        assert math.isfinite(value), f"{self.name}: loss {value}"
        return time.perf_counter() - t

    def forward(self):
        t = time.perf_counter()
        self.model.eval()
        with torch.no_grad():
            self.model(self.x)[-1].sum().item()
        return time.perf_counter() - t


def load_safetensors(path):
    """name -> float32 tensor, for f32/f16/bf16 files (the format: u64 header size, JSON, data)."""
    import struct
    with open(path, "rb") as f:
        raw = f.read()
    n = struct.unpack("<Q", raw[:8])[0]
    header, data = json.loads(raw[8:8 + n]), raw[8 + n:]
    dtypes = {"F32": torch.float32, "F16": torch.float16, "BF16": torch.bfloat16}
    out = {}
    for name, meta in header.items():
        if name == "__metadata__":
            continue
        a, b = meta["data_offsets"]
        out[name] = torch.frombuffer(bytearray(data[a:b]), dtype=dtypes[meta["dtype"]]).float().reshape(meta["shape"])
    return out


def write_png(path, w, h, rgb):
    import struct
    import zlib
    rows = b"".join(b"\x00" + bytes(rgb[y * w * 3:(y + 1) * w * 3]) for y in range(h))
    chunk = lambda kind, body: struct.pack(">I", len(body)) + kind + body + struct.pack(">I", zlib.crc32(kind + body))
    with open(path, "wb") as f:
        f.write(b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", struct.pack(">IIBBBBB", w, h, 8, 2, 0, 0, 0))
                + chunk(b"IDAT", zlib.compress(rows)) + chunk(b"IEND", b""))


def parity(gattanet, config_path, work):
    """Same weights, same image: our `gattanet inspect` logits per pass against this model's (eval mode)."""
    import os
    import subprocess
    with open(config_path) as f:
        cfg = json.load(f)
    if cfg.get("attention"):
        cfg["attention"]["alpha_init"] = 0.5  # make the modulation matter
    os.makedirs(work, exist_ok=True)
    cfg_file, model_dir, out_dir, png = (os.path.join(work, n) for n in ("config.json", "model", "out", "probe.png"))
    with open(cfg_file, "w") as f:
        json.dump(cfg, f)
    (h, w) = cfg["input"]["size"]
    rgb = [(x * 7 + y * 3 + c * 50) % 256 for y in range(h) for x in range(w) for c in range(3)]
    write_png(png, w, h, rgb)
    subprocess.run([gattanet, "init", "--config", cfg_file, "--out", model_dir], check=True, capture_output=True)
    subprocess.run([gattanet, "inspect", png, "--model", model_dir, "--out", out_dir], check=True, capture_output=True)
    with open(os.path.join(out_dir, "probe", "inspection.json")) as f:
        ours = [torch.tensor(p["logits"]) for p in json.load(f)["passes"]]
    t = load_safetensors(os.path.join(model_dir, "model.safetensors"))
    m = Toy(cfg)
    names = {f"convs.{i}.weight": f"backbone.conv{i + 1}.conv.weight" for i in range(3)}
    for i in range(3):
        names[f"bns.{i}.weight"], names[f"bns.{i}.bias"] = f"backbone.conv{i + 1}.bn.weight", f"backbone.conv{i + 1}.bn.bias"
        for p in range(m.passes):
            names[f"bns.{i}.mean{p}"] = f"backbone.conv{i + 1}.bn.stats{p}.mean"
            names[f"bns.{i}.var{p}"] = f"backbone.conv{i + 1}.bn.stats{p}.var"
    for k in ("fc1", "fc2"):
        names[f"{k}.weight"], names[f"{k}.bias"] = f"head.{k}.weight", f"head.{k}.bias"
    sites = [n for n, on in zip(["conv1", "conv2", "conv3", "fc1", "logits"], m.attended) if on]
    for l, site in enumerate(sites):
        for ours_name, theirs in (("key", "keys"), ("query", "queries"), ("alpha", "alphas")):
            names[f"{theirs}.{l}"] = f"gatta.{site}.{ours_name}"
    state = {k: t[v] for k, v in names.items()}
    m.load_state_dict(state, strict=True)
    m.eval()
    mean, std = torch.tensor(cfg["input"]["mean"]), torch.tensor(cfg["input"]["std"])
    x = (torch.tensor(rgb, dtype=torch.float32).reshape(h, w, 3) / 255 - mean) / std
    with torch.no_grad():
        theirs = m(x.permute(2, 0, 1).unsqueeze(0))
    worst = max(float((a - b[0]).abs().max() / (a.abs().max() + 1e-6)) for a, b in zip(ours, theirs))
    ok = len(ours) == len(theirs) and worst < 1e-3
    print(f"parity {cfg['name']}: {len(ours)} pass(es), logits max relative difference {worst:.1e} {'OK' if ok else 'MISMATCH'}")
    return ok


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--config", action="append", required=True)
    ap.add_argument("--batch", type=int, default=128)
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--rounds", type=int, default=5)
    ap.add_argument("--warmup", type=int, default=2)
    ap.add_argument("--nchw", action="store_true", help="default memory layout instead of channels-last")
    ap.add_argument("--json")
    ap.add_argument("--parity", metavar="GATTANET", help="first check the models against this gattanet binary's inspect")
    a = ap.parse_args()
    if a.parity:
        import tempfile
        with tempfile.TemporaryDirectory() as tmp:
            if not all([parity(a.parity, p, f"{tmp}/{i}") for i, p in enumerate(a.config)]):
                raise SystemExit("the PyTorch models do not match ours")
    torch.set_num_threads(a.threads)
    torch.manual_seed(0)
    benches = [Bench(p, a.batch, not a.nchw) for p in a.config]
    layout = "NCHW" if a.nchw else "channels-last"
    print(f"PyTorch {torch.__version__} CPU, {torch.get_num_threads()} thread(s), {layout}; medians of {a.rounds} rounds after {a.warmup} warm-up steps")
    print(f"{'model':<16} {'batch':>5} {'passes':>6} {'train img/s':>12} {'ms/step':>12} {'forward img/s':>14}")
    times = [([], []) for _ in benches]
    for b in benches:
        for _ in range(a.warmup):
            b.step()
        b.forward()
    for _ in range(max(a.rounds, 1)):
        for b, (tt, tf) in zip(benches, times):
            tt.append(b.step())
            tf.append(b.forward())
    rows = []
    for b, (tt, tf) in zip(benches, times):
        st, sf = statistics.median(tt), statistics.median(tf)
        rows.append({"model": b.name, "batch": a.batch, "threads": torch.get_num_threads(), "passes": b.model.passes,
                     "train_images_per_s": a.batch / st, "forward_images_per_s": a.batch / sf, "train_steps_timed": len(tt),
                     "layout": layout})
        print(f"{b.name:<16} {a.batch:>5} {b.model.passes:>6} {a.batch / st:>12.1f} {st * 1e3:>12.1f} {a.batch / sf:>14.1f}")
    if a.json:
        with open(a.json, "w") as f:
            json.dump(rows, f, indent=2)


if __name__ == "__main__":
    main()
