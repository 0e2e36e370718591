// adjc bench's measurement: compile a .adj file (cold, and again with the
// on-disk cache warm), make random inputs and init_params, and time the
// fused grad call (loss + every gradient, no optimiser update) as a raw
// native call. The printing is the driver's (driver/cmd_bench.cpp).
#pragma once

#include <adjoint/adjoint.hpp>
#include <cstdint>
#include <functional>
#include <optional>
#include <string>

#include "bench/timing.hpp"
#include "explain/explain.hpp"
#include "ir/type.hpp"

namespace adjoint::bench {

struct BenchOptions {
  std::string file;
  DimEnv dims;      // a value for each of the model's size symbols, and no other
  int threads = 1;  // the runtime pool's size (adjoint::set_num_threads)
  TimingOptions timing;
  bool cached_compile = true;  // also time a compile from a warm on-disk cache
  uint64_t seed = 1;           // of init_params and of the inputs
  int cpu = -1;  // >= 0: the timing runs on this CPU only (compiling does not), 1 thread
};

struct BenchResult {
  std::string model;
  DimEnv dims;
  int threads = 1;
  size_t gradients = 0;  // tensors the step differentiates
  double loss = 0;       // of the first step
  int64_t workspace_bytes = 0;
  explain::StepFlops flops;                              // of one step
  double compile_ms = 0;                                 // cold: CompileOptions{.cache = false}
  std::optional<double> cached_compile_ms;               // from a warm on-disk cache
  double compile_cpu_ms = 0, cached_compile_cpu_ms = 0;  // the same, in process CPU time
  Timing timing;
  int timed_on_cpu = -1;  // the one CPU the timing thread could run on, if it was one

  double gflops() const { return flops.total() / (timing.median_us * 1e3); }
};

// Random inputs for `m` with these sizes: floats uniform in [-1, 1), class
// labels and gather indices uniform over their valid range, other i32
// values 0 or 1. adjoint::Error when `dims` misses a size symbol of the
// model or names one it lacks.
Inputs random_inputs(const Model& m, const DimEnv& dims, uint64_t seed);

// Whether this process may run on `cpu` (its affinity mask allows it).
bool may_run_on(int cpu);

// Compiles, sets up and times; adjoint::Error for a file that does not
// compile, a model without a loss, or sizes that do not fit. `ready` (when
// given) sees the result before the timing starts, with everything but
// `timing` filled in.
BenchResult bench_model(const BenchOptions& o,
                        const std::function<void(const BenchResult&)>& ready = {});

}  // namespace adjoint::bench
