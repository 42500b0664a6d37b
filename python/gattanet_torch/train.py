"""Train a config.json model on an image-folder data set and write the model directory the page
and `gattanet` open. One CPU, one GPU, or many processes with torchrun:

    python -m gattanet_torch.train --config configs/toy-gattanet.json --data DATA --out OUT
    torchrun --nproc_per_node 8 -m gattanet_torch.train --config ... --data ... --out ...

Under torchrun every process trains on its DistributedSampler shard (DistributedDataParallel;
gloo on CPU, nccl on GPU). `--batch` is the global batch, split over the processes. GPUs use
mixed precision (bf16 where supported, else fp16 with loss scaling). A checkpoint is written
after every epoch; `--resume` continues from it. At the end the model is exported to --out and
evaluated on the test split *as stored*, printed as `test accuracy NN.NN% (k/n images)`.
"""
from __future__ import annotations

import argparse
import json
import math
import os
import sys
import time
from typing import List, Optional

import torch
import torch.distributed as dist
import torch.nn.functional as F
from torch.nn.parallel import DistributedDataParallel
from torch.utils.data import DataLoader, DistributedSampler, Subset

from .data import ImageFolder, class_folders, load_image, normalize
from .io import WEIGHTS_FILE, export, load
from .model import GAttANetModel, build

MODEL_LIMIT_BYTES = 5_000_000  # storage "auto": f16 when the file stays within this, else int8
WHITENING_IMAGES = 5000


def parse_args(argv: Optional[List[str]] = None) -> argparse.Namespace:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0], formatter_class=argparse.ArgumentDefaultsHelpFormatter)
    p.add_argument("--config", help="model config.json (optional with --resume)")
    p.add_argument("--data", required=True, help="image folders: DATA/train/CLASS/*.jpg and DATA/test (or val)/CLASS/*.jpg")
    p.add_argument("--out", required=True, help="output model directory (config.json, model.safetensors, metrics.json, checkpoint/)")
    p.add_argument("--resume", action="store_true", help="continue from OUT/checkpoint/ where it stopped")
    p.add_argument("--epochs", type=int, default=30)
    p.add_argument("--batch", type=int, default=128, help="global batch size (split over the processes)")
    p.add_argument("--lr", type=float, default=0.05, help="peak learning rate")
    p.add_argument("--optimizer", choices=["sgd", "adamw"], default="sgd", help="sgd: Nesterov momentum 0.9; adamw: β 0.9, 0.999")
    p.add_argument("--schedule", choices=["onecycle", "cosine"], default="onecycle",
                   help="onecycle: cosine warm-up from peak/25, cosine down to peak/1e4; cosine: linear warm-up, cosine down to 0")
    p.add_argument("--warmup", type=float, default=0.15, help="fraction of the steps spent warming up")
    p.add_argument("--weight-decay", type=float, default=5e-4, help="on conv/linear weights, keys and queries only")
    p.add_argument("--label-smoothing", type=float, default=0.1)
    p.add_argument("--clip", type=float, default=5.0, help="maximum gradient norm, 0 for none")
    p.add_argument("--crop-pad", type=int, default=4, help="random-crop padding in pixels (0: no crop)")
    p.add_argument("--no-augment", action="store_true", help="no random crop or flip")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--workers", type=int, default=2, help="data-loading processes per training process")
    p.add_argument("--cache", action="store_true", help="decode every image once into memory (small data sets)")
    p.add_argument("--limit", type=int, help="use only N training images (smoke tests)")
    p.add_argument("--eval-limit", type=int, help="evaluate on only N test images")
    p.add_argument("--dtype", choices=["auto", "f32", "f16", "int8"], default="auto",
                   help="storage of model.safetensors; auto: f16 when it stays within 5 MB, else int8")
    p.add_argument("--stop-after", type=int, help="stop after N epochs of this invocation (--resume goes on)")
    p.add_argument("--log-every", type=int, default=50, help="steps between progress lines")
    return p.parse_args(argv)


# ---- distributed set-up -------------------------------------------------------------------

class Dist:
    """This process's place in the run (a single process without torchrun)."""

    def __init__(self) -> None:
        self.world = int(os.environ.get("WORLD_SIZE", "1"))
        self.rank = int(os.environ.get("RANK", "0"))
        local = int(os.environ.get("LOCAL_RANK", "0"))
        if torch.cuda.is_available():
            torch.cuda.set_device(local)
            self.device = torch.device("cuda", local)
        else:
            self.device = torch.device("cpu")
        if self.world > 1:
            dist.init_process_group("nccl" if self.device.type == "cuda" else "gloo")

    @property
    def main(self) -> bool:
        return self.rank == 0

    def sum(self, *values: float) -> List[float]:
        t = torch.tensor(values, dtype=torch.float64, device=self.device)
        if self.world > 1:
            dist.all_reduce(t)
        return t.tolist()

    def sync_buffers(self, model: torch.nn.Module) -> None:
        """Every process takes process 0's BatchNorm statistics: DDP copies them at the start of
        each forward, so after the last step each process holds its own batch's update."""
        if self.world > 1:
            for b in model.buffers():
                dist.broadcast(b, 0)

    def barrier(self) -> None:
        if self.world > 1:
            dist.barrier()

    def close(self) -> None:
        if self.world > 1:
            # Together: a gloo process whose peer has already gone can spin in its socket thread.
            dist.barrier()
            dist.destroy_process_group()


def log(d: Dist, msg: str) -> None:
    if d.main:
        print(msg, flush=True)


# ---- schedule, optimiser, loss -----------------------------------------------------------

def learning_rate(kind: str, peak: float, warmup: float, step: int, total: int) -> float:
    """The Rust trainer's schedule (src/train/optim.rs `learning_rate`), step by step."""
    total = max(total, 1)
    last = total - 1
    warm = min(int(math.floor(min(max(warmup, 0.0), 1.0) * total + 0.5)), last)
    cos = lambda a, b, t: b + (a - b) * 0.5 * (1 + math.cos(math.pi * min(max(t, 0.0), 1.0)))
    start, end = (peak / 25.0, peak / 1e4) if kind == "onecycle" else (0.0, 0.0)
    if step < warm:
        return cos(start, peak, step / warm) if kind == "onecycle" else peak * (step + 1) / (warm + 1)
    if last == warm:
        return peak
    return cos(peak, end, (step - warm) / (last - warm))


def decays(name: str) -> bool:
    """Weight decay on conv/linear weights and GAttANet keys and queries; not on norms, biases,
    α, LayerScale or the class token (src/train/optim.rs `decays`)."""
    is_norm = any(p == "bn" or p.startswith("norm") for p in name.split("."))
    return not is_norm and name.endswith((".weight", ".key", ".query"))


def make_optimizer(model: GAttANetModel, args) -> torch.optim.Optimizer:
    params = [(n, p) for n, p in model.named_parameters() if p.requires_grad]
    groups = [
        {"params": [p for n, p in params if decays(n)], "weight_decay": args.weight_decay},
        {"params": [p for n, p in params if not decays(n)], "weight_decay": 0.0},
    ]
    if args.optimizer == "sgd":
        return torch.optim.SGD(groups, lr=args.lr, momentum=0.9, nesterov=True)
    return torch.optim.AdamW(groups, lr=args.lr, betas=(0.9, 0.999), eps=1e-8)


def passes_loss(logits: List[torch.Tensor], labels: torch.Tensor, smoothing: float, aux_weight: float) -> torch.Tensor:
    """Cross-entropy on the final pass + aux_weight × cross-entropy on each earlier pass."""
    loss = F.cross_entropy(logits[-1].float(), labels, label_smoothing=smoothing)
    if aux_weight > 0:
        for l in logits[:-1]:
            loss = loss + aux_weight * F.cross_entropy(l.float(), labels, label_smoothing=smoothing)
    return loss


# ---- evaluation ------------------------------------------------------------------------------

@torch.no_grad()
def evaluate(model: GAttANetModel, test: ImageFolder, input_cfg: dict, d: Dist, batch: int, workers: int) -> List[float]:
    """Accuracy of every pass over the whole test split; each process takes every world-th image."""
    model.eval()
    shard = Subset(test, range(d.rank, len(test), d.world))
    loader = DataLoader(shard, batch_size=batch, num_workers=workers)
    correct, count = None, 0
    for x, y in loader:
        x, y = normalize(x.to(d.device), input_cfg["mean"], input_cfg["std"]), y.to(d.device)
        logits = model(x)
        hits = [float((l.argmax(1) == y).sum()) for l in logits]
        correct = hits if correct is None else [a + b for a, b in zip(correct, hits)]
        count += len(y)
    totals = d.sum(count, *(correct or []))
    return [c / totals[0] for c in totals[1:]]


def set_whitening(model: GAttANetModel, train: ImageFolder, input_cfg: dict) -> None:
    """conv_groups: the frozen whitening conv from the first 5000 training images, unaugmented
    (the same in every process)."""
    n = min(WHITENING_IMAGES, len(train))
    images = torch.stack([train.images[i] if train.images is not None else load_image(train.samples[i][0], train.size) for i in range(n)])
    model.backbone.whiten.set_from_images(normalize(images, input_cfg["mean"], input_cfg["std"]))


# ---- the run ---------------------------------------------------------------------------------

def main(argv: Optional[List[str]] = None) -> int:
    args = parse_args(argv)
    d = Dist()
    try:
        return run(args, d)
    finally:
        # After run()'s DistributedDataParallel is gone: destroying the process group under a
        # live reducer can leave a gloo process spinning at exit.
        d.close()


def run(args: argparse.Namespace, d: Dist) -> int:
    ckpt_dir = os.path.join(args.out, "checkpoint")
    ckpt_path = os.path.join(ckpt_dir, "checkpoint.pt")
    state = None
    if args.resume:
        if not os.path.exists(ckpt_path):
            log(d, f"error: --resume: no checkpoint in {ckpt_dir}")
            return 2
        state = torch.load(ckpt_path, map_location="cpu")
        config = state["config"]
        if args.config:
            with open(args.config) as f:
                if json.load(f) != config:
                    log(d, f"error: --config differs from the checkpoint's config ({ckpt_path})")
                    return 2
    elif args.config:
        with open(args.config) as f:
            config = json.load(f)
    else:
        log(d, "error: --config is required (except with --resume)")
        return 2
    if config["input"].get("channels", 3) != 3:
        log(d, "error: this trainer reads RGB image folders; the config has input.channels != 3")
        return 2

    aug = not args.no_augment
    size = config["input"]["size"]
    found = class_folders(args.data)
    if sorted(found) != sorted(config["classes"]):
        log(d, f"error: the data's classes ({', '.join(found)}) are not the config's ({', '.join(config['classes'])})")
        return 2
    t0 = time.time()
    train = ImageFolder(args.data, "train", config["classes"], size, args.crop_pad if aug else 0, aug, args.cache, args.limit)
    test = ImageFolder(args.data, "test", config["classes"], size, cache=args.cache, limit=args.eval_limit)
    log(d, f"data: {len(train)} training and {len(test)} test images, {len(config['classes'])} classes ({time.time() - t0:.0f}s); "
           f"{d.world} process(es) on {d.device.type}")

    torch.manual_seed(args.seed)  # the same initial weights in every process
    model = build(config).to(d.device)
    torch.manual_seed(args.seed + 1000 * (d.rank + 1))  # then different augmentation in each
    if state is not None:
        model.load_state_dict(state["model"])
    elif config["backbone"]["kind"] == "conv_groups":
        set_whitening(model, train, config["input"])
    att = config.get("attention") or {}
    aux = float(att.get("aux_loss_weight", 0.0))
    # With GAttANet and one pass the keys and queries take no part in the loss.
    ddp = model
    if d.world > 1:
        ddp = DistributedDataParallel(model, device_ids=[d.device.index] if d.device.type == "cuda" else None,
                                      find_unused_parameters=bool(att) and model.passes < 2)
    optimizer = make_optimizer(model, args)
    amp_dtype = None
    if d.device.type == "cuda":
        amp_dtype = torch.bfloat16 if torch.cuda.is_bf16_supported() else torch.float16
    scaler = torch.cuda.amp.GradScaler(enabled=amp_dtype == torch.float16)

    sampler = DistributedSampler(train, d.world, d.rank, shuffle=True, seed=args.seed, drop_last=True)
    per_process = max(args.batch // d.world, 1)
    loader = DataLoader(train, batch_size=per_process, sampler=sampler, num_workers=args.workers, drop_last=True,
                        pin_memory=d.device.type == "cuda", persistent_workers=args.workers > 0)
    steps_per_epoch = len(loader)
    total = args.epochs * steps_per_epoch
    start_epoch, metrics = 0, []
    if state is not None:
        optimizer.load_state_dict(state["optimizer"])
        scaler.load_state_dict(state["scaler"])
        start_epoch, metrics = state["epoch"], state["metrics"]
        if state["epochs"] != args.epochs:
            log(d, f"error: --epochs {args.epochs} differs from the checkpoint's {state['epochs']}")
            return 2
        log(d, f"resuming after epoch {start_epoch}")
    log(d, f"{sum(p.numel() for p in model.parameters()) / 1e6:.2f} M parameters, {model.passes} pass(es), "
           f"{steps_per_epoch} steps per epoch of {per_process} × {d.world} images")

    end_epoch = args.epochs if args.stop_after is None else min(args.epochs, start_epoch + args.stop_after)
    for epoch in range(start_epoch, end_epoch):
        sampler.set_epoch(epoch)
        ddp.train()
        t0, seen, loss_sum, hits = time.time(), 0, 0.0, 0.0
        for i, (x, y) in enumerate(loader):
            step = epoch * steps_per_epoch + i
            lr = learning_rate(args.schedule, args.lr, args.warmup, step, total)
            for g in optimizer.param_groups:
                g["lr"] = lr
            x = normalize(x.to(d.device, non_blocking=True), config["input"]["mean"], config["input"]["std"])
            y = y.to(d.device, non_blocking=True)
            with torch.autocast(d.device.type, dtype=amp_dtype, enabled=amp_dtype is not None):
                logits = ddp(x)
            loss = passes_loss(logits, y, args.label_smoothing, aux)
            optimizer.zero_grad(set_to_none=True)
            scaler.scale(loss).backward()
            if args.clip > 0:
                scaler.unscale_(optimizer)
                torch.nn.utils.clip_grad_norm_(model.parameters(), args.clip)
            scaler.step(optimizer)
            scaler.update()
            seen += len(y)
            loss_sum += float(loss) * len(y)
            hits += float((logits[-1].argmax(1) == y).sum())
            if args.log_every and (i + 1) % args.log_every == 0:
                log(d, f"  epoch {epoch + 1} step {i + 1}/{steps_per_epoch}  loss {loss_sum / seen:.4f}  lr {lr:.4g}  "
                       f"{seen * d.world / (time.time() - t0):.0f} images/s")
        seen_all, loss_all, hits_all = d.sum(seen, loss_sum, hits)
        d.sync_buffers(model)
        accs = evaluate(model, test, config["input"], d, per_process * 2, args.workers)
        record = {"epoch": epoch + 1, "loss": loss_all / seen_all, "train_accuracy": hits_all / seen_all,
                  "test_accuracy": accs[-1], "test_accuracy_per_pass": accs, "seconds": time.time() - t0}
        metrics.append(record)
        passes = ", ".join(f"pass {t + 1} {a:.4f}" for t, a in enumerate(accs))
        log(d, f"epoch {epoch + 1}/{args.epochs}  loss {record['loss']:.4f}  train {record['train_accuracy']:.4f}  "
               f"test {accs[-1]:.4f} ({passes})  {record['seconds']:.0f}s")
        if d.main:
            os.makedirs(ckpt_dir, exist_ok=True)
            torch.save({"model": model.state_dict(), "optimizer": optimizer.state_dict(), "scaler": scaler.state_dict(),
                        "epoch": epoch + 1, "epochs": args.epochs, "config": config, "metrics": metrics, "args": vars(args)},
                       ckpt_path + ".tmp")
            os.replace(ckpt_path + ".tmp", ckpt_path)  # a crash mid-write keeps the previous checkpoint
        d.barrier()

    if end_epoch < args.epochs:
        log(d, f"stopped after epoch {end_epoch} of {args.epochs}; continue with --resume")
        return 0
    if d.main:
        dtype = args.dtype
        if dtype == "auto":
            dtype = "f16" if 2 * sum(t.numel() for t in model.state_dict().values()) <= MODEL_LIMIT_BYTES else "int8"
        export(model, config, args.out, dtype)
        with open(os.path.join(args.out, "metrics.json"), "w") as f:
            json.dump({"epochs": metrics, "args": vars(args), "world_size": d.world, "storage": dtype}, f, indent=2)
        log(d, f"wrote {args.out} ({dtype}, {os.path.getsize(os.path.join(args.out, WEIGHTS_FILE)) / 1e6:.2f} MB)")
    d.barrier()
    # The accuracy of the model as stored (rounded to f16 or int8), which `gattanet eval` sees.
    stored = load(args.out).to(d.device)
    accs = evaluate(stored, test, config["input"], d, per_process * 2, args.workers)
    n = len(test)
    passes = ", ".join(f"pass {t + 1} {100 * a:.2f}%" for t, a in enumerate(accs))
    log(d, f"test accuracy {100 * accs[-1]:.2f}% ({round(accs[-1] * n)}/{n} images; {passes}; as exported)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
