"""One image through the passes, as `inspection.json` (the `gattanet inspect` format) holds it,
so results of the two implementations compare field by field."""
from __future__ import annotations

from typing import List

import torch

from .model import GAttANetModel


@torch.no_grad()
def inspect(model: GAttANetModel, x: torch.Tensor, passes: int = None) -> dict:
    """x: one preprocessed image (1, C, H, W). Returns {"passes": [...]} with, per pass, the
    logits, probabilities, global query, every attended layer's agreement and applied gain
    (flattened row-major) and the class-attention weights split as the CLI splits them."""
    model = model.eval()
    alphas = model.learned_alphas() or None
    out: List[dict] = []
    for index, p in enumerate(model.run(x, passes=passes, alphas=alphas, final_maps=True)):
        layers = []
        for l, name in enumerate(model.attended_sites):
            g = p.agreement[l][0]
            gain = p.gains[l][0] if p.gains is not None else torch.ones_like(g)
            layers.append({
                "name": name,
                "kind": "conv" if g.dim() == 2 else "dense",
                "shape": list(g.shape),
                "agreement": g.flatten().tolist(),
                "gain": gain.flatten().tolist(),
            })
        aggregation = None
        if p.class_attention is not None:
            rows = p.class_attention[0]
            aggregation = {"heads": rows.shape[0], "weights": rows[:, 1:].tolist(), "self_weight": rows[:, 0].tolist()}
        out.append({
            "index": index,
            "logits": p.logits[0].tolist(),
            "probabilities": torch.softmax(p.logits[0], -1).tolist(),
            "global_query": p.query[0].tolist() if p.query is not None else [],
            "layers": layers,
            "aggregation": aggregation,
        })
    return {"passes": out}
