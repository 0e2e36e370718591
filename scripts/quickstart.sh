#!/usr/bin/env bash
# Installs what is missing, builds Adjoint and runs the main job.
# (Until the JIT lands: check examples/mlp.adj and print its derived gradient.)
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/build.sh
echo "== adjc check examples/mlp.adj" >&2
./build/adjc check examples/mlp.adj
echo "== adjc emit examples/mlp.adj --stage=opt" >&2
./build/adjc emit examples/mlp.adj --stage=opt
