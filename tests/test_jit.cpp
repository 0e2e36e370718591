// The JIT and the compiled C ABI as a caller sees them: several models in one
// process, one model called many times, one compiled model serving every
// batch size, f32 through the raw ABI, the emitted IR, the documented
// behaviour for out-of-range labels, and the example networks end to end.
#include <unistd.h>

#include <adjoint/init.hpp>
#include <adjoint/tensor.hpp>
#include <catch2/catch.hpp>
#include <cmath>
#include <filesystem>
#include <fstream>
#include <map>
#include <random>
#include <sstream>

#include "api/init_plan.hpp"
#include "autodiff/reverse_mode.hpp"
#include "codegen/native.hpp"
#include "frontend/frontend.hpp"
#include "ir/builder.hpp"
#include "jit/jit.hpp"
#include "passes/pipeline.hpp"
#include "support/native_check.hpp"

using namespace adjoint;
using namespace adjoint::testing;

namespace {

const Dim B = Dim::symbol("B");

ValueId leaf(Builder& b, OpKind kind, const std::string& name, DType t, Shape s) {
  return b.make(kind, {}, Attrs{{"name", name}, {"dtype", dtype_name(t)}, {"shape", std::move(s)}});
}

// A two-layer classifier on x[B,4] with labels y[B] in [0, 3), differentiated
// and optimised; output "logits".
Graph mlp(DType ft, const std::string& name = "net") {
  Graph g;
  g.model = name;
  g.float_type = ft;
  Builder b(g);
  ValueId x = leaf(b, OpKind::input, "x", ft, {B, 4});
  ValueId y = leaf(b, OpKind::input, "y", DType::i32, {B});
  ValueId w1 = leaf(b, OpKind::param, "W1", ft, {4, 8});
  ValueId b1 = leaf(b, OpKind::param, "b1", ft, {8});
  ValueId w2 = leaf(b, OpKind::param, "W2", ft, {8, 3});
  ValueId b2 = leaf(b, OpKind::param, "b2", ft, {3});
  ValueId h = b.unary(OpKind::relu, b.add(b.make(OpKind::matmul, {x, w1}), b1));
  ValueId logits = b.add(b.make(OpKind::matmul, {h, w2}), b2);
  g.loss = b.make(OpKind::mean, {b.make(OpKind::softmax_cross_entropy, {logits, y})});
  g.wrt = {"W1", "b1", "W2", "b2"};
  g.outputs = {{"logits", logits}};
  return optimize(reverse_mode(g));
}

// A different model under the same name: a tanh chain on x[B,4].
Graph chain(DType ft, const std::string& name = "net") {
  Graph g;
  g.model = name;
  g.float_type = ft;
  Builder b(g);
  ValueId x = leaf(b, OpKind::input, "x", ft, {B, 4});
  ValueId w = leaf(b, OpKind::param, "W", ft, {4, 4});
  ValueId a = b.unary(OpKind::tanh, b.make(OpKind::matmul, {x, w}));
  g.loss = b.make(OpKind::sum, {b.mul(a, a)});
  g.wrt = {"W", "x"};
  g.outputs = {{"a", a}};
  return optimize(reverse_mode(g));
}

// Random values for every leaf of g: floats in [-1, 1] (exact in f32), i32
// leaves (labels, indices) below `index_bound`, size symbols bound to `size`.
TensorMap random_leaves(const Graph& g, int64_t size, uint64_t seed, int64_t index_bound = 3) {
  std::mt19937_64 rng(seed);
  std::uniform_real_distribution<double> u(-1, 1);
  std::uniform_int_distribution<int64_t> ix(0, index_bound - 1);
  DimEnv env;
  for (const std::string& s : g.size_symbols()) env[s] = size;
  TensorMap leaves;
  for (ValueId v = 0; v < g.size(); ++v) {
    const Node& n = g.node(v);
    if (!is_leaf(n.op)) continue;
    DTensor t(eval_shape(n.type.shape, env));
    for (double& x : t.data)
      x = n.type.dtype == DType::i32 ? static_cast<double>(ix(rng))
                                     : static_cast<double>(static_cast<float>(u(rng)));
    leaves[n.attrs.get_str("name")] = t;
  }
  return leaves;
}

double tolerance(DType ft) { return ft == DType::f64 ? 1e-12 : 1e-5; }

// Sets each param of `ir` in `leaves` as the model's own initialiser draws it
// (f32 values, held exactly in the doubles). With every param uniform on
// [-1, 1] instead, a deep network's f32 sums of hundreds of large terms
// cancel down to small logits, and their rounding, not the code, decides
// whether a fixed relative tolerance holds.
void use_initialisers(const Graph& ir, TensorMap& leaves) {
  for (ValueId p : ir.params()) {
    DTensor& d = leaves.at(ir.node(p).attrs.get_str("name"));
    Tensor t = Tensor::f32(d.shape);
    init_tensor(t, api::init_spec_of(ir, p), 7, static_cast<uint64_t>(p));
    const float* v = t.data<float>();
    for (size_t i = 0; i < d.data.size(); ++i) d.data[i] = v[i];
  }
}

void check_matches_reference(const NativeModel& m, const TensorMap& leaves) {
  Comparison c = compare_results(run_native(m, leaves), evaluate_results(m.graph(), leaves),
                                 tolerance(m.graph().float_type));
  INFO(c.report);
  CHECK(c.ok);
}

}  // namespace

TEST_CASE("one compiled model serves every batch size", "[jit]") {
  for (DType ft : {DType::f64, DType::f32}) {
    NativeModel m = NativeModel::compile(mlp(ft));
    for (int64_t batch : {1, 3, 64, 0}) {  // 0: empty loops, a NaN mean on both sides
      INFO(dtype_name(ft) << " B=" << batch);
      TensorMap leaves = random_leaves(m.graph(), batch, 7 + static_cast<uint64_t>(batch));
      check_matches_reference(m, leaves);
      CHECK(m.dims_for(leaves) == std::vector<int64_t>{batch});
    }
    // The workspace grows with the batch.
    int64_t one = 1, many = 64;
    adj_dims d1{&one, 1}, d64{&many, 1};
    CHECK(m.workspace_size_fn()(&d64) > m.workspace_size_fn()(&d1));
    CHECK(m.workspace_size_fn()(&d1) % 64 == 0);
  }
}

TEST_CASE("two models with the same name live in one process", "[jit]") {
  auto jit = std::make_shared<Jit>();
  NativeModel a = NativeModel::compile(mlp(DType::f64), jit);
  NativeModel b = NativeModel::compile(chain(DType::f64), jit);
  NativeModel c = NativeModel::compile(chain(DType::f64));  // a JIT of its own
  TensorMap la = random_leaves(a.graph(), 5, 1);
  TensorMap lb = random_leaves(b.graph(), 5, 2);
  check_matches_reference(a, la);
  check_matches_reference(b, lb);
  check_matches_reference(c, lb);
  {
    NativeModel moved = std::move(b);  // movable; freeing one model leaves the others
    check_matches_reference(moved, lb);
  }
  check_matches_reference(a, la);
  NativeModel d = NativeModel::compile(chain(DType::f64), jit);  // same symbols again
  check_matches_reference(d, lb);
}

TEST_CASE("one model called many times gives the same answers", "[jit]") {
  NativeModel m = NativeModel::compile(mlp(DType::f32));
  TensorMap leaves = random_leaves(m.graph(), 16, 3);
  TensorMap first = run_native(m, leaves);
  for (int i = 0; i < 300; ++i) {
    TensorMap again = run_native(m, leaves);
    REQUIRE(again.size() == first.size());
    for (const auto& [name, t] : first) REQUIRE(again.at(name).data == t.data);
  }
  check_matches_reference(m, random_leaves(m.graph(), 16, 4));
}

TEST_CASE("an f32 model called through the raw C ABI", "[jit]") {
  NativeModel m = NativeModel::compile(chain(DType::f32, "raw"));
  // x[2,4], W[4,4]; loss = sum(tanh(x @ W)^2).
  std::vector<float> x = {0.5f, -0.25f, 1, 0, -1, 0.75f, 0.125f, 2};
  std::vector<float> w(16);
  for (size_t i = 0; i < w.size(); ++i) w[i] = 0.1f * static_cast<float>(i % 5) - 0.2f;
  int64_t xs[] = {2, 4}, ws[] = {4, 4};
  adj_tensor inputs[] = {{x.data(), xs, 2, ADJ_F32}};
  adj_tensor params[] = {{w.data(), ws, 2, ADJ_F32}};
  std::vector<float> gw(16), gx(8), a(8);
  adj_tensor grads[] = {{gw.data(), ws, 2, ADJ_F32}, {gx.data(), xs, 2, ADJ_F32}};
  int64_t batch = 2;
  adj_dims dims{&batch, 1};
  std::vector<std::byte> workspace(static_cast<size_t>(m.workspace_size_fn()(&dims)) + 64);
  void* ws_ptr = workspace.data() + (64 - reinterpret_cast<uintptr_t>(workspace.data()) % 64) % 64;
  double loss = m.grad_fn()(inputs, params, grads, &dims, ws_ptr);

  double want = 0;
  for (int r = 0; r < 2; ++r)
    for (int j = 0; j < 4; ++j) {
      double s = 0;
      for (int k = 0; k < 4; ++k) s += static_cast<double>(x[r * 4 + k]) * w[k * 4 + j];
      want += std::tanh(s) * std::tanh(s);
    }
  CHECK(loss == Approx(want).epsilon(1e-5));
  float out_loss = 0;
  adj_tensor outputs[] = {{a.data(), xs, 2, ADJ_F32}, {&out_loss, nullptr, 0, ADJ_F32}};
  m.forward_fn()(inputs, params, outputs, &dims, ws_ptr);
  CHECK(out_loss == Approx(want).epsilon(1e-5));
  CHECK(a[0] == Approx(std::tanh(0.5 * w[0] - 0.25 * w[4] + 1 * w[8])).epsilon(1e-5));
}

TEST_CASE("the emitted LLVM IR has the C ABI and passes the verifier", "[jit]") {
  Graph g = mlp(DType::f32, "mlp");
  CHECK(verify_llvm(g).empty());
  std::string ir = emit_llvm_ir(g);
  CHECK(ir.find("define i64 @mlp_workspace_size(ptr") != std::string::npos);
  CHECK(ir.find("define double @mlp_grad(ptr") != std::string::npos);
  CHECK(ir.find("define void @mlp_forward(ptr") != std::string::npos);
  std::string opt = emit_llvm_ir(g, true);
  CHECK(opt.find("define double @mlp_grad(") != std::string::npos);
  CHECK(opt.find("target triple") != std::string::npos);

  // A graph with no loss has no m_grad.
  Graph fwd;
  fwd.model = "inference";
  fwd.float_type = DType::f64;
  Builder b(fwd);
  ValueId x = leaf(b, OpKind::input, "x", DType::f64, {B, 3});
  fwd.outputs = {{"y", b.unary(OpKind::sigmoid, x)}};
  std::string text = emit_llvm_ir(fwd);
  CHECK(text.find("@inference_grad") == std::string::npos);
  NativeModel m = NativeModel::compile(fwd);
  CHECK_FALSE(m.has_grad());
  check_matches_reference(m, random_leaves(fwd, 4, 5));
  CHECK_THROWS_AS(m.grad(random_leaves(fwd, 4, 5)), Error);
}

TEST_CASE("out-of-range labels and indices give NaN, not a crash", "[jit]") {
  NativeModel m = NativeModel::compile(mlp(DType::f64));
  TensorMap leaves = random_leaves(m.graph(), 4, 6);
  leaves["y"].data = {0, 2, 3, -1};  // 3 and -1 are outside [0, 3)
  TensorMap r = m.grad(leaves);
  CHECK(std::isnan(r.at("loss")[0]));
  CHECK(std::isnan(r.at("grad.W2")[0]));
  CHECK_THROWS_AS(evaluate_results(m.graph(), leaves), Error);  // the reference says why

  // gather: a NaN row for a bad index, the others intact.
  Graph g;
  g.model = "lookup";
  g.float_type = DType::f64;
  Builder b(g);
  ValueId table = leaf(b, OpKind::param, "E", DType::f64, {3, 2});
  ValueId idx = leaf(b, OpKind::input, "i", DType::i32, {2});
  g.outputs = {{"rows", b.make(OpKind::gather, {table, idx})},
               {"idx", idx},
               {"column", b.reshape(idx, {2, 1})}};
  NativeModel look = NativeModel::compile(g);
  TensorMap out =
      look.forward({{"E", DTensor({3, 2}, {1, 2, 3, 4, 5, 6})}, {"i", DTensor({2}, {2, 7})}});
  const DTensor& rows = out.at("rows");
  CHECK(rows[0] == 5);
  CHECK(rows[1] == 6);
  CHECK(std::isnan(rows[2]));
  CHECK(std::isnan(rows[3]));
  CHECK(out.at("idx").data == std::vector<double>{2, 7});  // i32 results come back as written
  CHECK(out.at("column").shape == Dims{2, 1});
  CHECK(out.at("column").data == std::vector<double>{2, 7});
}

TEST_CASE("a size that no input binds is an error at compile time", "[jit]") {
  Graph g;
  g.model = "unbound";
  g.float_type = DType::f64;
  Builder b(g);
  ValueId x = leaf(b, OpKind::input, "x", DType::f64, {3});
  ValueId w = leaf(b, OpKind::param, "W", DType::f64, {Dim::symbol("H"), 3});
  g.outputs = {{"y", b.add(w, x)}};
  CHECK_THROWS_AS(NativeModel::compile(g), Error);
}

TEST_CASE("the example networks run natively as the reference does", "[jit]") {
  namespace fs = std::filesystem;
  int compiled = 0;
  for (const auto& entry : fs::directory_iterator(fs::path(ADJOINT_SOURCE_DIR) / "examples")) {
    if (entry.path().extension() != ".adj") continue;
    std::ifstream in(entry.path());
    std::stringstream text;
    text << in.rdbuf();
    SourceManager sm;
    uint32_t file = sm.add(entry.path().filename().string(), text.str());
    Diagnostics diags(sm);
    std::optional<Graph> g = compile_source(sm, file, diags);
    if (!g) {
      WARN(entry.path().filename().string() << " does not compile yet:\n" << diags.text());
      continue;
    }
    INFO(entry.path().filename().string());
    Graph full = g->loss ? optimize(reverse_mode(*g)) : optimize(*g);
    NativeModel m = NativeModel::compile(full);
    TensorMap leaves = random_leaves(full, 2, 11, 1);
    use_initialisers(*g, leaves);
    check_matches_reference(m, leaves);
    ++compiled;
  }
  WARN("ran " << compiled << " example networks natively");
}

TEST_CASE("ADJOINT_PERF_MAP names every generated function for perf", "[jit]") {
  std::string path = "/tmp/perf-" + std::to_string(getpid()) + ".map";
  std::filesystem::remove(path);
  ::setenv("ADJOINT_PERF_MAP", "1", 1);
  auto jit = std::make_shared<Jit>();  // the plugin is added when the JIT is made
  ::unsetenv("ADJOINT_PERF_MAP");
  NativeModel m = NativeModel::compile(mlp(DType::f32, "mapped"), jit);
  std::ifstream in(path);
  REQUIRE(in.good());
  std::map<std::string, uint64_t> size_of;
  std::string addr, size, name;
  while (in >> addr >> size >> name) size_of[name] = std::stoull(size, nullptr, 16);
  std::filesystem::remove(path);
  // The entry point, the internal function behind it and the GEMM library.
  CHECK(size_of["mapped_grad"] > 0);
  CHECK(size_of["mapped_grad_core"] > 0);
  CHECK(size_of["adj.gemm.kernel.f32"] > 0);
}

TEST_CASE("a large graph is emitted in parts, outlined, and computes what the reference does",
          "[jit]") {
  // 60 layers of a tanh chain sharing w: about 240 loops, far more than one
  // part (kPartNodes). Several updates run in place in the workspace.
  std::string text = "model parts\ninput x : f64[B, 8]\nparam w : f64[8]\n";
  std::string prev = "x";
  for (int i = 0; i < 60; ++i) {
    std::string a = "a" + std::to_string(i);
    text += a + " = tanh(" + prev + " * w + 0.01 * " + std::to_string(i) + ")\n";
    prev = a;
  }
  text += "output " + prev + "\nloss = mean(" + prev + " * " + prev + ")\nminimize loss\n";
  SourceManager sm;
  uint32_t file = sm.add("parts.adj", text);
  Diagnostics diags(sm);
  std::optional<Graph> g = compile_source(sm, file, diags);
  REQUIRE(g);
  Graph full = optimize(reverse_mode(*g));
  std::string ir = emit_llvm_ir(full);
  CHECK_THAT(ir, Catch::Matchers::Contains("define internal void @parts_grad_core.part(") &&
                     Catch::Matchers::Contains("define internal void @parts_forward.part("));
  NativeModel m = NativeModel::compile(full);
  for (int64_t batch : {1, 5}) {
    INFO("B=" << batch);
    check_matches_reference(m, random_leaves(full, batch, 3));
  }
}
