"""GAttANet's equations on hand-computed cases, and the pass mechanics of the model."""
import math
import re

import pytest
import torch

import gattanet_torch as gt
from gattanet_torch.gatta import GAttANet, modulate

from conftest import small_config


def gatta(sites, **cfg):
    g = GAttANet({"dim": 2, **cfg}, sites)
    with torch.no_grad():
        # conv site "a" (2 channels), dense site "b" (3 units)
        g.layers[0].key.copy_(torch.tensor([[1.0, 0.0], [0.0, 2.0]]))
        g.layers[0].query.copy_(torch.tensor([[1.0, 1.0], [0.0, 1.0]]))
        g.layers[1].key.copy_(torch.tensor([[1.0, 0.0], [0.0, 1.0], [1.0, 1.0]]))
        g.layers[1].query.copy_(torch.tensor([[2.0, 0.0], [0.0, 2.0], [1.0, 0.0]]))
    return g


SITES = [("a", 2, True), ("b", 3, False)]
# conv activation (1, 2, 1, 2): channel 0 = [1, 3], channel 1 = [2, 0]
A = torch.tensor([[[[1.0, 3.0]], [[2.0, 0.0]]]])
# dense activation (1, 3)
B = torch.tensor([[1.0, 2.0, 3.0]])


def test_layer_balanced_global_query_and_agreement_by_hand():
    g = gatta(SITES)
    # conv: mean over positions of Qᵀa: positions (1,2) → (1,3); (3,0) → (3,3); mean (2, 3)
    # dense: q[c] = a[c]·Q[c]: (2,0), (0,4), (3,0); mean over units (5/3, 4/3)
    q = g.global_query([A, B])
    assert torch.allclose(q, torch.tensor([[(2 + 5 / 3) / 2, (3 + 4 / 3) / 2]]))
    # conv agreement at each position: (Kᵀa) · q̄ ; K diag(1, 2): keys (1, 4) and (3, 0)
    qa, qb = q[0].tolist()
    assert torch.allclose(g.agreement(0, A, q), torch.tensor([[[1 * qa + 4 * qb, 3 * qa]]]))
    # dense agreement per unit: a[c]·K[c]·q̄
    assert torch.allclose(g.agreement(1, B, q), torch.tensor([[1 * qa, 2 * qb, 3 * (qa + qb)]]))


def test_flat_pooling_weights_every_position_once():
    g = gatta(SITES, pooling="flat")
    # positions: 2 (conv) + 3 (dense units); query sums (4, 6) and (5, 4)
    assert torch.allclose(g.global_query([A, B]), torch.tensor([[(4 + 5) / 5, (6 + 4) / 5]]))


def test_the_cheap_form_equals_the_explicit_keys_and_queries():
    torch.manual_seed(0)
    g = GAttANet({"dim": 3}, [("x", 5, True), ("y", 7, False)])
    acts = [torch.randn(2, 5, 4, 3), torch.randn(2, 7)]
    q = g.global_query(acts)
    pooled = [g.queries(0, acts[0]).mean((2, 3)), g.queries(1, acts[1]).mean(1)]
    assert torch.allclose(q, (pooled[0] + pooled[1]) / 2, atol=1e-6)
    explicit_conv = (g.keys(0, acts[0]) * q[:, :, None, None]).sum(1)
    explicit_dense = (g.keys(1, acts[1]) * q[:, None, :]).sum(2)
    assert torch.allclose(g.agreement(0, acts[0], q), explicit_conv, atol=1e-5)
    assert torch.allclose(g.agreement(1, acts[1], q), explicit_dense, atol=1e-5)


def test_sqrt_d_scaling_and_bounded_gain():
    plain, scaled = gatta(SITES), gatta(SITES, scale_by_sqrt_d=True)
    q = plain.global_query([A, B])
    assert torch.allclose(scaled.agreement(0, A, q), plain.agreement(0, A, q) / math.sqrt(2))
    g = torch.tensor([[-2.0, 0.5]])
    with torch.no_grad():
        plain.layers[0].alpha.fill_(0.5)
    assert torch.allclose(plain.gain(0, g), 1 + 0.5 * g)
    bounded = gatta(SITES, bounded=True)
    assert torch.allclose(bounded.gain(0, g, torch.tensor([0.5])), 1 + 0.5 * torch.tanh(g))


def test_modulation_is_per_position_for_conv_and_per_unit_for_dense():
    gain = torch.tensor([[[2.0, -1.0]]])
    assert torch.equal(modulate(A, gain), torch.tensor([[[[2.0, -3.0]], [[4.0, -0.0]]]]))
    assert torch.equal(modulate(B, torch.tensor([[1.0, 0.0, 2.0]])), torch.tensor([[1.0, 0.0, 6.0]]))


def random_stats(model, seed=0, same=True):
    g = torch.Generator().manual_seed(seed)
    with torch.no_grad():
        for name, t in model.state_dict().items():
            if name.endswith("stats0.mean") or (not same and name.endswith(".mean")):
                t.copy_(0.3 * torch.randn(t.shape, generator=g))
            if name.endswith("stats0.var") or (not same and name.endswith(".var")):
                t.copy_(0.5 + torch.rand(t.shape, generator=g))
        if same:
            for name, t in model.state_dict().items():
                if ".stats" in name and ".stats0." not in name:
                    t.copy_(model.state_dict()[name.split(".stats")[0] + ".stats0." + name.rsplit(".", 1)[1]])


CONFIGS = [
    small_config({"kind": "toy", "channels": [4, 6, 8]}, {"kind": "mlp", "hidden": 10}),
    small_config({"kind": "resnet", "depth": 8, "width": 4}, {"kind": "avg_linear"}, size=12, passes=3),
    small_config({"kind": "patchconv", "dim": 8, "depth": 2, "stem_stride": 4, "init_scale": 0.5},
                 {"kind": "class_attention", "heads": 2, "mlp_ratio": 2, "init_scale": 0.5}),
    small_config({"kind": "conv_groups", "whitening": 3, "widths": [6, 8], "blocks": 1},
                 {"kind": "class_attention", "heads": 2, "mlp_ratio": 2, "init_scale": 0.5}, size=10),
    small_config({"kind": "imagenet_resnet", "depth": 18, "width": 2}, {"kind": "avg_linear"}, size=32),
    small_config({"kind": "imagenet_resnet", "depth": 50, "width": 1},
                 {"kind": "class_attention", "heads": 1}, size=32, pooling="flat"),
]


@pytest.mark.parametrize("config", CONFIGS, ids=lambda c: c["backbone"]["kind"] + "-" + c["head"]["kind"])
def test_alpha_zero_is_the_plain_backbone_and_gains_follow_the_previous_pass(config):
    torch.manual_seed(1)
    model = gt.build(config).eval()
    if config["backbone"]["kind"] == "conv_groups":
        model.backbone.whiten.set_from_images(torch.randn(8, 3, 10, 10))
    random_stats(model)
    plain_cfg = dict(config, attention=None)
    plain = gt.build(plain_cfg).eval()
    # the plain network: no GAttANet tensors, one statistics set
    plain.load_state_dict({k: v for k, v in model.state_dict().items() if not k.startswith("gatta.") and not re.search(r"\.stats[1-9]", k)})
    x = torch.randn(2, 3, *config["input"]["size"])
    with torch.no_grad():
        reference = plain(x)[0]
        n = len(model.attended_sites)
        for p in model(x, passes=3, alphas=[0.0] * n):
            assert torch.allclose(p, reference, atol=1e-5)
        runs = model.run(x, passes=2, alphas=[0.5] * n)
    assert torch.allclose(runs[0].logits, reference, atol=1e-5), "pass 0 is the plain pass"
    assert not torch.allclose(runs[1].logits, reference, atol=1e-6), "α = 0.5 changed nothing"
    assert runs[0].gains is None
    for g, gain in zip(runs[0].agreement, runs[1].gains):
        assert torch.allclose(gain, 1 + 0.5 * g)
    if config["head"]["kind"] == "class_attention":
        w = runs[1].class_attention
        assert torch.allclose(w.sum(-1), torch.ones(w.shape[:2]), atol=1e-5)


def test_each_pass_uses_its_own_batchnorm_statistics():
    torch.manual_seed(0)
    config = small_config({"kind": "toy", "channels": [4, 6, 8]}, {"kind": "mlp", "hidden": 10})
    model = gt.build(config).eval()
    random_stats(model)
    x = torch.randn(2, 3, 16, 16)
    with torch.no_grad():
        same = model(x, alphas=[0.0] * 5)
        model.backbone.conv2.bn.stats1.var.mul_(2)
        differs = model(x, alphas=[0.0] * 5)
    assert torch.allclose(same[1], same[0]) and torch.allclose(differs[0], same[0])
    assert not torch.allclose(differs[1], same[1], atol=1e-4)
    # training mode: batch statistics, and only the set of the pass is updated
    model.train()
    before = {k: v.clone() for k, v in model.state_dict().items() if ".stats" in k}
    model(x, passes=1)
    after = model.state_dict()
    assert all(torch.equal(v, after[k]) for k, v in before.items() if ".stats1." in k)
    assert not torch.equal(before["backbone.conv1.bn.stats0.mean"], after["backbone.conv1.bn.stats0.mean"])


def test_attended_layers_are_chosen_by_name_and_unknown_names_are_refused():
    config = small_config({"kind": "resnet", "depth": 8, "width": 4}, {"kind": "avg_linear"}, layers=["stage2.block1", "logits"])
    model = gt.build(config)
    assert model.attended_sites == ["stage2.block1", "logits"]
    assert sorted(k for k in model.state_dict() if k.startswith("gatta.")) == [
        "gatta.logits.alpha", "gatta.logits.key", "gatta.logits.query",
        "gatta.stage2.block1.alpha", "gatta.stage2.block1.key", "gatta.stage2.block1.query",
    ]
    config["attention"]["layers"] = ["stage9.block1"]
    with pytest.raises(ValueError, match="stage9.block1.*offers: stage1.block1"):
        gt.build(config)


def test_whitening_filters_whiten_the_patches():
    torch.manual_seed(0)
    mix = torch.randn(3, 3) + 2 * torch.eye(3)
    x = torch.einsum("ij,bjhw->bihw", mix, torch.randn(64, 3, 12, 12))
    w = gt.backbones.PatchWhitening(3, 5)
    w.set_from_images(x)
    out = torch.nn.functional.conv2d(x, w.weight)  # inside patches only
    half = out[:, :5].permute(1, 0, 2, 3).reshape(5, -1)
    second_moment = half @ half.T / half.shape[1]
    assert torch.allclose(second_moment, torch.eye(5), atol=2e-2)
    assert torch.equal(w.weight[5:], -w.weight[:5])


@pytest.mark.parametrize("config", CONFIGS, ids=lambda c: c["backbone"]["kind"] + "-" + c["head"]["kind"])
def test_a_training_step_runs_under_mixed_precision(config):
    """What the trainer does on a GPU (autocast), here with bf16 on the CPU."""
    from gattanet_torch.train import passes_loss

    torch.manual_seed(0)
    model = gt.build(config).train()
    x, y = torch.randn(4, 3, *config["input"]["size"]), torch.arange(4) % len(config["classes"])
    if config["backbone"]["kind"] == "conv_groups":
        # Set from data before training, as the trainer does, from enough images for a
        # well-conditioned patch covariance: with four, its smallest eigenvalues are noise and
        # their 1/sqrt(λ + ε) filters can overflow bf16.
        model.backbone.whiten.set_from_images(torch.randn(64, 3, *config["input"]["size"]))
    with torch.autocast("cpu", dtype=torch.bfloat16):
        logits = model(x)
    loss = passes_loss(logits, y, 0.1, 0.5)
    loss.backward()
    assert torch.isfinite(loss)
    bad = [n for n, p in model.named_parameters() if p.grad is None or not torch.isfinite(p.grad).all()]
    assert not bad, f"no or non-finite gradients: {bad}"
