// adjc bench on small models (short repetitions, so each run takes well under
// a second): the script-readable last line, valid random labels, and clear
// errors for sizes that do not fit the model and for bad options. Also the
// timing loop's calibration, on a step that only counts.
#include <sched.h>

#include <catch2/catch.hpp>
#include <cmath>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <regex>

#include "bench/timing.hpp"
#include "test_api_support.hpp"

using namespace adjoint;
using Catch::Contains;
namespace fs = std::filesystem;

namespace {

constexpr const char* kClassifier = R"(model cls
input x : f32[B, 4]
input y : i32[B]
param W : f32[3, 4] = glorot_uniform
param b : f32[3]
loss = mean(softmax_cross_entropy(x @ W.T + b, y))
minimize loss
)";

constexpr const char* kNoLoss = R"(model fwd
input x : f32[B, 4]
param b : f32[4]
y = tanh(x + b)
output y
)";

constexpr const char* kVector = R"(model vec
input x : f32[4]
input t : f32[4]
param W : f32[4, 4] = glorot_uniform
loss = mse(tanh(W @ x), t)
minimize loss wrt W, x
)";

// No matmul, so it compiles fast: for the runs that stop at its sizes.
constexpr const char* kSymbolic = R"(model sym
input x : f32[B, 4]
param b : f32[4]
loss = mean(tanh(x + b))
minimize loss
)";

struct Scratch {
  std::string dir = apitest::temp_dir("bench_cli");
  Scratch() {
    std::ofstream(path("cls.adj")) << kClassifier;
    std::ofstream(path("fwd.adj")) << kNoLoss;
    std::ofstream(path("vec.adj")) << kVector;
    std::ofstream(path("sym.adj")) << kSymbolic;
  }
  ~Scratch() { fs::remove_all(dir); }
  std::string path(const std::string& name) const { return dir + "/" + name; }
};

std::string last_line(const std::string& out) {
  std::string s = out;
  while (!s.empty() && s.back() == '\n') s.pop_back();
  return s.substr(s.rfind('\n') == std::string::npos ? 0 : s.rfind('\n') + 1);
}

const std::vector<std::string> kShort = {"--min-time", "0.01", "--reps", "2"};

apitest::AdjcRun run_bench(std::vector<std::string> args, bool short_run = true) {
  args.insert(args.begin(), "bench");
  if (short_run) args.insert(args.end(), kShort.begin(), kShort.end());
  return apitest::run_adjc(args);
}

}  // namespace

TEST_CASE("adjc bench: the last line gives the step and compile times", "[bench][cli]") {
  Scratch s;
  auto r = run_bench({s.path("cls.adj"), "--dim", "B=8"});
  INFO(r.out << r.err);
  REQUIRE(r.status == 0);
  std::smatch m;
  std::string last = last_line(r.out);
  const std::regex line(R"(median_us=(\S+) min_us=(\S+) compile_ms=(\S+) cached_compile_ms=(\S+))");
  REQUIRE(std::regex_match(last, m, line));
  double median = std::stod(m[1]), min = std::stod(m[2]);
  CHECK(median > 0);
  CHECK(min > 0);
  CHECK(min <= median);
  CHECK(std::stod(m[3]) > 0);
  CHECK(std::stod(m[4]) > 0);
  // The FLOP line: 2·B·3·4 for the forward matmul alone, so more than 192.
  std::smatch f;
  REQUIRE(std::regex_search(r.out, f, std::regex(R"(flop=(\d+) gflops=(\S+) threads=1)")));
  CHECK(std::stod(f[1]) > 192);
  CHECK(std::stod(f[2]) > 0);
  // Labels are drawn within the 3 classes, so the loss is a number.
  std::smatch l;
  REQUIRE(std::regex_search(r.out, l, std::regex(R"(first step: loss (\S+))")));
  CHECK(std::isfinite(std::stod(l[1])));
  CHECK_THAT(r.out, Contains("B=8"));
}

TEST_CASE("adjc bench: a model without size symbols, and --no-cache", "[bench][cli]") {
  Scratch s;
  auto r = run_bench({s.path("vec.adj"), "--no-cache", "--threads", "2"});
  INFO(r.out << r.err);
  REQUIRE(r.status == 0);
  CHECK_THAT(r.out, Contains("2 gradients"));  // W and x
  CHECK_THAT(r.out, Contains("2 threads"));
  // No warm cache to time when the cache is off.
  CHECK(std::regex_match(
      last_line(r.out),
      std::regex(R"(median_us=[0-9.]+ min_us=[0-9.]+ compile_ms=[0-9.]+ cached_compile_ms=-)")));
}

TEST_CASE("adjc bench --cpu times on one CPU", "[bench][cli]") {
  Scratch s;
  cpu_set_t allowed;
  REQUIRE(sched_getaffinity(0, sizeof allowed, &allowed) == 0);
  int cpu = 0;
  while (!CPU_ISSET(cpu, &allowed)) ++cpu;  // the first CPU this process may use
  auto r = run_bench({s.path("vec.adj"), "--no-cache", "--cpu", std::to_string(cpu)});
  INFO(r.out << r.err);
  REQUIRE(r.status == 0);
  CHECK_THAT(last_line(r.out), Contains("median_us="));
  // The timing thread could run on that CPU and no other.
  CHECK_THAT(r.out, Contains("timed on CPU " + std::to_string(cpu) + " only"));
}

TEST_CASE("adjc bench: sizes that do not fit the model", "[bench][cli]") {
  Scratch s;
  auto missing = run_bench({s.path("sym.adj")});
  CHECK(missing.status == 1);
  CHECK_THAT(missing.err, Contains("symbolic size 'B'") && Contains("--dim B=N"));

  auto unknown = run_bench({s.path("sym.adj"), "--dim", "B=4,T=3"});
  CHECK(unknown.status == 1);
  CHECK_THAT(unknown.err, Contains("no size symbol 'T'") && Contains("its symbols: B"));

  auto none = run_bench({s.path("vec.adj"), "--dim", "B=4"});
  CHECK(none.status == 1);
  CHECK_THAT(none.err, Contains("no size symbol 'B'") && Contains("its symbols: none"));

  for (const char* bad :
       {"B", "B=", "B=0", "B=-3", "B=x", "=4", "B=4,B=5", "B=4,", "B=4294967297"}) {
    auto r = run_bench({s.path("sym.adj"), "--dim", bad});
    INFO(bad);
    CHECK(r.status == 2);
    CHECK_THAT(r.err, Contains("--dim expects NAME=N"));
  }
}

TEST_CASE("adjc bench: bad options, files and models", "[bench][cli]") {
  Scratch s;
  auto r = run_bench({s.path("cls.adj"), "--dim", "B=4", "--min-time", "0"}, false);
  CHECK(r.status == 2);
  CHECK_THAT(r.err, Contains("--min-time needs seconds"));
  r = run_bench({s.path("cls.adj"), "--dim", "B=4", "--reps", "zero"}, false);
  CHECK(r.status == 2);
  CHECK_THAT(r.err, Contains("--reps needs an integer"));
  r = run_bench({s.path("cls.adj"), "--dim", "B=4", "--threads", "0"}, false);
  CHECK(r.status == 2);
  CHECK_THAT(r.err, Contains("--threads needs an integer"));
  r = run_bench({s.path("cls.adj"), "--dim", "B=4", "--threads", "2", "--cpu", "1"}, false);
  CHECK(r.status == 2);
  CHECK_THAT(r.err, Contains("--cpu pins the one timing thread"));
  r = run_bench({s.path("cls.adj"), "--dim", "B=4", "--cpu", "100000"}, false);
  CHECK(r.status == 2);
  CHECK_THAT(r.err, Contains("--cpu needs a CPU number"));

  r = run_bench({s.path("fwd.adj"), "--dim", "B=4"});
  CHECK(r.status == 1);
  CHECK_THAT(r.err, Contains("model 'fwd' has no loss"));
  r = run_bench({s.path("absent.adj"), "--dim", "B=4"});
  CHECK(r.status == 1);
  CHECK_THAT(r.err, Contains("cannot read") && Contains("absent.adj"));
  // A compile error is printed as the diagnostic it is, without a second prefix.
  std::ofstream(s.path("bad.adj")) << "model m\ninput x : f32[3]\nminimize x\n";
  r = run_bench({s.path("bad.adj")});
  CHECK(r.status == 1);
  CHECK(r.err.rfind(s.path("bad.adj") + ":3:10: error: 'x' must be a float scalar", 0) == 0);
  CHECK_THAT(r.err, Contains("^") && !Contains("adjc: error"));
}

TEST_CASE("bench timing: calibration and the median", "[bench]") {
  CHECK(bench::median_of_sorted({1, 2, 7}) == 2);
  CHECK(bench::median_of_sorted({1, 2, 4, 7}) == 3);
  CHECK_THROWS(bench::median_of_sorted({}));

  int64_t steps = 0;
  bench::TimingOptions o;
  o.min_time_s = 0.005;
  o.reps = 3;
  bench::Timing t = bench::time_step([&] { ++steps; }, o);
  REQUIRE(t.rep_us.size() == 3);
  CHECK(std::is_sorted(t.rep_us.begin(), t.rep_us.end()));
  CHECK(t.min_us == t.rep_us.front());
  CHECK(t.median_us == t.rep_us[1]);
  CHECK(t.min_us > 0);
  // A step this short needs many per repetition to fill 5 ms, and the
  // warm-up and calibration (at least 3 + 2 steps) come on top.
  CHECK(t.steps_per_rep > 100);
  CHECK(steps >= 5 + 3 * t.steps_per_rep);
}

TEST_CASE("bench/run.sh without references still prints its table", "[bench][cli]") {
  // The script's own logic (rounds, medians over missing numbers, pinning),
  // with Adjoint rows only: short repetitions, one workload.
  std::string out = apitest::temp_dir("bench_run");
  std::string cmd =
      "bash '" + std::string(ADJOINT_SOURCE_DIR) + "/bench/run.sh' --no-ref --quick " +
      "--workloads tiny --threads 1 --rounds 2 --reps 1 --min-time 0.01 --adjc '" + ADJC_PATH +
      "' --out '" + out + "' >'" + out + "/table.txt' 2>'" + out + "/log.txt'";
  int rc = std::system(cmd.c_str());
  std::string table = apitest::slurp(out + "/table.txt");
  INFO(table << apitest::slurp(out + "/log.txt"));
  REQUIRE(rc == 0);
  // | tiny | 1 | median | min | GFLOP/s | compile | cached | then "-" for every reference.
  CHECK(std::regex_search(
      table,
      std::regex(
          R"(\| tiny \| 1 \| [0-9.]+ \| [0-9.]+ \| [0-9.]+ \| [0-9.]+ \| [0-9.]+ \| - \| - \| - \| - \|)")));
  fs::remove_all(out);
}
