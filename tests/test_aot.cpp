// Ahead-of-time compilation: `adjc compile` writes an object and a C header;
// a C program built with the system's C compiler, linked against two such
// objects (each with its own copy of the f32 GEMM routines, kept internal) and
// the runtime, gets the loss and gradients Model::grad gives, and the
// outputs Model::forward gives.
#include <adjoint/adjoint.hpp>
#include <catch2/catch.hpp>
#include <cmath>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <sstream>

#include "test_api_support.hpp"

using namespace adjoint;
using namespace adjoint::apitest;
using Catch::Matchers::Contains;
namespace fs = std::filesystem;

namespace {

const char* kNet = R"(model aotnet
input x : f32[B, 6]
input y : i32[B]
param W1 : f32[7, 6] = he_normal
param b1 : f32[7]
param W2 : f32[3, 7] = glorot_uniform
param b2 : f32[3]
h = tanh(x @ W1.T + b1)
logits = h @ W2.T + b2
output logits
loss = mean(softmax_cross_entropy(logits, y))
minimize loss
)";

const char* kSquare = R"(model aotsq
input a : f32[4, 5]
param W : f32[5, 3] = glorot_uniform
y = relu(a @ W)
output y
)";

// Filled the same way on both sides: element i of tensor number `which`.
double value(int which, int64_t i) { return std::sin(0.37 * static_cast<double>(i) + which); }

// The C program: fills every tensor with value(), calls aotnet_grad at B = 5
// and aotsq_forward, and prints every number.
const char* kProgram = R"(#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include "aotnet.h"
#include "aotsq.h"

static double value(int which, long i) { return sin(0.37 * (double)i + which); }
static float *floats(int which, long n) {
  float *p = malloc(sizeof(float) * n);
  for (long i = 0; i < n; ++i) p[i] = (float)value(which, i);
  return p;
}
static adj_tensor tensor(void *data, const int64_t *shape, int rank, adj_dtype t) {
  adj_tensor x;
  x.data = data; x.shape = shape; x.rank = rank; x.dtype = t;
  return x;
}
int main(void) {
  int64_t B = 5;
  adj_dims dims; dims.values = &B; dims.count = AOTNET_NUM_DIMS;
  int64_t sx[2] = {5, 6}, sy[1] = {5}, sw1[2] = {7, 6}, sb1[1] = {7}, sw2[2] = {3, 7}, sb2[1] = {3};
  int32_t labels[5] = {0, 2, 1, 2, 0};
  adj_tensor in[AOTNET_NUM_INPUTS], par[AOTNET_NUM_PARAMS], grads[AOTNET_NUM_GRADS];
  in[0] = tensor(floats(0, 30), sx, 2, ADJ_F32);
  in[1] = tensor(labels, sy, 1, ADJ_I32);
  par[0] = tensor(floats(1, 42), sw1, 2, ADJ_F32);
  par[1] = tensor(floats(2, 7), sb1, 1, ADJ_F32);
  par[2] = tensor(floats(3, 21), sw2, 2, ADJ_F32);
  par[3] = tensor(floats(4, 3), sb2, 1, ADJ_F32);
  long sizes[4] = {42, 7, 21, 3};
  for (int i = 0; i < 4; ++i)
    grads[i] = tensor(malloc(sizeof(float) * sizes[i]), par[i].shape, par[i].rank, ADJ_F32);
  void *ws = aligned_alloc(64, (size_t)((aotnet_workspace_size(&dims) + 63) / 64 * 64));
  printf("loss %.17g\n", aotnet_grad(in, par, grads, &dims, ws));
  for (int i = 0; i < 4; ++i)
    for (long j = 0; j < sizes[i]; ++j) printf("g%d %.9g\n", i, ((float *)grads[i].data)[j]);

  int64_t sa[2] = {4, 5}, sw[2] = {5, 3}, so[2] = {4, 3};
  float y[12];
  adj_tensor ain = tensor(floats(5, 20), sa, 2, ADJ_F32), wpar = tensor(floats(6, 15), sw, 2, ADJ_F32);
  adj_tensor out = tensor(y, so, 2, ADJ_F32);
  void *ws2 = aligned_alloc(64, (size_t)((aotsq_workspace_size(NULL) + 63) / 64 * 64 + 64));
  aotsq_forward(&ain, &wpar, &out, NULL, ws2);
  for (int i = 0; i < 12; ++i) printf("y %.9g\n", y[i]);
  return 0;
}
)";

Tensor filled(ElemType t, std::vector<int64_t> shape, int which) {
  Tensor x = Tensor::zeros(t, shape);
  for (int64_t i = 0; i < x.numel(); ++i) {
    if (t == ElemType::f32)
      x.data<float>()[i] = static_cast<float>(value(which, i));
    else
      x.data<double>()[i] = value(which, i);
  }
  return x;
}

bool have_cc() { return std::system("command -v cc >/dev/null 2>&1") == 0; }

}  // namespace

TEST_CASE("adjc compile: a C program linking two models gets the JIT's results", "[aot][cli]") {
  if (!have_cc()) {
    WARN("no C compiler 'cc' on this machine; the AOT object is not linked");
    return;
  }
  fs::path dir = temp_dir("aot");
  std::ofstream(dir / "aotnet.adj") << kNet;
  std::ofstream(dir / "aotsq.adj") << kSquare;
  std::ofstream(dir / "prog.c") << kProgram;
  for (const char* name : {"aotnet", "aotsq"}) {
    fs::path base = dir / name;
    AdjcRun r = run_adjc({"compile", base.string() + ".adj", "-o", base.string() + ".o", "--header",
                          base.string() + ".h"});
    INFO(r.err);
    REQUIRE(r.status == 0);
  }
  std::string header = slurp((dir / "aotnet.h").string());
  CHECK_THAT(header, Contains("double aotnet_grad(") && Contains("void aotnet_forward(") &&
                         Contains("AOTNET_NUM_GRADS = 4") && Contains("[1] y  i32[B]"));

  std::string include = (fs::path(ADJOINT_SOURCE_DIR) / "runtime" / "include").string();
  std::string cmd = "cc -std=c11 -Wall -Werror -I'" + include + "' -I'" + dir.string() + "' '" +
                    (dir / "prog.c").string() + "' '" + (dir / "aotnet.o").string() + "' '" +
                    (dir / "aotsq.o").string() + "' '" + ADJOINT_RUNTIME_LIB +
                    "' -lstdc++ -lm -lpthread -o '" + (dir / "prog").string() + "' 2>'" +
                    (dir / "cc.txt").string() + "'";
  int rc = std::system(cmd.c_str());
  INFO(slurp((dir / "cc.txt").string()));
  REQUIRE(rc == 0);
  rc = std::system(
      ("'" + (dir / "prog").string() + "' >'" + (dir / "out.txt").string() + "'").c_str());
  REQUIRE(rc == 0);

  // The same numbers through the JIT.
  Compiler cc(CompileOptions{.cache = false});
  Model net = cc.compile_string(kNet, "aotnet.adj");
  Tensor x = filled(ElemType::f32, {5, 6}, 0);
  Tensor y = Tensor::zeros(ElemType::i32, {5});
  int32_t labels[5] = {0, 2, 1, 2, 0};
  for (int i = 0; i < 5; ++i) y.data<int32_t>()[i] = labels[i];
  Params p;
  const char* names[4] = {"W1", "b1", "W2", "b2"};
  std::vector<std::vector<int64_t>> shapes = {{7, 6}, {7}, {3, 7}, {3}};
  for (int i = 0; i < 4; ++i) p.set(names[i], filled(ElemType::f32, shapes[size_t(i)], i + 1));
  Grads g = net.make_grads({{"x", x}, {"y", y}});
  double loss = net.grad({{"x", x}, {"y", y}}, p, g);
  Model sq = cc.compile_string(kSquare, "aotsq.adj");
  Params ps;
  ps.set("W", filled(ElemType::f32, {5, 3}, 6));
  Outputs out = sq.forward({{"a", filled(ElemType::f32, {4, 5}, 5)}}, ps);

  std::ifstream in(dir / "out.txt");
  std::string key;
  double v = 0;
  std::vector<int64_t> seen(4, 0);
  int64_t ys = 0, lines = 0;
  while (in >> key >> v) {
    ++lines;
    if (key == "loss") {
      CHECK(v == Approx(loss).epsilon(1e-6));
    } else if (key == "y") {
      CHECK(v == Approx(out["y"].data<float>()[ys++]).epsilon(1e-6).margin(1e-7));
    } else {
      int i = key[1] - '0';
      float want = g[names[i]].data<float>()[seen[size_t(i)]++];
      CHECK(v == Approx(want).epsilon(1e-5).margin(1e-7));
    }
  }
  CHECK(lines == 1 + 42 + 7 + 21 + 3 + 12);
  CHECK(ys == 12);
  fs::remove_all(dir);
}

TEST_CASE("adjc compile: usage, names and errors", "[aot][cli]") {
  fs::path dir = temp_dir("aot_bad");
  std::ofstream(dir / "my-net.adj") << "input x : f32[3]\nparam w : f32[3]\ny = x * w\noutput y\n";
  AdjcRun r = run_adjc({"compile", (dir / "my-net.adj").string()});
  CHECK(r.status == 2);
  CHECK_THAT(r.err, Contains("-o"));
  r = run_adjc({"compile", (dir / "my-net.adj").string(), "-o", (dir / "m.o").string(), "--header",
                (dir / "m.o").string()});
  CHECK(r.status == 2);
  CHECK_THAT(r.err, Contains("the same file"));
  // Without `model NAME` the file's stem names the model, made an identifier.
  r = run_adjc({"compile", (dir / "my-net.adj").string(), "-o", (dir / "m.o").string(), "--header",
                (dir / "m.h").string()});
  CHECK(r.status == 0);
  CHECK_THAT(slurp((dir / "m.h").string()), Contains("void my_net_forward("));
  // Compile errors are diagnostics, and nothing is written.
  std::ofstream(dir / "bad.adj") << "input x : f32[2, 3]\ny = x @ x\noutput y\n";
  r = run_adjc({"compile", (dir / "bad.adj").string(), "-o", (dir / "bad.o").string()});
  CHECK(r.status == 1);
  CHECK_THAT(r.err, Contains("bad.adj:2:"));
  CHECK_FALSE(fs::exists(dir / "bad.o"));
  fs::remove_all(dir);
}
