// adjc bench: times one model's fused training step (loss + every gradient,
// no optimiser update) the way bench/run.sh and the reference programs time
// theirs, and its compile, cold and from a warm on-disk cache. The last line
// is for scripts: median_us=... min_us=... compile_ms=... cached_compile_ms=...
#include <sched.h>

#include <cerrno>
#include <cmath>
#include <cstdio>
#include <cstdlib>
#include <iostream>
#include <optional>

#include "bench/model_bench.hpp"
#include "driver/cli.hpp"
#include "explain/explain.hpp"
#include "stages.hpp"

namespace adjoint::cli {
namespace {

// Fills `o` from the command line; a usage message on a problem, else "".
std::string parse_options(const Args& a, bench::BenchOptions& o) {
  o.file = a.file;
  if (a.has("--dim")) {
    std::optional<DimEnv> dims = parse_dim_values(a.get("--dim"));
    if (!dims) return std::string(kDimValuesUsage) + ", got '" + a.get("--dim") + "'";
    o.dims = *dims;
  }
  if (a.has("--threads")) {
    auto v = parse_int(a.get("--threads"), 1, kMaxThreads);
    if (!v)
      return "--threads needs an integer in [1, " + std::to_string(kMaxThreads) + "], got '" +
             a.get("--threads") + "'";
    o.threads = static_cast<int>(*v);
  }
  if (a.has("--reps")) {
    auto v = parse_int(a.get("--reps"), 1, 1000);
    if (!v) return "--reps needs an integer in [1, 1000], got '" + a.get("--reps") + "'";
    o.timing.reps = static_cast<int>(*v);
  }
  if (a.has("--min-time")) {
    auto v = parse_real(a.get("--min-time"), 1e-6, 3600);
    if (!v) return "--min-time needs seconds in (0, 3600], got '" + a.get("--min-time") + "'";
    o.timing.min_time_s = *v;
  }
  if (a.has("--cpu")) {
    auto v = parse_int(a.get("--cpu"), 0, CPU_SETSIZE - 1);
    if (!v) return "--cpu needs a CPU number, got '" + a.get("--cpu") + "'";
    if (o.threads != 1) return "--cpu pins the one timing thread: it needs --threads 1";
    if (!bench::may_run_on(static_cast<int>(*v)))
      return "--cpu " + std::to_string(*v) + " is not one of the CPUs this process may use";
    o.cpu = static_cast<int>(*v);
  }
  if (a.has("--seed")) {
    auto v = parse_int(a.get("--seed"), 0, int64_t{1} << 62);
    if (!v) return "--seed needs a whole number, got '" + a.get("--seed") + "'";
    o.seed = static_cast<uint64_t>(*v);
  }
  return "";
}

std::string dims_text(const DimEnv& dims) {
  std::string out;
  for (const auto& [k, v] : dims) out += (out.empty() ? "" : ", ") + k + "=" + std::to_string(v);
  return out.empty() ? "no size symbols" : out;
}

void print_ready(const bench::BenchResult& r) {
  std::printf("model %s: %s, %d thread%s, %zu gradients, workspace %s bytes\n", r.model.c_str(),
              dims_text(r.dims).c_str(), r.threads, r.threads == 1 ? "" : "s", r.gradients,
              explain::format_count(static_cast<double>(r.workspace_bytes)).c_str());
  std::printf("compile: %.1f ms cold (%.1f ms CPU)", r.compile_ms, r.compile_cpu_ms);
  if (r.cached_compile_ms)
    std::printf(", %.1f ms with the disk cache warm (%.1f ms CPU)", *r.cached_compile_ms,
                r.cached_compile_cpu_ms);
  std::printf("\nfirst step: loss %.6g\n", r.loss);
  std::fflush(stdout);
}

void print_timing(const bench::BenchResult& r, const bench::TimingOptions& t) {
  const bench::Timing& tm = r.timing;
  std::printf(
      "step (loss + all gradients, no update): median %.3f us, min %.3f us "
      "(%zu repetitions of %lld steps, each >= %g s)\n",
      tm.median_us, tm.min_us, tm.rep_us.size(), static_cast<long long>(tm.steps_per_rep),
      t.min_time_s);
  if (r.timed_on_cpu >= 0) std::printf("timed on CPU %d only\n", r.timed_on_cpu);
  std::printf("FLOP per step: %s (forward %s, backward %s), %.2f GFLOP/s at the median\n",
              explain::format_count(r.flops.total()).c_str(),
              explain::format_count(r.flops.forward).c_str(),
              explain::format_count(r.flops.backward).c_str(), r.gflops());
  std::printf("flop=%.0f gflops=%.3f threads=%d\n", r.flops.total(), r.gflops(), r.threads);
  std::string cached = "-";
  if (r.cached_compile_ms) {
    char buf[32];
    std::snprintf(buf, sizeof buf, "%.3f", *r.cached_compile_ms);
    cached = buf;
  }
  std::printf("median_us=%.3f min_us=%.3f compile_ms=%.3f cached_compile_ms=%s\n", tm.median_us,
              tm.min_us, r.compile_ms, cached.c_str());
}

int cmd_bench(const Args& a) {
  bench::BenchOptions o;
  if (std::string m = parse_options(a, o); !m.empty()) return usage_error(m);
  // The global --no-cache reaches commands as ADJOINT_NO_CACHE: then there is
  // no warm cache to time.
  const char* no_cache = std::getenv("ADJOINT_NO_CACHE");
  o.cached_compile = !no_cache || std::string(no_cache).empty() || std::string(no_cache) == "0";
  try {
    bench::BenchResult r = bench::bench_model(o, print_ready);
    print_timing(r, o.timing);
  } catch (const CompileError& e) {  // already diagnostics: "FILE:line:col: error: ..."
    std::cerr << e.what() << "\n";
    return 1;
  } catch (const Error& e) {
    return file_error(e.what());
  }
  return 0;
}

}  // namespace

ADJC_COMMAND(
    {.name = "bench",
     .order = 70,
     .usage = "FILE [--dim B=64] [--threads N] [--min-time S] [--reps N] [--seed N] [--cpu N] "
              "[--no-cache]",
     .help = "  times the fused step (loss + all gradients, no optimiser update) on random\n"
             "  inputs and init_params(seed): warm-up, then --reps repetitions (default 5)\n"
             "  of at least --min-time seconds each (default 1); prints the median and min\n"
             "  per step, GFLOP/s and the compile time, cold and with the disk cache warm\n"
             "  (not with --no-cache). Every size symbol needs a --dim; --threads defaults\n"
             "  to 1. --cpu N (with --threads 1) times on CPU N only; compiling still\n"
             "  uses every core. Last line: median_us=.. min_us=.. compile_ms=..\n"
             "  cached_compile_ms=..\n",
     .options = {"--dim", "--threads", "--min-time", "--reps", "--seed", "--cpu"},
     .run = cmd_bench});

}  // namespace adjoint::cli
