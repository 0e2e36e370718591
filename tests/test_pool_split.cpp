// The lowerings that run as slices of the batch on the thread pool
// (codegen/lower_batch_split.cpp), pooling and elementwise trees, against
// the reference evaluator: batches of one slice, of several with a short
// last one, and large enough for the pool; overlapping windows; leaves that
// are sliced and leaves read whole; f64 and f32; and the same bits for 1, 2
// and 3 threads.
#include <adjoint/adjoint.hpp>
#include <catch2/catch.hpp>
#include <cmath>
#include <memory>
#include <random>
#include <string>
#include <vector>

#include "codegen/native.hpp"
#include "ir/builder.hpp"
#include "jit/jit.hpp"
#include "ops/op_table.hpp"
#include "support/native_check.hpp"
#include "test_api_support.hpp"

using namespace adjoint;

namespace {

struct PoolCase {
  int64_t c, h, w, size, stride;
  std::vector<int64_t> batches;  // each run on one compiled model (the batch is a symbol)
  int64_t ho() const { return (h - size) / stride + 1; }
  int64_t wo() const { return (w - size) / stride + 1; }
};

// The operand shapes of `op` (x [B,C,H,W], pooled [B,C,Ho,Wo]) and its attributes.
std::pair<std::vector<Shape>, Attrs> operands(OpKind op, const PoolCase& c) {
  Dim b = Dim::symbol("B");
  Shape x{b, c.c, c.h, c.w}, y{b, c.c, c.ho(), c.wo()};
  Attrs a{{"size", c.size}, {"stride", c.stride}};
  switch (op) {
    case OpKind::maxpool2d:
    case OpKind::avgpool2d:
      return {{x}, a};
    case OpKind::maxpool2d_bwd:
      return {{x, y}, a};
    case OpKind::maxpool2d_select:
      return {{x, x}, a};
    default:  // avgpool2d_bwd
      a.set("in_h", c.h);
      a.set("in_w", c.w);
      return {{y}, a};
  }
}

// A graph with inputs a0, a1, ... and output y = op(a0, ...).
Graph op_graph(OpKind op, const PoolCase& c, DType ft) {
  auto [shapes, attrs] = operands(op, c);
  return testing::single_op_graph("pool_split", op, shapes, attrs, ft);
}

// Operands for batch n (testing::single_op_leaves) with a few ties, so that
// which maximum of a window is taken matters.
TensorMap random_leaves(OpKind op, const PoolCase& c, DType ft, int64_t n, std::mt19937& rng) {
  TensorMap leaves = testing::single_op_leaves(operands(op, c).first, ft, n, rng);
  for (auto& [name, t] : leaves)
    for (size_t k = 0; k + 1 < t.data.size(); k += 7) t.data[k + 1] = t.data[k];
  return leaves;
}

const OpKind kOps[] = {OpKind::maxpool2d, OpKind::maxpool2d_bwd, OpKind::maxpool2d_select,
                       OpKind::avgpool2d, OpKind::avgpool2d_bwd};

// Batch 150 of 3x20x20 images gives results of 45,000 and 180,000
// elements, past the size from which the slices run on the pool, in 6 and
// 22 slices whose last one is short; 5 images are one slice. Batch 230 of
// the second case: 36,800 and 164,220 elements, 5 and 20 slices.
const std::vector<PoolCase> kCases = {
    {3, 20, 20, 2, 2, {0, 5, 150}}, {2, 21, 17, 3, 2, {4, 230}},  // overlapping windows, odd sizes
};

}  // namespace

TEST_CASE("pooling in slices of the batch matches the reference evaluator", "[pool_split]") {
  auto jit = std::make_shared<Jit>();
  std::mt19937 rng(29);
  for (DType ft : {DType::f64, DType::f32})
    for (OpKind op : kOps)
      for (const PoolCase& c : kCases) {
        NativeModel m = NativeModel::compile(op_graph(op, c, ft), jit);
        Graph g = op_graph(op, c, ft);
        for (int64_t n : c.batches) {
          INFO(op_name(op) << " " << dtype_name(ft) << " batch " << n << ", C " << c.c << " H "
                           << c.h << " W " << c.w << " size " << c.size << " stride " << c.stride);
          TensorMap leaves = random_leaves(op, c, ft, n, rng);
          DTensor got = m.forward(leaves).at("y");
          DTensor want = evaluate_results(g, leaves).at("y");
          REQUIRE(got.shape == want.shape);
          // Max pooling moves values; averages and the sums of overlapping
          // windows round (9 terms at most).
          double tol = ft == DType::f32 ? 1e-6 : 1e-15;
          for (size_t i = 0; i < want.size(); ++i)
            if (!(std::fabs(got[i] - want[i]) <= tol))
              FAIL("element " << i << ": native " << got[i] << ", reference " << want[i]);
        }
      }
}

TEST_CASE("pooling in slices of the batch is the same bits for 1, 2 and 3 threads",
          "[pool_split][threads]") {
  auto jit = std::make_shared<Jit>();
  std::mt19937 rng(31);
  const PoolCase& c = kCases[1];
  for (OpKind op : kOps) {
    INFO(op_name(op));
    NativeModel m = NativeModel::compile(op_graph(op, c, DType::f32), jit);
    TensorMap leaves = random_leaves(op, c, DType::f32, 230, rng);
    CHECK(testing::thread_count_difference([&] { return m.forward(leaves); }) == "");
  }
}

namespace {

// Elementwise trees over a batch of 3x30x30 images: leaves of the result's
// shape (sliced with it), one with a batch size of 1, [C,1,1] and [W] ones
// (read whole), a constant. Batch 40 gives 144,000 elements in 14 slices of
// 3 images and a last one of 1, on the pool; batch 3 is one slice.
constexpr const char* kPointwise = R"(model pointwise
input x : f64[B, 3, 30, 30]
input s : f64[1, 3, 30, 30]
param c : f64[3, 1, 1] = 0.5
param d : f64[30] = 0.25
y = tanh(x * s + c) * d - 2 * relu(x)
loss = sum(y * y)
minimize loss
output y
)";

TensorMap pointwise_results(const Model& m, const Inputs& in, const Params& p) {
  Grads g = m.make_grads(in);
  double loss = m.grad(in, p, g);
  TensorMap got = apitest::to_map(g, "grad.");
  got["loss"] = DTensor({}, loss);
  for (const auto& [name, t] : apitest::to_map(m.forward(in, p)))
    if (name != "loss") got[name] = t;
  return got;
}

}  // namespace

TEST_CASE("elementwise trees in slices of the batch match the reference evaluator",
          "[pool_split]") {
  Compiler cc;
  Model m = cc.compile_string(kPointwise);
  for (int64_t batch : {0, 3, 40}) {
    INFO("batch " << batch);
    Inputs in = apitest::random_inputs(m, batch, 7);
    Params p = m.init_params(7);
    testing::Comparison c = testing::compare_results(
        pointwise_results(m, in, p), apitest::reference_results(kPointwise, in, p), 1e-12);
    INFO(c.report);
    CHECK(c.ok);
  }
}

TEST_CASE("elementwise trees in slices of the batch are the same bits for 1, 2 and 3 threads",
          "[pool_split][threads]") {
  std::string text = kPointwise;
  for (size_t at = text.find("f64"); at != std::string::npos; at = text.find("f64", at))
    text.replace(at, 3, "f32");
  Compiler cc;
  Model m = cc.compile_string(text);
  Inputs in = apitest::random_inputs(m, 40, 9);
  Params p = m.init_params(9);
  CHECK(testing::thread_count_difference([&] { return pointwise_results(m, in, p); }) == "");
}

TEST_CASE("pooling, elementwise trees and convolutions are emitted as tasks over the batch",
          "[pool_split]") {
  // The tests above would pass with the one-loop lowerings too; these
  // check that the split ones are what code generation emits.
  for (OpKind op : kOps) {
    std::string ir = emit_llvm_ir(op_graph(op, kCases[0], DType::f32));
    INFO(op_name(op));
    CHECK(ir.find("@" + op_name(op) + ".slice(") != std::string::npos);
  }
  Graph g;
  g.model = "tree";
  g.float_type = DType::f32;
  Builder b(g);
  ValueId x =
      b.make(OpKind::input, {},
             Attrs{{"name", "x"}, {"dtype", "f32"}, {"shape", Shape{Dim::symbol("B"), 4, 8, 8}}});
  g.outputs.push_back({"y", b.make(OpKind::tanh, {x}, {})});
  CHECK(emit_llvm_ir(g).find("@tanh.slice(") != std::string::npos);
}

TEST_CASE("the thread-count comparison sees a result that depends on the thread count",
          "[pool_split][threads]") {
  // The tests above would pass if thread_count_difference never reported.
  CHECK(testing::thread_count_difference([] {
          return TensorMap{{"n", DTensor({}, static_cast<double>(num_threads()))}};
        }) == "n differs at 2 threads from 1");
  CHECK(testing::thread_count_difference([] {
          return TensorMap{{"one", DTensor({}, 1.0)}};
        }) == "");
}
