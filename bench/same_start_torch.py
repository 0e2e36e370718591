"""PyTorch as an oracle for `adjc train` on examples/mlp.adj: the same initial
params (from `adjc init`), the same batch order (adjc's shuffle, re-derived
here from its xoshiro256** stream "shuffle.<epoch>"), the same Adam updates.
Prints PyTorch's test accuracy after each epoch and, given adjc's checkpoint
after the same epochs, the largest difference of each param.

  adjc init examples/mlp.adj -o init.safetensors --seed 0
  adjc train examples/mlp.adj --data fashion-mnist --epochs 5 --seed 0 --save ckpt.safetensors
  /usr/bin/python3 bench/same_start_torch.py init.safetensors --seed 0 --epochs 5 \
      --compare ckpt.safetensors [--f64] [--data DIR]

With --f64 (and the model's f32 changed to f64) both sides round alike
enough to follow one trajectory for whole epochs; in f32, Adam's division by
the root of tiny second moments amplifies last-bit differences, and the two
runs drift apart as two PyTorch runs on different BLAS libraries would."""
import argparse
import gzip
import json
import struct

import numpy as np
import torch

MASK = (1 << 64) - 1


def splitmix64(x):
    x = (x + 0x9E3779B97F4A7C15) & MASK
    z = ((x ^ (x >> 30)) * 0xBF58476D1CE4E5B9) & MASK
    z = ((z ^ (z >> 27)) * 0x94D049BB133111EB) & MASK
    return x, z ^ (z >> 31)


def rotl(x, k):
    return ((x << k) | (x >> (64 - k))) & MASK


class Xoshiro:
    """runtime/src/rng.cpp: state from splitmix64 of seed ^ splitmix64(stream)."""

    def __init__(self, seed, stream):
        _, mixed = splitmix64(stream)
        x, self.s = seed ^ mixed, []
        for _ in range(4):
            x, z = splitmix64(x)
            self.s.append(z)

    def next_u64(self):
        s = self.s
        result = (rotl((s[1] * 5) & MASK, 7) * 9) & MASK
        t = (s[1] << 17) & MASK
        s[2] ^= s[0]
        s[3] ^= s[1]
        s[1] ^= s[2]
        s[0] ^= s[3]
        s[2] ^= t
        s[3] = rotl(s[3], 45)
        return result


def stream_of(name):  # 64-bit FNV-1a
    h = 0xCBF29CE484222325
    for c in name.encode():
        h = ((h ^ c) * 0x100000001B3) & MASK
    return h


def shuffled(n, seed, epoch):  # compiler/driver/cmd_train.cpp
    order, rng = list(range(n)), Xoshiro(seed, stream_of(f"shuffle.{epoch}"))
    for i in range(n - 1, 0, -1):
        j = rng.next_u64() % (i + 1)
        order[i], order[j] = order[j], order[i]
    return order


def load_safetensors(path):
    raw = open(path, "rb").read()
    n = struct.unpack("<Q", raw[:8])[0]
    header, out = json.loads(raw[8:8 + n]), {}
    types = {"F32": np.float32, "F64": np.float64, "I32": np.int32}
    for name, v in header.items():
        if name != "__metadata__":
            a, b = v["data_offsets"]
            out[name] = np.frombuffer(raw[8 + n + a:8 + n + b], types[v["dtype"]]).reshape(v["shape"])
    return out


def idx(path):
    raw = gzip.open(path).read()
    dims = [int.from_bytes(raw[4 + 4 * i:8 + 4 * i], "big") for i in range(raw[3])]
    return np.frombuffer(raw, np.uint8, offset=4 + 4 * raw[3]).reshape(dims)


def main():
    p = argparse.ArgumentParser()
    p.add_argument("init")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--epochs", type=int, default=5)
    p.add_argument("--batch", type=int, default=64)
    p.add_argument("--compare")
    p.add_argument("--f64", action="store_true")
    p.add_argument("--data", default="/usr/share/datasets/fashion-mnist")
    a = p.parse_args()
    ft = np.float64 if a.f64 else np.float32
    names = ["W1", "b1", "W2", "b2"]
    init = load_safetensors(a.init)
    params = [torch.tensor(np.array(init[k], ft), requires_grad=True) for k in names]
    W1, b1, W2, b2 = params
    images = lambda f: torch.from_numpy(idx(f"{a.data}/{f}").reshape(-1, 784).astype(ft) / 255)
    labels = lambda f: torch.from_numpy(idx(f"{a.data}/{f}").astype(np.int64))
    xtr, ytr = images("train-images-idx3-ubyte.gz"), labels("train-labels-idx1-ubyte.gz")
    xte, yte = images("t10k-images-idx3-ubyte.gz"), labels("t10k-labels-idx1-ubyte.gz")
    net = lambda x: torch.relu(x @ W1 + b1) @ W2 + b2
    opt = torch.optim.Adam(params, lr=1e-3)
    for epoch in range(a.epochs):
        order = torch.tensor(shuffled(len(xtr), a.seed, epoch))
        for i in range(0, len(xtr), a.batch):
            batch = order[i:i + a.batch]
            opt.zero_grad()
            torch.nn.functional.cross_entropy(net(xtr[batch]), ytr[batch]).backward()
            opt.step()
        with torch.no_grad():
            acc = (net(xte).argmax(1) == yte).double().mean().item() * 100
        print(f"epoch {epoch + 1}/{a.epochs}  PyTorch test accuracy {acc:.2f}%", flush=True)
    if a.compare:
        theirs = load_safetensors(a.compare)
        for k, t in zip(names, params):
            d = np.abs(t.detach().numpy() - theirs[k]).max()
            print(f"{k}: max |PyTorch - adjc| = {d:.3g} (largest |value| {np.abs(theirs[k]).max():.3g})")


if __name__ == "__main__":
    main()
