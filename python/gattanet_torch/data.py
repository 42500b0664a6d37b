"""Image-folder data sets (ImageNet layout: train/CLASS/*.jpg, test|val/CLASS/*.jpg), prepared as
the Rust side prepares images (src/preprocess.rs): the largest centred window with the model's
aspect ratio, resized to the model's size with a triangle (bilinear) filter, transparency over
white. Images are uint8 CHW; normalisation happens on the device (`normalize`)."""
from __future__ import annotations

import os
from typing import List, Optional, Sequence, Tuple

import numpy as np
import torch
import torch.nn.functional as F
from PIL import Image
from torch.utils.data import Dataset

IMAGE_EXTENSIONS = (".jpg", ".jpeg", ".png")
SPLITS = {"train": ("train",), "test": ("test", "val", "valid", "validation")}


def centre_crop(width: int, height: int, tw: int, th: int) -> Tuple[int, int, int, int]:
    """(x, y, w, h) of the largest centred window with the target's aspect, rounded as the Rust side."""
    if width * th > height * tw:
        cw = min(max((height * tw + th // 2) // th, 1), width)
        return (width - cw) // 2, 0, cw, height
    ch = min(max((width * th + tw // 2) // tw, 1), height)
    return 0, (height - ch) // 2, width, ch


def load_image(path: str, size: Sequence[int]) -> torch.Tensor:
    """An image file as the model sees it: uint8 (3, H, W)."""
    th, tw = size
    with Image.open(path) as img:
        img.load()
        if img.mode in ("RGBA", "LA", "P"):
            img = img.convert("RGBA")
            white = Image.new("RGBA", img.size, (255, 255, 255, 255))
            img = Image.alpha_composite(white, img)
        img = img.convert("RGB")
        x, y, w, h = centre_crop(img.width, img.height, tw, th)
        img = img.crop((x, y, x + w, y + h))
        if img.size != (tw, th):
            img = img.resize((tw, th), Image.BILINEAR)
        return torch.from_numpy(np.asarray(img).copy()).permute(2, 0, 1).contiguous()


def find_split(root: str, split: str) -> str:
    for name in SPLITS[split]:
        path = os.path.join(root, name)
        if os.path.isdir(path):
            return path
    raise FileNotFoundError(f"no `{SPLITS[split][0]}` folder in {root} (the {split} split of an image-folder data set)")


def class_folders(root: str) -> List[str]:
    """Class names of a data set: its train split's folders, sorted as the Rust loader sorts them."""
    return sorted(e.name for e in os.scandir(find_split(root, "train")) if e.is_dir())


class ImageFolder(Dataset):
    """One split of an image-folder data set. Labels follow `classes` (the model's), so the
    class order of config.json decides, not the folder listing. With `cache`, every image is
    decoded once into memory (small data sets such as CIFAR-10)."""

    def __init__(self, root: str, split: str, classes: Sequence[str], size: Sequence[int], crop_pad: int = 0, flip: bool = False, cache: bool = False, limit: Optional[int] = None):
        directory = find_split(root, split)
        self.size, self.crop_pad, self.flip = tuple(size), crop_pad, flip
        index = {c: i for i, c in enumerate(classes)}
        per_class: List[List[str]] = [[] for _ in classes]
        for entry in sorted(os.scandir(directory), key=lambda e: e.name):
            if not entry.is_dir():
                continue
            if entry.name not in index:
                raise ValueError(f"folder {entry.path} is not one of the model's classes ({', '.join(classes)})")
            files = sorted(f.name for f in os.scandir(entry.path) if f.is_file() and f.name.lower().endswith(IMAGE_EXTENSIONS))
            per_class[index[entry.name]] = [os.path.join(entry.path, f) for f in files]
        # Round-robin over the classes (as the Rust loader), so a limit keeps them balanced.
        self.samples = [(files[i], label) for i in range(max(map(len, per_class), default=0)) for label, files in enumerate(per_class) if i < len(files)]
        if limit is not None:
            self.samples = self.samples[:limit]
        if not self.samples:
            raise ValueError(f"no .jpg, .jpeg or .png files under {directory}")
        self.images = torch.stack([load_image(p, self.size) for p, _ in self.samples]) if cache else None

    def __len__(self) -> int:
        return len(self.samples)

    def __getitem__(self, i: int):
        img = self.images[i] if self.images is not None else load_image(self.samples[i][0], self.size)
        return self.augment(img), self.samples[i][1]

    def augment(self, img: torch.Tensor) -> torch.Tensor:
        """Random crop of the image padded with `crop_pad` black pixels, mirror with p = 1/2."""
        if self.crop_pad:
            p = self.crop_pad
            h, w = img.shape[1:]
            dy, dx = torch.randint(0, 2 * p + 1, (2,)).tolist()
            img = F.pad(img, (p, p, p, p))[:, dy : dy + h, dx : dx + w]
        if self.flip and torch.rand(()) < 0.5:
            img = img.flip(2)
        return img


def normalize(x: torch.Tensor, mean: Sequence[float], std: Sequence[float]) -> torch.Tensor:
    """uint8 (B, C, H, W) → (p / 255 − mean) / std in f32, as the Rust loaders compute it."""
    mean = torch.tensor(mean, dtype=torch.float32, device=x.device)[None, :, None, None]
    std = torch.tensor(std, dtype=torch.float32, device=x.device)[None, :, None, None]
    return (x.float() / 255.0 - mean) / std
