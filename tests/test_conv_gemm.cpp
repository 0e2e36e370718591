// The conv ops in native code (im2col + generated GEMM, or direct loops for
// tiny sizes) against the reference evaluator: conv2d, conv2d_bwd_data and
// conv2d_bwd_filter over strides, paddings, channel counts, non-square
// kernels and images and batches that fill one block of images, several, or
// part of one; f64 and f32 within a rounding bound; and the same bits for
// 1, 2 and 3 threads.
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

using namespace adjoint;

namespace {

struct ConvCase {
  int64_t c, h, w, k, r, s, stride, pad;
  std::vector<int64_t> batches;  // each run on one compiled model (the batch is a symbol)
  int64_t ho() const { return (h + 2 * pad - r) / stride + 1; }
  int64_t wo() const { return (w + 2 * pad - s) / stride + 1; }
};

// x [B,C,H,W], w [K,C,R,S], dy [B,K,Ho,Wo] as shapes with the symbol B.
struct Shapes {
  Shape x, w, y;
};

Shapes shapes(const ConvCase& c) {
  Dim b = Dim::symbol("B");
  return {{b, c.c, c.h, c.w}, {c.k, c.c, c.r, c.s}, {b, c.k, c.ho(), c.wo()}};
}

// The operand shapes of `op` and its attributes.
std::pair<std::vector<Shape>, Attrs> operands(OpKind op, const ConvCase& c) {
  Shapes s = shapes(c);
  Attrs a{{"stride", c.stride}, {"pad", c.pad}};
  if (op == OpKind::conv2d) return {{s.x, s.w}, a};
  if (op == OpKind::conv2d_bwd_data) {
    a.set("in_h", c.h);
    a.set("in_w", c.w);
    return {{s.y, s.w}, a};
  }
  a.set("kh", c.r);
  a.set("kw", c.s);
  return {{s.x, s.y}, a};
}

// A graph with inputs a0, a1 and output y = op(a0, a1).
Graph op_graph(OpKind op, const ConvCase& c, DType ft) {
  auto [shapes, attrs] = operands(op, c);
  return testing::single_op_graph("conv_gemm", op, shapes, attrs, ft);
}

TensorMap random_leaves(OpKind op, const ConvCase& c, DType ft, int64_t n, std::mt19937& rng) {
  return testing::single_op_leaves(operands(op, c).first, ft, n, rng);
}

TensorMap absolute(TensorMap leaves) {
  for (auto& [name, t] : leaves)
    for (double& v : t.data) v = std::fabs(v);
  return leaves;
}

// The most terms any element of op's result sums.
int64_t max_terms(OpKind op, const ConvCase& c, int64_t n) {
  if (op == OpKind::conv2d) return c.c * c.r * c.s;
  if (op == OpKind::conv2d_bwd_data) return c.k * c.r * c.s;
  return n * c.ho() * c.wo();
}

// Native y against the reference: each element within a rounding bound of
// its sum of |terms| (the reference evaluated on |operands|).
void check_case(OpKind op, const ConvCase& c, DType ft, const std::shared_ptr<Jit>& jit,
                std::mt19937& rng) {
  Graph g = op_graph(op, c, ft);
  NativeModel m = NativeModel::compile(g, jit);
  double unit = ft == DType::f32 ? 6e-8 : 1.2e-16;
  for (int64_t n : c.batches) {
    INFO(op_name(op) << " " << dtype_name(ft) << " batch " << n << ", C " << c.c << " H " << c.h
                     << " W " << c.w << " K " << c.k << " R " << c.r << " S " << c.s << " stride "
                     << c.stride << " pad " << c.pad);
    TensorMap leaves = random_leaves(op, c, ft, n, rng);
    DTensor got = m.forward(leaves).at("y");
    DTensor want = evaluate_results(g, leaves).at("y");
    DTensor mag = evaluate_results(g, absolute(leaves)).at("y");
    REQUIRE(got.shape == want.shape);
    double bound = 2.0 * unit * static_cast<double>(max_terms(op, c, n) + 2);
    for (size_t i = 0; i < want.size(); ++i) {
      double tol = bound * mag[i] + 1e-300;
      if (!(std::fabs(got[i] - want[i]) <= tol))
        FAIL("element " << i << ": native " << got[i] << ", reference " << want[i] << " (tolerance "
                        << tol << ")");
    }
  }
}

// Strides 1 and 2, padding 0 to 2, C = 1 and C > 1, non-square kernels and
// images; batches of one image, part of a block, whole blocks and several
// blocks (a block is 1024 / (Ho*Wo) images, at least one); and sizes small
// enough at batch 1 for the direct loops.
const std::vector<ConvCase> kCases = {
    {1, 28, 28, 8, 5, 5, 1, 0, {0, 1, 3, 11}},  // examples/cnn.adj's first conv: one image a block
                                                // (11 blocks: 4 lanes of 3, 3, 3 and 2;
                                                // 0 images: no block)
    {8, 12, 12, 16, 5, 5, 1, 0, {1, 5, 17}},    // its second: 16 images a block
    {3, 9, 7, 4, 3, 2, 2, 1, {1, 2, 6}},
    {2, 6, 10, 3, 2, 3, 1, 2, {1, 4}},
    {2, 10, 10, 3, 3, 3, 1, 1, {1, 10, 23}},  // 10 images a block: 3 blocks at 23
    {1, 36, 36, 2, 3, 3, 1, 1, {1, 3}},       // Ho*Wo > 1024
    {3, 11, 8, 5, 3, 3, 2, 0, {2, 7}},
    {1, 4, 4, 1, 3, 3, 1, 0, {1, 2, 30}},  // 36 multiply-adds an image: loops, then GEMM
    {2, 5, 5, 3, 3, 3, 2, 2, {1, 70}},     // 64 images a block, and more
};

const OpKind kOps[] = {OpKind::conv2d, OpKind::conv2d_bwd_data, OpKind::conv2d_bwd_filter};

}  // namespace

TEST_CASE("native conv ops match the reference evaluator within rounding", "[conv_gemm]") {
  auto jit = std::make_shared<Jit>();
  std::mt19937 rng(17);
  for (DType ft : {DType::f64, DType::f32})
    for (OpKind op : kOps)
      for (const ConvCase& c : kCases) check_case(op, c, ft, jit, rng);
}

TEST_CASE("native conv ops are the same bits for 1, 2 and 3 threads", "[conv_gemm][threads]") {
  auto jit = std::make_shared<Jit>();
  std::mt19937 rng(23);
  // Blocks of 16 images whose products are large enough for the thread
  // pool, and 13 blocks of one image, spread over the lanes.
  for (const ConvCase& c :
       {ConvCase{8, 12, 12, 16, 5, 5, 1, 0, {40}}, ConvCase{1, 28, 28, 8, 5, 5, 1, 2, {13}}})
    for (OpKind op : kOps) {
      INFO(op_name(op) << " C " << c.c << " batch " << c.batches[0]);
      NativeModel m = NativeModel::compile(op_graph(op, c, DType::f32), jit);
      TensorMap leaves = random_leaves(op, c, DType::f32, c.batches[0], rng);
      CHECK(testing::thread_count_difference([&] { return m.forward(leaves); }) == "");
    }
}

TEST_CASE("conv2d and conv2d_bwd_data are emitted as lanes of image blocks", "[conv_gemm]") {
  // The comparisons above would pass with the serial block loop too.
  const ConvCase& c = kCases[0];
  for (OpKind op : {OpKind::conv2d, OpKind::conv2d_bwd_data}) {
    INFO(op_name(op));
    CHECK(emit_llvm_ir(op_graph(op, c, DType::f32)).find("@" + op_name(op) + ".lane(") !=
          std::string::npos);
  }
}
