#!/bin/bash
# Test accuracy over many seeds: `adjc train` against PyTorch, for the same
# network, optimiser (Adam 1e-3), batch (64) and epochs (5). One seed's final
# accuracy swings by a point or more with the batch order and initial weights;
# this shows the two distributions side by side.
#
#   bench/seed_sweep.sh                       # examples/mlp.adj, seeds 0-9
#   bench/seed_sweep.sh --seeds "$(seq -s' ' 0 29)" --same-start
#
# Columns: adjc's final accuracy; PyTorch's own run (bench/train_torch.py: its
# nn.Linear initialisation and its own shuffle); with --same-start, PyTorch from
# adjc's initial params and in adjc's batch order (bench/same_start_torch.py),
# which separates what the seed does from what the compiler does.
set -euo pipefail

ROOT=$(cd "$(dirname "$0")/.." && pwd)
ADJC=${ADJC:-$ROOT/build/adjc}
TORCH_PY=${TORCH_PY:-/usr/bin/python3}  # Debian's python3-torch
SEEDS="0 1 2 3 4 5 6 7 8 9"
KIND=mlp
SAME_START=0
THREADS=1

usage() {
  cat <<EOF
usage: bench/seed_sweep.sh [--seeds "0 1 2"] [--kind mlp|cnn] [--same-start] [--threads N]
  --seeds        the seeds, space-separated (default: 0-9)
  --kind         examples/KIND.adj against bench/train_torch.py KIND (default: mlp)
  --same-start   add PyTorch from adjc's start and order (mlp only)
  --threads N    threads for both systems (default: 1)
EOF
}

while [ $# -gt 0 ]; do
  case "$1" in
    --seeds) SEEDS=$2; shift 2 ;;
    --kind) KIND=$2; shift 2 ;;
    --same-start) SAME_START=1; shift ;;
    --threads) THREADS=$2; shift 2 ;;
    -h | --help) usage; exit 0 ;;
    *) echo "seed_sweep.sh: unknown option '$1'" >&2; usage >&2; exit 2 ;;
  esac
done
case "$KIND" in mlp | cnn) ;; *) echo "seed_sweep.sh: --kind is mlp or cnn" >&2; exit 2 ;; esac
if [ "$SAME_START" = 1 ] && [ "$KIND" != mlp ]; then
  echo "seed_sweep.sh: --same-start knows only examples/mlp.adj's params" >&2
  exit 2
fi
[ -x "$ADJC" ] || { echo "seed_sweep.sh: no adjc at $ADJC (build first, or set ADJC)" >&2; exit 1; }

WORK=$(mktemp -d)
trap 'rm -rf "$WORK"' EXIT
last_accuracy() { grep -o 'test accuracy [0-9.]*' | tail -1 | grep -o '[0-9.]*$'; }

printf 'seed\tadjc\tpytorch'
[ "$SAME_START" = 1 ] && printf '\tpytorch_same_start'
printf '\n'
for s in $SEEDS; do
  adj=$("$ADJC" train "$ROOT/examples/$KIND.adj" --data fashion-mnist --seed "$s" \
    --threads "$THREADS" 2>/dev/null | last_accuracy)
  own=$(OMP_WAIT_POLICY=PASSIVE "$TORCH_PY" "$ROOT/bench/train_torch.py" "$KIND" --seed "$s" \
    --threads "$THREADS" | last_accuracy)
  row="$s\t$adj\t$own"
  if [ "$SAME_START" = 1 ]; then
    "$ADJC" init "$ROOT/examples/mlp.adj" -o "$WORK/init.safetensors" --seed "$s"
    same=$("$TORCH_PY" "$ROOT/bench/same_start_torch.py" "$WORK/init.safetensors" --seed "$s" |
      last_accuracy)
    row="$row\t$same"
  fi
  printf "$row\n" | tee -a "$WORK/rows"
done

# Mean, standard deviation, median, range and how many runs end below the
# issue's bar for this network, per column.
"$TORCH_PY" - "$WORK/rows" "$KIND" <<'EOF'
import statistics, sys
rows = [line.split("\t") for line in open(sys.argv[1]).read().splitlines()]
names = ["adjc", "pytorch", "pytorch_same_start"]
bar = 86.5 if sys.argv[2] == "mlp" else 88.5
for c in range(1, len(rows[0])):
    v = sorted(float(r[c]) for r in rows)
    sd = statistics.stdev(v) if len(v) > 1 else 0.0
    print(f"{names[c - 1]}: {len(v)} seeds, mean {statistics.mean(v):.2f}%, sd {sd:.2f}, "
          f"median {statistics.median(v):.2f}%, range {v[0]:.2f}-{v[-1]:.2f}%, "
          f"below {bar}%: {sum(x < bar for x in v)}")
EOF
