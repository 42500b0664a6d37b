import os
import sys

import pytest

PYTHON_DIR = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
REPO = os.path.dirname(PYTHON_DIR)
sys.path.insert(0, PYTHON_DIR)


def small_config(backbone, head, size=16, classes=4, **attention):
    """A small model config; GAttANet with `attention` (None: without)."""
    return {
        "name": "test",
        "classes": [f"class{i}" for i in range(classes)],
        "input": {"size": [size, size], "channels": 3, "mean": [0.5, 0.4, 0.3], "std": [0.25, 0.2, 0.3]},
        "backbone": backbone,
        "head": head,
        "attention": ({"dim": 4, "passes": 2, **attention} if attention.get("on", True) else None),
    }


@pytest.fixture
def repo():
    return REPO
