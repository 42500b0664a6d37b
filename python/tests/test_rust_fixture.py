"""Rust → PyTorch parity: models trained and inspected by the `gattanet` CLI
(tests/fixtures/rust/, see its README) give the same numbers here."""
import json
import os

import pytest
import torch

import gattanet_torch as gt
from gattanet_torch.data import load_image, normalize

from test_io import RUST, RUST_MODELS

REL_TOL = 1e-4


def rel_error(got, want):
    got, want = torch.tensor(got, dtype=torch.float64).flatten(), torch.tensor(want, dtype=torch.float64).flatten()
    assert got.shape == want.shape
    return float((got - want).abs().max() / max(float(want.abs().max()), 1.0)) if want.numel() else 0.0


def compare(ours, rust):
    """The worst relative error over every number of the two inspections, and where."""
    assert len(ours["passes"]) == len(rust["passes"])
    worst = (0.0, "")
    for p, (o, r) in enumerate(zip(ours["passes"], rust["passes"])):
        pairs = [("logits", o["logits"], r["logits"]), ("global query", o["global_query"], r["global_query"])]
        assert [l["name"] for l in o["layers"]] == [l["name"] for l in r["layers"]]
        for lo, lr in zip(o["layers"], r["layers"]):
            assert lo["shape"] == lr["shape"] and lo["kind"] == lr["kind"], lo["name"]
            pairs += [(f"{lo['name']} agreement", lo["agreement"], lr["agreement"]), (f"{lo['name']} gain", lo["gain"], lr["gain"])]
        assert (o["aggregation"] is None) == (r["aggregation"] is None)
        if r["aggregation"] is not None:
            assert o["aggregation"]["heads"] == r["aggregation"]["heads"]
            pairs += [("class attention", o["aggregation"]["weights"], r["aggregation"]["weights"]),
                      ("class-attention self weight", o["aggregation"]["self_weight"], r["aggregation"]["self_weight"])]
        for what, a, b in pairs:
            e = rel_error(a, b)
            if e > worst[0]:
                worst = (e, f"pass {p} {what}")
    return worst


def run(path, model=None):
    model = model or gt.load(path)
    cfg = model.config
    # The PNG is at the model's size: no resizing, the same bytes on both sides.
    x = normalize(load_image(os.path.join(path, "input.png"), cfg["input"]["size"])[None], cfg["input"]["mean"], cfg["input"]["std"])
    return model, gt.inspect(model, x)


@pytest.mark.parametrize("name", RUST_MODELS)
def test_a_rust_trained_model_gives_the_rusts_logits_maps_and_class_attention(name):
    path = os.path.join(RUST, name)
    rust = json.load(open(os.path.join(path, "inspection.json")))
    model, ours = run(path)
    assert [a["used"] for a in rust["alphas"]] == pytest.approx(model.learned_alphas(), rel=1e-6)
    assert all(abs(a) > 1e-3 for a in model.learned_alphas()), "the fixture should modulate"
    err, where = compare(ours, rust)
    print(f"{name}: largest relative error {err:.2e} ({where})")
    assert err <= REL_TOL, f"{name}: {where} differs from the Rust engine by {err:.2e}"


def test_a_wrong_batchnorm_eps_would_be_seen():
    path = os.path.join(RUST, "toy-mlp")
    rust = json.load(open(os.path.join(path, "inspection.json")))
    model = gt.load(path)
    with torch.no_grad():
        for name, t in model.state_dict().items():
            if name.endswith(".var"):
                t.add_(1e-3)  # the same as an eps larger by 1e-3
    err, _ = compare(run(path, model)[1], rust)
    assert err > 10 * REL_TOL
