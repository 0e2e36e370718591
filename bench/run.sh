#!/bin/bash
# The project's benchmark: each workload in bench/workloads/ through `adjc bench`
# (the compiled fused step), and in the same run the same workload through the
# reference programs that are installed (hand-coded C++ + OpenBLAS, PyTorch
# eager), then one table with the ratios Adjoint / reference. See README.md.
#
#   bench/run.sh                          # every workload, 1 then 2 threads (~10+ min)
#   bench/run.sh --quick                  # short repetitions: a smoke run
#   bench/run.sh --workloads mlp,mid --threads 1
set -euo pipefail

ROOT=$(cd "$(dirname "$0")/.." && pwd)
ALL_WORKLOADS="tiny chain mlp mid wide"
WORKLOADS=$ALL_WORKLOADS
THREADS="1 2"
MIN_TIME=1.0
REPS=5
REF_DIR=${ADJOINT_BENCH_REF:-/work/shared/bench-ref}
ADJC=${ADJC:-}
OUT=${ADJOINT_BENCH_OUT:-${TMPDIR:-/tmp}/adjoint-bench}
USE_REF=1
CPU=first  # the first CPU this process may use
ROUNDS=1

usage() {
  cat <<EOF
usage: bench/run.sh [--quick] [--workloads a,b,..] [--threads "1 2"] [--min-time S] [--reps N]
                    [--adjc PATH] [--ref DIR] [--no-ref] [--out DIR] [--cpu N|none] [--rounds N]
  --quick        each repetition >= 0.2 s and 3 of them (the references: 0.2 s, their 5)
  --workloads    any of: ${ALL_WORKLOADS// /,} (default: all)
  --threads      thread counts, in order (default: "1 2")
  --min-time S   seconds per repetition (default 1; the references get it as BENCH_MIN_TIME)
  --reps N       Adjoint's repetitions (default 5; the reference programs always do 5)
  --adjc PATH    the adjc to run (default: \$ADJC, else build/adjc, else adjc on PATH)
  --ref DIR      the reference programs (default: \$ADJOINT_BENCH_REF, else /work/shared/bench-ref)
  --no-ref       Adjoint rows only
  --out DIR      where the C++ reference is built and the raw log goes (default: $OUT)
  --cpu N|none   1-thread runs of every system are pinned to CPU N (default: the first
                 CPU this process may use, usually 0), so
                 that all of them run on the same core; "none" leaves them unpinned
  --rounds N     run every system N times in turn (default 1) and report the median
                 of the rounds' medians: a shared machine's speed drifts over minutes,
                 and alternating rounds spreads the drift over all systems alike
EOF
}

while [ $# -gt 0 ]; do
  case "$1" in
    --quick) MIN_TIME=0.2; REPS=3 ;;
    --workloads) WORKLOADS=${2//,/ }; shift ;;
    --threads) THREADS=${2//,/ }; shift ;;
    --min-time) MIN_TIME=$2; shift ;;
    --reps) REPS=$2; shift ;;
    --adjc) ADJC=$2; shift ;;
    --ref) REF_DIR=$2; shift ;;
    --no-ref) USE_REF=0 ;;
    --out) OUT=$2; shift ;;
    --cpu) CPU=$2; shift ;;
    --rounds) ROUNDS=$2; shift ;;
    -h|--help) usage; exit 0 ;;
    *) echo "bench/run.sh: unknown argument '$1'" >&2; usage >&2; exit 2 ;;
  esac
  shift
done

case "$ROUNDS" in ''|*[!0-9]*|0) echo "bench/run.sh: --rounds needs a whole number >= 1" >&2; exit 2 ;; esac
case "$CPU" in none|first) ;; ''|*[!0-9]*) echo "bench/run.sh: --cpu needs a CPU number or none" >&2; exit 2 ;; esac
for w in $WORKLOADS; do
  [ -f "$ROOT/bench/workloads/$w.adj" ] || { echo "bench/run.sh: no workload '$w' (have: $ALL_WORKLOADS)" >&2; exit 2; }
done

# The batch each workload runs at (chain has no size symbol), as in BENCHMARKS.md.
dim_args() {
  case "$1" in
    tiny) echo "--dim B=4" ;;
    mlp) echo "--dim B=64" ;;
    mid) echo "--dim B=128" ;;
    wide) echo "--dim B=256" ;;
    *) echo "" ;;
  esac
}

if [ -z "$ADJC" ]; then
  if [ -x "$ROOT/build/adjc" ]; then ADJC=$ROOT/build/adjc
  else ADJC=$(command -v adjc || true); fi
fi
[ -n "$ADJC" ] && [ -x "$ADJC" ] || { echo "bench/run.sh: no adjc found; build it or pass --adjc PATH" >&2; exit 2; }

mkdir -p "$OUT"
RAW=$OUT/raw.txt
: > "$RAW"
note() { echo "# $*" | tee -a "$RAW" >&2; }

# The references: each is used only when it is there and works.
unset OPENBLAS_CORETYPE OPENBLAS_L2_SIZE OPENBLAS_NUM_THREADS OMP_NUM_THREADS
CPP_REF=""
TORCH=0
PY=/usr/bin/python3  # Debian's python: python3-torch is only there
if [ $USE_REF = 1 ]; then
  if [ ! -f "$REF_DIR/cpp_ref.cpp" ]; then
    note "no reference programs in '$REF_DIR' (set ADJOINT_BENCH_REF or --ref): Adjoint rows only"
  else
    if ! command -v g++ >/dev/null; then
      note "C++ reference skipped: no g++"
    elif [ "$OUT/cpp_ref" -nt "$REF_DIR/cpp_ref.cpp" ] && [ "$OUT/cpp_ref" -nt "$REF_DIR/common.hpp" ] ||
         g++ -O3 -march=native -ffast-math -std=c++17 "$REF_DIR/cpp_ref.cpp" -o "$OUT/cpp_ref" -lopenblas \
           2>>"$RAW"; then
      CPP_REF=$OUT/cpp_ref
    else
      note "C++ reference skipped: it does not build (needs libopenblas-dev; see $RAW)"
    fi
    if [ ! -f "$REF_DIR/torch_eager.py" ] || [ ! -x "$PY" ]; then
      note "PyTorch skipped: no $REF_DIR/torch_eager.py or no $PY"
    elif ! "$PY" -c "import torch, numpy, threadpoolctl" 2>/dev/null; then
      note "PyTorch skipped: $PY lacks torch, numpy or threadpoolctl (python3-torch, python3-threadpoolctl)"
    else
      TORCH=1
    fi
  fi
fi

note "cpu: $(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2 | sed 's/^ *//') x $(nproc), $(date -u +%F' '%TZ)"
REFS="${CPP_REF:+C++ }$([ $TORCH = 1 ] && echo PyTorch || true)"
note "adjc: $ADJC; min-time ${MIN_TIME}s, Adjoint reps $REPS; references: ${REFS:-none}"

# Value of KEY in a line of KEY=VALUE words ("-" if absent).
field() { echo "$2" | tr ' ' '\n' | sed -n "s/^$1=//p" | head -1 | grep . || echo -; }
# A / B to three significant digits, "-" unless both are positive numbers.
ratio() { awk -v a="$1" -v b="$2" 'BEGIN { if (a+0 > 0 && b+0 > 0) printf "%.3g", a / b; else printf "-" }'; }
# A number to four significant digits (whole from 1000 up) for the table; anything else as it is.
num() {
  awk -v a="$1" 'BEGIN { if (a !~ /^[0-9.eE+-]+$/ || a !~ /[0-9]/) printf "%s", a; else if (a+0 >= 1000) printf "%.0f", a;
                         else printf "%.4g", a }'
}

# The cores of a shared host differ (another tenant on one core's sibling):
# one-thread runs of every system go to the same core, or the ratios would
# compare cores rather than programs.
if [ "$CPU" != none ] && ! command -v taskset >/dev/null; then
  note "taskset not found (util-linux): 1-thread runs are not pinned"; CPU=none
fi
if [ "$CPU" = first ]; then  # "pid 123's current affinity list: 0-1" -> 0
  CPU=$(taskset -pc $$ | sed 's/.*: *//' | grep -o '^[0-9]*')
fi
# adjc pins only its timing (--cpu), so that its cold compile keeps every core.
pin() { if [ "$1" = 1 ] && [ "$CPU" != none ]; then echo "taskset -c $CPU"; fi; }
adjc_pin() { if [ "$1" = 1 ] && [ "$CPU" != none ]; then echo "--cpu $CPU"; fi; }
[ "$CPU" != none ] && note "1-thread runs pinned to CPU $CPU (taskset; adjc bench --cpu, which times there but compiles on every core)"

# The arguments that are numbers, one a line, in increasing order.
numbers() { printf '%s\n' "$@" | { grep -E '^[0-9.eE+-]*[0-9][0-9.eE+-]*$' || true; } | sort -g; }
# Their median (or minimum); with none, "fail" if a round failed, else "-".
median() {
  numbers "$@" | awk -v failed="$(printf '%s\n' "$@" | grep -c '^fail$' || true)" '{ v[NR] = $1 }
    END { if (NR == 0) print (failed > 0 ? "fail" : "-"); else if (NR % 2) print v[(NR + 1) / 2];
          else print (v[NR / 2] + v[NR / 2 + 1]) / 2 }'
}
minimum() { local m; m=$(numbers "$@" | head -1); echo "${m:--}"; }

# One round of workload $1 at $2 threads: Adjoint, then each reference; sets
# a_med a_min a_comp a_cached a_gf c_med c_tag p_med.
measure() {
  local w=$1 t=$2 log line l_med last flop
  # Adjoint
  log=$OUT/adjc_${w}_$t.txt
  # shellcheck disable=SC2046
  if "$ADJC" bench "$ROOT/bench/workloads/$w.adj" $(dim_args "$w") --threads "$t" $(adjc_pin "$t") \
       --min-time "$MIN_TIME" --reps "$REPS" >"$log" 2>&1; then
    last=$(tail -1 "$log"); flop=$(grep '^flop=' "$log" | tail -1)
    echo "ADJOINT workload=$w threads=$t $last $flop" >>"$RAW"
    a_med=$(field median_us "$last"); a_min=$(field min_us "$last")
    a_comp=$(field compile_ms "$last"); a_cached=$(field cached_compile_ms "$last")
    a_gf=$(field gflops "$flop")
  else
    note "adjc bench failed on $w (see $log):"; sed 's/^/#   /' "$log" | tail -5 | tee -a "$RAW" >&2
    a_med=fail; a_min=-; a_comp=-; a_cached=-; a_gf=-
  fi
  # Hand-coded C++ with OpenBLAS's own pick of kernels for this CPU and with its Haswell
  # kernels (5-10% faster on the Zen 4 hosts BENCHMARKS.md was measured on, 1.8x slower
  # than its AVX-512 pick on a Zen 5); at 1 thread also its plain-loops variant (no BLAS,
  # single-threaded). The fastest counts, as BENCHMARKS.md's table does for tiny.
  c_med=-; c_tag=""
  if [ -n "$CPP_REF" ]; then
    for core in auto Haswell; do
      line=$(env $([ $core = Haswell ] && echo OPENBLAS_CORETYPE=Haswell) OPENBLAS_NUM_THREADS=$t \
             BENCH_MIN_TIME=$MIN_TIME $(pin "$t") "$CPP_REF" --threads "$t" --name "cpp-openblas-$core" "$w" \
             2>&1 | tee -a "$RAW" | grep '^RESULT' || true)
      o_med=$(field median_us "$line")
      if awk -v o="$o_med" -v c="$c_med" 'BEGIN { exit !(o+0 > 0 && (c == "-" || o+0 < c+0)) }'; then
        c_med=$o_med; c_tag=" ($core)"
      fi
    done
    if [ "$t" = 1 ] && [ "$w" = tiny -o "$w" = chain ]; then
      line=$(BENCH_MIN_TIME=$MIN_TIME $(pin "$t") "$CPP_REF" --loops "$w" 2>&1 | tee -a "$RAW" | grep '^RESULT' || true)
      l_med=$(field median_us "$line")
      if awk -v l="$l_med" -v c="$c_med" 'BEGIN { exit !(l+0 > 0 && (c == "-" || l+0 < c+0)) }'; then
        c_med=$l_med; c_tag=" (loops)"
      fi
    fi
  fi
  # PyTorch eager; PASSIVE keeps its OpenMP threads from spinning against OpenBLAS's.
  p_med=-
  if [ $TORCH = 1 ]; then
    line=$(cd "$OUT" && OMP_WAIT_POLICY=PASSIVE PYTHONDONTWRITEBYTECODE=1 BENCH_MIN_TIME=$MIN_TIME \
           $(pin "$t") "$PY" "$REF_DIR/torch_eager.py" --threads "$t" "$w" 2>&1 | tee -a "$RAW" | grep '^RESULT' || true)
    p_med=$(field median_us "$line")
  fi
}

ROWS=()
for t in $THREADS; do
  for w in $WORKLOADS; do
    echo "== $w, $t thread(s)" >&2
    A_MED=(); A_MIN=(); A_COMP=(); A_CACHED=(); A_GF=(); C_MED=(); C_TAG=""; P_MED=()
    for round in $(seq 1 "$ROUNDS"); do
      [ "$ROUNDS" = 1 ] || echo "   round $round of $ROUNDS" >&2
      measure "$w" "$t"
      A_MED+=("$a_med"); A_MIN+=("$a_min"); A_COMP+=("$a_comp"); A_CACHED+=("$a_cached")
      A_GF+=("$a_gf"); C_MED+=("$c_med"); P_MED+=("$p_med"); [ -n "$c_tag" ] && C_TAG=$c_tag
    done
    a_med=$(median "${A_MED[@]}"); a_min=$(minimum "${A_MIN[@]}"); a_comp=$(median "${A_COMP[@]}")
    a_cached=$(median "${A_CACHED[@]}"); a_gf=$(median "${A_GF[@]}"); c_med=$(median "${C_MED[@]}")
    c_tag=$C_TAG; p_med=$(median "${P_MED[@]}")
    row="| $w | $t | $(num "$a_med") | $(num "$a_min") | $(num "$a_gf") | $(num "$a_comp") | $(num "$a_cached") |"
    row+=" $(num "$c_med")$c_tag | $(ratio "$a_med" "$c_med") | $(num "$p_med") | $(ratio "$a_med" "$p_med") |"
    echo "$row" >&2
    ROWS+=("$row")
  done
done

echo
echo "Per step (loss + all gradients, no update), microseconds; median and min of the repetitions;"
echo "GFLOP/s at Adjoint's median. compile = cold compile, cached = from a warm disk cache."
echo "C++ ref: the fastest of OpenBLAS with its own pick of kernels (auto), with its Haswell kernels, and (1 thread, tiny and chain) plain loops."
echo "Ratios > 1: Adjoint is slower. Raw output: $RAW"
echo
echo "| workload | threads | Adjoint median us | Adjoint min us | GFLOP/s | compile ms | cached compile ms | C++ ref median us | Adjoint/C++ | PyTorch median us | Adjoint/PyTorch |"
echo "|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|"
printf '%s\n' "${ROWS[@]}"
