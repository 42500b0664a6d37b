#!/usr/bin/env python3
"""Start a no-attention twin from a GAttANet run's checkpoint taken during its plain epochs.

While `--plain-epochs` run, a GAttANet model trains exactly as its twin without attention
(`"attention": null`, same recipe and seed): one pass, GAttANet's keys, queries and α unused,
the same seeded initial weights, batches and augmentation. So the twin's first epochs need not
be computed twice: this copies such a checkpoint without GAttANet's tensors, the later passes'
BatchNorm statistics and their optimiser state, under the twin's config, ready for
`gattanet train --data DATA --out TWIN --resume`.

    scripts/fork-plain-twin.py CHECKPOINT_DIR TWIN_CONFIG TWIN_OUT_DIR
"""
import json
import os
import re
import struct
import sys


def read_safetensors(path):
    with open(path, "rb") as f:
        n = struct.unpack("<Q", f.read(8))[0]
        header = json.loads(f.read(n))
        data = f.read()
    return header, data


def write_safetensors(path, header, data, keep):
    out_header, chunks, offset = {}, [], 0
    for name, info in header.items():
        if name == "__metadata__":
            out_header[name] = info
            continue
        if not keep(name):
            continue
        start, end = info["data_offsets"]
        chunks.append(data[start:end])
        out_header[name] = dict(info, data_offsets=[offset, offset + end - start])
        offset += end - start
    text = json.dumps(out_header, separators=(",", ":")).encode()
    text += b" " * (-len(text) % 8)
    with open(path, "wb") as f:
        f.write(struct.pack("<Q", len(text)))
        f.write(text)
        for c in chunks:
            f.write(c)


def main():
    if len(sys.argv) != 4:
        sys.exit(__doc__)
    src, config_path, out = sys.argv[1:]
    state = json.load(open(os.path.join(src, "state.json")))
    twin = json.load(open(config_path))
    if twin.get("attention") is not None:
        sys.exit(f"{config_path}: the twin's config must have \"attention\": null")
    plain = state["options"].get("plain_epochs", 0)
    if state["epochs_done"] > plain:
        sys.exit(f"the checkpoint is after epoch {state['epochs_done']}, past the {plain} plain epochs")
    mine = {k: v for k, v in state["config"].items() if k not in ("name", "attention")}
    theirs = {k: v for k, v in twin.items() if k not in ("name", "attention")}
    if mine != theirs:
        sys.exit("the twin's config differs from the run's in more than its name and attention")

    later_stats = re.compile(r"\.stats[1-9][0-9]*\.(mean|var)$")
    keep_model = lambda n: not n.startswith("gatta.") and not later_stats.search(n)
    keep_opt = lambda n: not n.startswith("gatta.")
    ckpt = os.path.join(out, "checkpoint")
    os.makedirs(ckpt, exist_ok=False)
    write_safetensors(os.path.join(ckpt, "model.safetensors"), *read_safetensors(os.path.join(src, "model.safetensors")), keep_model)
    write_safetensors(os.path.join(ckpt, "optimizer.safetensors"), *read_safetensors(os.path.join(src, "optimizer.safetensors")), keep_opt)

    source = state["metrics"]["model"]
    state["config"] = twin
    m = state["metrics"]
    m["model"] = twin["name"]
    m["passes"] = 1
    m["forked_from"] = f"{source} after epoch {state['epochs_done']} of its plain epochs"
    for key in ("parameters", "flops_per_image"):
        m.pop(key, None)  # the resumed run recomputes them (see train::run)
    with open(os.path.join(ckpt, "state.json"), "w") as f:
        json.dump(state, f, indent=2)
    print(f"wrote {ckpt}: {twin['name']} after epoch {state['epochs_done']}")


if __name__ == "__main__":
    main()
