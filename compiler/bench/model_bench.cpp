#include "bench/model_bench.hpp"

#include <sched.h>
#include <stdlib.h>

#include <adjoint/rng.hpp>
#include <algorithm>
#include <cerrno>
#include <chrono>
#include <cstring>
#include <ctime>
#include <filesystem>

#include "api/model_data.hpp"
#include "api/raw_call.hpp"
#include "stages.hpp"

namespace adjoint::bench {
namespace {

// `dims` must give exactly the model's size symbols.
void check_dims(const Model& m, const DimEnv& dims) {
  std::vector<std::string> symbols = m.size_symbols();
  if (std::string why = unknown_size(m.name(), symbols, dims); !why.empty()) throw Error(why);
  for (const std::string& s : symbols)
    if (!dims.count(s))
      throw Error("model '" + m.name() + "' has the symbolic size '" + s +
                  "': give it with --dim " + s + "=N");
}

// The exclusive upper bound of an i32 input's values: the classes or table
// rows it indexes (the smallest, if several), else 2.
int64_t index_bound(const api::ModelData& d, const std::string& input, const DimEnv& dims) {
  int64_t bound = 0;
  for (const api::IndexCheck& c : d.index_checks)
    if (c.input == input) {
      int64_t b = c.bound.eval(dims);
      bound = bound == 0 ? b : std::min(bound, b);
    }
  return bound > 0 ? bound : 2;
}

void fill_random(Tensor& t, Rng& rng, int64_t bound) {
  for (int64_t i = 0; i < t.numel(); ++i) {
    switch (t.dtype()) {
      case ElemType::f32:
        t.data<float>()[i] = static_cast<float>(2 * rng.uniform() - 1);
        break;
      case ElemType::f64:
        t.data<double>()[i] = 2 * rng.uniform() - 1;
        break;
      case ElemType::i32:
        t.data<int32_t>()[i] = static_cast<int32_t>(rng.below(static_cast<uint64_t>(bound)));
        break;
    }
  }
}

double ms_since(std::chrono::steady_clock::time_point t0) {
  return std::chrono::duration<double, std::milli>(std::chrono::steady_clock::now() - t0).count();
}

// CPU time of the whole process in ms: unlike the wall clock, not inflated
// by other programs on a loaded machine.
double process_cpu_ms() {
  timespec ts{};
  clock_gettime(CLOCK_PROCESS_CPUTIME_ID, &ts);
  return static_cast<double>(ts.tv_sec) * 1e3 + static_cast<double>(ts.tv_nsec) / 1e6;
}

// Compiles `file` in a fresh Compiler, timing compile_file alone (the
// Compiler's own JIT set-up is not part of a compile): wall and CPU ms.
Model timed_compile(const std::string& file, const CompileOptions& co, double& ms, double& cpu_ms) {
  Compiler cc(co);
  double cpu0 = process_cpu_ms();
  auto t0 = std::chrono::steady_clock::now();
  Model m = cc.compile_file(file);
  ms = ms_since(t0);
  cpu_ms = process_cpu_ms() - cpu0;
  return m;
}

// Runs the calling thread on `cpu` only from now on: the cores of a shared
// machine differ, so that the systems compared run on the same one.
void pin_to_cpu(int cpu) {
  cpu_set_t set;
  CPU_ZERO(&set);
  CPU_SET(cpu, &set);
  if (sched_setaffinity(0, sizeof set, &set) != 0)
    throw Error("cannot run on CPU " + std::to_string(cpu) + ": " + std::strerror(errno));
}

// The one CPU the calling thread may run on, or -1 if it may run on several.
int only_cpu() {
  cpu_set_t set;
  if (sched_getaffinity(0, sizeof set, &set) != 0 || CPU_COUNT(&set) != 1) return -1;
  int cpu = 0;
  while (!CPU_ISSET(cpu, &set)) ++cpu;
  return cpu;
}

// A fresh, empty directory for the cache, removed when this goes away.
struct TempDir {
  std::string path;
  TempDir() {
    std::string pattern = (std::filesystem::temp_directory_path() / "adjc-bench-XXXXXX").string();
    if (!mkdtemp(pattern.data()))
      throw Error("cannot make a temporary directory for the compile cache");
    path = pattern;
  }
  ~TempDir() {
    std::error_code ec;
    std::filesystem::remove_all(path, ec);
  }
};

// Cold compile once to fill an empty cache, then time a second Compiler's compile.
void time_cached_compile(const std::string& file, BenchResult& r) {
  TempDir dir;
  CompileOptions co{.cache = true, .cache_dir = dir.path};
  double ms = 0, cpu_ms = 0;
  timed_compile(file, co, ms, cpu_ms);
  timed_compile(file, co, ms, cpu_ms);
  r.cached_compile_ms = ms;
  r.cached_compile_cpu_ms = cpu_ms;
}

}  // namespace

Inputs random_inputs(const Model& m, const DimEnv& dims, uint64_t seed) {
  check_dims(m, dims);
  const api::ModelData& d = api::ModelAccess::data(m);
  Inputs in;
  for (const TensorInfo& info : m.inputs()) {
    const Type& t = d.ir.type(*d.ir.leaf(info.name));
    Tensor x = Tensor::zeros(info.dtype, eval_shape(t.shape, dims));
    Rng rng(seed, stream_of("bench.input." + info.name));
    fill_random(x, rng, info.dtype == ElemType::i32 ? index_bound(d, info.name, dims) : 0);
    in.set(info.name, std::move(x));
  }
  return in;
}

bool may_run_on(int cpu) {
  cpu_set_t allowed;
  return cpu >= 0 && cpu < CPU_SETSIZE && sched_getaffinity(0, sizeof allowed, &allowed) == 0 &&
         CPU_ISSET(cpu, &allowed);
}

BenchResult bench_model(const BenchOptions& o,
                        const std::function<void(const BenchResult&)>& ready) {
  set_num_threads(o.threads);
  BenchResult r;
  r.threads = o.threads;
  r.dims = o.dims;
  // The model that is timed is the cold compile's: the code is the same either way.
  Model m = timed_compile(o.file, CompileOptions{.cache = false}, r.compile_ms, r.compile_cpu_ms);
  r.model = m.name();
  if (!m.has_loss())
    throw Error("model '" + m.name() + "' has no loss (no 'minimize'): nothing to time");
  Inputs inputs = random_inputs(m, o.dims, o.seed);
  if (o.cached_compile) time_cached_compile(o.file, r);

  Params params = m.init_params(o.seed, o.dims);
  Grads grads = m.make_grads(inputs);
  api::RawGradCall step(m, inputs, params, grads);
  r.gradients = grads.size();
  r.workspace_bytes = step.workspace_bytes();
  r.flops = explain::step_flops(api::ModelAccess::data(m).graph(), o.dims);
  r.loss = step();
  if (ready) ready(r);
  if (o.cpu >= 0) pin_to_cpu(o.cpu);
  r.timing = time_step([&] { step(); }, o.timing);
  r.timed_on_cpu = only_cpu();
  return r;
}

}  // namespace adjoint::bench
