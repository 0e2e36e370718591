"""PyTorch reference for `adjc train`: the same networks as examples/mlp.adj
and examples/cnn.adj, Adam (lr 1e-3), batch 64, Fashion-MNIST from Debian's
dataset-fashion-mnist, seeded shuffling; prints test accuracy after each epoch
and wall time and samples/s over whole epochs (data handling included).

Run with Debian's torch: /usr/bin/python3 bench/train_torch.py mlp --threads 2
(OMP_WAIT_POLICY=PASSIVE at 2 threads; see the traps in ../shared/BENCHMARKS.md)."""
import argparse
import gzip
import time

import numpy as np
import torch

DATA = "/usr/share/datasets/fashion-mnist"


def idx(name):
    with gzip.open(f"{DATA}/{name}", "rb") as f:
        raw = f.read()
    ndim = raw[3]
    dims = [int.from_bytes(raw[4 + 4 * i:8 + 4 * i], "big") for i in range(ndim)]
    return np.frombuffer(raw, np.uint8, offset=4 + 4 * ndim).reshape(dims)


def network(kind):
    if kind == "mlp":
        return torch.nn.Sequential(torch.nn.Linear(784, 128), torch.nn.ReLU(), torch.nn.Linear(128, 10))
    return torch.nn.Sequential(
        torch.nn.Unflatten(1, (1, 28, 28)),
        torch.nn.Conv2d(1, 8, 5, padding=2), torch.nn.ReLU(), torch.nn.MaxPool2d(2),
        torch.nn.Conv2d(8, 16, 5), torch.nn.ReLU(), torch.nn.MaxPool2d(2),
        torch.nn.Flatten(), torch.nn.Linear(400, 120), torch.nn.ReLU(), torch.nn.Linear(120, 10))


def main():
    p = argparse.ArgumentParser()
    p.add_argument("kind", choices=["mlp", "cnn"])
    p.add_argument("--epochs", type=int, default=5)
    p.add_argument("--batch", type=int, default=64)
    p.add_argument("--threads", type=int, default=1)
    p.add_argument("--seed", type=int, default=0)
    a = p.parse_args()
    torch.set_num_threads(a.threads)
    torch.manual_seed(a.seed)
    xtr = torch.from_numpy(idx("train-images-idx3-ubyte.gz").reshape(-1, 784).astype(np.float32) / 255)
    ytr = torch.from_numpy(idx("train-labels-idx1-ubyte.gz").astype(np.int64))
    xte = torch.from_numpy(idx("t10k-images-idx3-ubyte.gz").reshape(-1, 784).astype(np.float32) / 255)
    yte = torch.from_numpy(idx("t10k-labels-idx1-ubyte.gz").astype(np.int64))
    net = network(a.kind)
    opt = torch.optim.Adam(net.parameters(), lr=1e-3)
    loss_fn = torch.nn.CrossEntropyLoss()
    g = torch.Generator().manual_seed(a.seed)
    total = 0.0
    for epoch in range(a.epochs):
        t0 = time.perf_counter()
        order = torch.randperm(len(xtr), generator=g)
        for i in range(0, len(xtr), a.batch):
            idx_b = order[i:i + a.batch]
            opt.zero_grad()
            loss = loss_fn(net(xtr[idx_b]), ytr[idx_b])
            loss.backward()
            opt.step()
        total += time.perf_counter() - t0
        with torch.no_grad():
            acc = (net(xte).argmax(1) == yte).float().mean().item() * 100
        print(f"epoch {epoch + 1}/{a.epochs}  test accuracy {acc:.2f}%", flush=True)
    print(f"done: {a.kind} threads={a.threads} test accuracy {acc:.2f}%  "
          f"train time {total:.1f}s  {a.epochs * len(xtr) / total:.0f} samples/s")


if __name__ == "__main__":
    main()
