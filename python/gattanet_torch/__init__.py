"""GAttANet (VanRullen & Alamia, 2021) and PatchConvNet class attention in PyTorch, built from
GAttANet Explorer's config.json and exchanged with it through model.safetensors."""
from .io import export, load
from .inspect import inspect
from .model import GAttANetModel, Pass, build, feature_shape
from .torchvision_import import from_torchvision, rename_torchvision

__all__ = ["build", "export", "load", "from_torchvision", "rename_torchvision", "inspect", "GAttANetModel", "Pass", "feature_shape"]
