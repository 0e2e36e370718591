#!/usr/bin/env bash
# Installs what is missing, builds Adjoint and runs the main job: training
# the two-layer classifier of examples/mlp.adj on Fashion-MNIST.
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/build.sh
echo "== adjc train examples/mlp.adj --data fashion-mnist --epochs 5" >&2
./build/adjc train examples/mlp.adj --data fashion-mnist --epochs 5
