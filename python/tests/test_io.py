"""model.safetensors written and read as the Rust side writes and reads it."""
import json
import os

import pytest
import torch
from safetensors.torch import load_file, save_file

import gattanet_torch as gt
from gattanet_torch.io import INT8_MIN_ELEMS, QSCALE, encode

from conftest import small_config

CONFIG = small_config({"kind": "toy", "channels": [4, 6, 8]}, {"kind": "mlp", "hidden": 128}, size=12)  # fc1: 32 × 128


def randomized(config=CONFIG, seed=0):
    torch.manual_seed(seed)
    model = gt.build(config)
    with torch.no_grad():
        for name, t in model.state_dict().items():
            t.copy_(torch.rand(t.shape) + 0.5 if name.endswith(".var") else torch.randn(t.shape))
    return model.eval()


@pytest.mark.parametrize("dtype", ["f32", "f16", "int8"])
def test_export_load_round_trip(tmp_path, dtype):
    model = randomized()
    gt.export(model, CONFIG, tmp_path, dtype)
    assert json.load(open(tmp_path / "config.json")) == CONFIG
    stored = load_file(str(tmp_path / "model.safetensors"))
    loaded = gt.load(tmp_path / "config.json", tmp_path / "model.safetensors").state_dict()
    for name, t in model.state_dict().items():
        big = t.dim() >= 2 and t.numel() >= INT8_MIN_ELEMS
        if dtype == "f32":
            assert stored[name].dtype == torch.float32 and torch.equal(loaded[name], t)
        elif dtype == "f16" or not big:
            assert stored[name].dtype == torch.float16 and torch.equal(loaded[name], t.half().float())
            assert name + QSCALE not in stored
        else:
            assert stored[name].dtype == torch.int8 and stored[name + QSCALE].shape == (t.shape[0],)
            scale = t.abs().amax(1) / 127
            assert torch.all((loaded[name] - t).abs() <= scale[:, None] / 2 + 1e-6)
    assert (dtype == "int8") == any(k.endswith(QSCALE) for k in stored)
    assert dtype != "int8" or "head.fc1.weight.qscale" in stored


def test_a_loaded_model_computes_what_it_was_exported_from(tmp_path):
    model = randomized()
    gt.export(model, CONFIG, tmp_path)
    x = torch.randn(3, 3, 12, 12)
    with torch.no_grad():
        assert all(torch.equal(a, b) for a, b in zip(model(x), gt.load(tmp_path)(x)))


def test_load_names_the_tensor_that_is_missing_extra_or_misshapen(tmp_path):
    gt.export(randomized(), CONFIG, tmp_path)
    path = str(tmp_path / "model.safetensors")
    tensors = load_file(path)
    broken = dict(tensors)
    del broken["backbone.conv2.bn.stats1.var"]
    save_file(broken, path)
    with pytest.raises(ValueError, match="backbone.conv2.bn.stats1.var: missing"):
        gt.load(tmp_path)
    save_file({**tensors, "backbone.conv2.bn.running_var": tensors["backbone.conv2.bn.stats1.var"].clone()}, path)
    with pytest.raises(ValueError, match="backbone.conv2.bn.running_var: not used"):
        gt.load(tmp_path)
    save_file({**tensors, "gatta.conv1.key": torch.zeros(4, 5)}, path)
    with pytest.raises(ValueError, match=r"gatta.conv1.key: expected shape \[4, 4\], found \[4, 5\]"):
        gt.load(tmp_path)


def test_f16_refuses_values_beyond_its_range():
    with pytest.raises(ValueError, match="head.fc.weight: holds 70000"):
        encode({"head.fc.weight": torch.tensor([[70000.0]])}, "f16")


RUST = os.path.join(os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__)))), "tests", "fixtures", "rust")


RUST_MODELS = sorted(d for d in os.listdir(RUST) if os.path.isdir(os.path.join(RUST, d)))


def test_the_rust_fixtures_are_there():
    assert RUST_MODELS == ["imagenet-resnet18-class-attention", "toy-mlp"]


@pytest.mark.parametrize("model", RUST_MODELS)
def test_names_and_shapes_are_those_the_rust_side_writes(model):
    path = os.path.join(RUST, model)
    rust = load_file(os.path.join(path, "model.safetensors"))
    ours = gt.build(json.load(open(os.path.join(path, "config.json")))).state_dict()
    assert {k: list(v.shape) for k, v in ours.items()} == {k: list(v.shape) for k, v in rust.items()}


def test_f16_and_int8_storage_equal_what_gattanet_convert_writes():
    path = os.path.join(RUST, "toy-mlp")
    f32 = load_file(os.path.join(path, "model.safetensors"))
    for dtype in ("f16", "int8"):
        rust = load_file(os.path.join(path, f"model-{dtype}.safetensors"))
        ours = encode(f32, dtype)
        assert sorted(ours) == sorted(rust), dtype
        assert any(t.dtype == torch.int8 for t in rust.values()) == (dtype == "int8")
        for name, t in rust.items():
            assert ours[name].dtype == t.dtype and torch.equal(ours[name], t), f"{dtype}: {name}"
