"""from_torchvision: torchvision's ResNets under our names give torchvision's logits (α = 0)."""
import warnings

import pytest
import torch
import torchvision

import gattanet_torch as gt
from gattanet_torch import rename_torchvision


def imagenet_config(depth, classes=1000, head="avg_linear", size=64):
    return {
        "name": f"resnet{depth}",
        "classes": [f"c{i}" for i in range(classes)],
        "input": {"size": [size, size], "channels": 3, "mean": [0.485, 0.456, 0.406], "std": [0.229, 0.224, 0.225]},
        "backbone": {"kind": "imagenet_resnet", "depth": depth, "width": 64},
        "head": {"kind": head} if head == "avg_linear" else {"kind": head, "heads": 4},
        "attention": {"dim": 8, "passes": 2},
    }


def torchvision_resnet(depth):
    torch.manual_seed(depth)
    net = getattr(torchvision.models, f"resnet{depth}")()
    with torch.no_grad():  # BatchNorm statistics and affine far from their defaults
        for m in net.modules():
            if isinstance(m, torch.nn.BatchNorm2d):
                m.running_mean.normal_(0, 0.2)
                m.running_var.uniform_(0.5, 1.5)
                m.weight.uniform_(0.5, 1.5)
                m.bias.normal_(0, 0.1)
    return net.eval()


@pytest.mark.parametrize("depth", [18, 50])
def test_alpha_zero_gives_torchvisions_logits_in_every_pass(depth):
    net = torchvision_resnet(depth)
    config = imagenet_config(depth)
    model = gt.from_torchvision(net.state_dict(), config).eval()
    x = torch.randn(2, 3, 64, 64)
    with torch.no_grad():
        want = net(x)
        passes = model(x, alphas=[0.0] * len(model.attended_sites))
        modulated = model(x, alphas=[0.2] * len(model.attended_sites))
    assert len(passes) == 2
    for got in passes:
        assert torch.allclose(got, want, rtol=1e-4, atol=1e-4 * float(want.abs().max()))
    assert not torch.allclose(modulated[1], want, atol=1e-3), "with α ≠ 0 pass 2 is modulated"


def test_the_rename_is_the_documented_one():
    state = torchvision_resnet(50).state_dict()
    ours, fc = rename_torchvision(state, stat_sets=2)
    assert torch.equal(ours["backbone.stem.conv.weight"], state["conv1.weight"])
    for s in (0, 1):
        assert torch.equal(ours[f"backbone.stem.bn.stats{s}.var"], state["bn1.running_var"])
        assert torch.equal(ours[f"backbone.stage3.block6.conv3.bn.stats{s}.mean"], state["layer3.5.bn3.running_mean"])
    assert torch.equal(ours["backbone.stage2.block1.conv2.conv.weight"], state["layer2.0.conv2.weight"])
    assert torch.equal(ours["backbone.stage4.block1.shortcut.conv.weight"], state["layer4.0.downsample.0.weight"])
    assert torch.equal(ours["backbone.stage4.block1.shortcut.bn.bias"], state["layer4.0.downsample.1.bias"])
    assert set(fc) == {"head.fc.weight", "head.fc.bias"}
    assert not any("num_batches_tracked" in k or "running" in k for k in ours)
    # every backbone tensor of the model is covered, nothing else
    model_names = {k for k in gt.build(imagenet_config(50)).state_dict() if k.startswith("backbone.")}
    assert set(ours) == model_names


def test_another_class_count_keeps_the_head_and_says_so():
    net = torchvision_resnet(18)
    config = imagenet_config(18, classes=10)
    torch.manual_seed(0)
    fresh = gt.build(config).state_dict()["head.fc.weight"].clone()
    torch.manual_seed(0)
    with pytest.warns(UserWarning, match="classifier \\(1000 classes\\) was not copied.*10 classes"):
        model = gt.from_torchvision(net.state_dict(), config)
    assert torch.equal(model.state_dict()["head.fc.weight"], fresh)
    assert torch.equal(model.state_dict()["backbone.stage1.block2.conv1.conv.weight"], net.state_dict()["layer1.1.conv1.weight"])
    # a class-attention head is never copied, whatever its class count
    with pytest.warns(UserWarning, match="class_attention head"):
        gt.from_torchvision(net.state_dict(), imagenet_config(18, head="class_attention"))


def test_a_wrong_depth_is_refused_by_name():
    with pytest.raises(KeyError, match="backbone.stage1.block3"):
        gt.from_torchvision(torchvision_resnet(18).state_dict(), imagenet_config(34))
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        with pytest.raises(KeyError, match="stage1.block3.*torchvision has it"):
            gt.from_torchvision(torchvision.models.resnet34().state_dict(), imagenet_config(18))
