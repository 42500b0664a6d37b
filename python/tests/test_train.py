"""The trainer: schedule and decay rules as the Rust trainer's, DistributedDataParallel over two
gloo processes, checkpoints and --resume, export and the final accuracy line."""
import json
import os
import re
import socket
import sys
import time

import numpy as np
import pytest
import torch
import torch.distributed as dist
import torch.multiprocessing as mp
from PIL import Image

import gattanet_torch as gt
from gattanet_torch import train

from conftest import small_config


def test_learning_rate_schedules_are_the_rust_trainers():
    lr = lambda kind, step: train.learning_rate(kind, 0.1, 0.2, step, 11)  # warm-up: 2 steps
    assert lr("onecycle", 0) == pytest.approx(0.1 / 25)
    assert lr("onecycle", 1) == pytest.approx(0.1 / 25 + (0.1 - 0.1 / 25) * 0.5)  # half way up the cosine
    assert lr("onecycle", 2) == pytest.approx(0.1) and lr("onecycle", 10) == pytest.approx(0.1 / 1e4)
    assert lr("cosine", 0) == pytest.approx(0.1 / 3) and lr("cosine", 1) == pytest.approx(0.2 / 3)
    assert lr("cosine", 2) == pytest.approx(0.1) and lr("cosine", 10) == pytest.approx(0.0)
    assert lr("cosine", 6) == pytest.approx(0.05)


def test_weight_decay_applies_to_conv_and_linear_weights_keys_and_queries_only():
    decays = [n for n, _ in gt.build(small_config({"kind": "patchconv", "dim": 8, "depth": 1, "stem_stride": 4},
                                                  {"kind": "class_attention", "heads": 2})).named_parameters() if train.decays(n)]
    assert "backbone.blocks.0.conv1.weight" in decays and "head.q.weight" in decays
    assert "gatta.layers.0.key" in decays and "gatta.layers.0.query" in decays
    assert not any(n.endswith((".bias", "alpha", "gamma", "cls_token")) or ".norm" in n for n in decays)
    assert not train.decays("backbone.conv1.bn.weight")


def test_the_loss_adds_earlier_passes_with_their_weight():
    logits = [torch.tensor([[2.0, 0.0]]), torch.tensor([[0.0, 1.0]])]
    y = torch.tensor([0])
    ce = lambda l: torch.nn.functional.cross_entropy(l, y, label_smoothing=0.1)
    assert train.passes_loss(logits, y, 0.1, 0.0) == pytest.approx(float(ce(logits[1])))
    assert train.passes_loss(logits, y, 0.1, 0.3) == pytest.approx(float(ce(logits[1]) + 0.3 * ce(logits[0])))


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


# No BatchNorm: two processes with 4 images each must take the single-process step on all 8.
DDP_CONFIG = small_config({"kind": "patchconv", "dim": 8, "depth": 2, "stem_stride": 4, "init_scale": 0.5},
                          {"kind": "class_attention", "heads": 2, "init_scale": 0.5}, alpha_init=0.3)


def sgd_step(model, x, y, module=None):
    opt = torch.optim.SGD(model.parameters(), lr=0.5, momentum=0.9, nesterov=True)
    loss = train.passes_loss((module or model)(x), y, 0.1, 0.5)
    loss.backward()
    opt.step()
    return torch.cat([p.detach().flatten() for p in model.parameters()])


def spawn(fn, args, timeout=300):
    """Two processes running fn(rank, 2, *args); a hang fails the test instead of blocking it."""
    ctx = mp.start_processes(fn, args=(2, *args), nprocs=2, join=False, start_method="spawn")
    deadline = time.time() + timeout
    while not ctx.join(timeout=max(deadline - time.time(), 0.1)):
        if time.time() > deadline:
            for p in ctx.processes:
                p.kill()
            pytest.fail(f"{fn.__name__}: the two processes did not finish within {timeout} s")


def ddp_worker(rank, world, port, out):
    torch.set_num_threads(1)
    dist.init_process_group("gloo", init_method=f"tcp://127.0.0.1:{port}", rank=rank, world_size=world)
    torch.manual_seed(0)
    model = gt.build(DDP_CONFIG)
    x, y = torch.randn(8, 3, 16, 16, generator=torch.Generator().manual_seed(1)), torch.arange(8) % 4
    ddp = torch.nn.parallel.DistributedDataParallel(model)
    params = sgd_step(model, x[rank * 4:(rank + 1) * 4], y[rank * 4:(rank + 1) * 4], ddp)
    torch.save(params, os.path.join(out, f"rank{rank}.pt"))
    dist.destroy_process_group()


def test_two_gloo_processes_take_the_single_process_step(tmp_path):
    spawn(ddp_worker, (free_port(), str(tmp_path)))
    torch.manual_seed(0)
    model = gt.build(DDP_CONFIG)
    before = torch.cat([p.detach().flatten() for p in model.parameters()]).clone()
    x, y = torch.randn(8, 3, 16, 16, generator=torch.Generator().manual_seed(1)), torch.arange(8) % 4
    single = sgd_step(model, x, y)
    ranks = [torch.load(tmp_path / f"rank{r}.pt") for r in range(2)]
    assert torch.equal(ranks[0], ranks[1])
    assert not torch.allclose(single, before)
    assert torch.allclose(ranks[0], single, atol=1e-5)


def image_folder(root, size=16, classes=("cat", "dog", "owl"), per_class=(12, 4)):
    rng = np.random.default_rng(0)
    for split, n in zip(("train", "test"), per_class):
        for c, name in enumerate(classes):
            os.makedirs(root / split / name)
            for i in range(n):
                img = rng.normal(80 + 60 * c, 30, (size + 4, size, 3)).clip(0, 255).astype(np.uint8)  # not square: crop
                Image.fromarray(img).save(root / split / name / f"{i}.{'png' if i % 2 else 'jpg'}")


def trainer_worker(rank, world, port, argv, log):
    torch.set_num_threads(1)
    os.environ.update(MASTER_ADDR="127.0.0.1", MASTER_PORT=str(port), WORLD_SIZE=str(world), RANK=str(rank), LOCAL_RANK=str(rank))
    with open(f"{log}.rank{rank}", "a") as f:
        sys.stdout = f
        assert train.main(argv) == 0
        sys.stdout.flush()


def test_torchrun_style_training_checkpoints_resumes_and_exports(tmp_path):
    image_folder(tmp_path / "data")
    config = small_config({"kind": "toy", "channels": [4, 6, 8]}, {"kind": "mlp", "hidden": 8}, classes=3, passes=2)
    config["classes"] = ["cat", "dog", "owl"]
    (tmp_path / "config.json").write_text(json.dumps(config))
    out, log = tmp_path / "model", str(tmp_path / "log")
    argv = ["--config", str(tmp_path / "config.json"), "--data", str(tmp_path / "data"), "--out", str(out),
            "--epochs", "2", "--batch", "8", "--workers", "0", "--log-every", "1"]
    spawn(trainer_worker, (free_port(), argv + ["--stop-after", "1"], log))
    ckpt = torch.load(out / "checkpoint" / "checkpoint.pt")
    assert ckpt["epoch"] == 1 and not (out / "model.safetensors").exists()
    spawn(trainer_worker, (free_port(), argv + ["--resume"], log))
    text = open(f"{log}.rank0").read()
    assert "resuming after epoch 1" in text and "2 process(es) on cpu" in text
    assert "epoch 1 step 4/4" in text and "epoch 2 step 4/4" in text  # 18 images and 4 steps per process
    m = re.search(r"^test accuracy (\d+\.\d\d)% \((\d+)/12 images; pass 1 .*; as exported\)$", text, re.M)
    assert m, text
    metrics = json.load(open(out / "metrics.json"))
    assert [e["epoch"] for e in metrics["epochs"]] == [1, 2] and metrics["world_size"] == 2
    assert all(np.isfinite(e["loss"]) for e in metrics["epochs"])
    model = gt.load(out)  # the exported directory opens, its config is the run's
    assert model.config == config and metrics["storage"] == "f16"
    assert open(f"{log}.rank1").read() == ""  # only the first process prints
