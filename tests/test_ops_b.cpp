// Unit tests of the shape, indexing and convolution rows: type rules (with
// their messages and symbolic sizes), reference evaluation against
// hand-computed values, the adjoint identities of the conv family, and
// gradients through symbolic slices and pads.
#include <catch2/catch.hpp>
#include <random>

#include "ir/builder.hpp"
#include "ops/op_table.hpp"
#include "support/gradcheck.hpp"
#include "support/op_rows.hpp"

using namespace adjoint;
using namespace adjoint::optest;

namespace {

Type f64(Shape s) { return Type{DType::f64, std::move(s)}; }
const Dim B2 = Dim(2) * B;  // 2*B

DTensor iota(Dims shape, double start = 1) {
  DTensor t(std::move(shape));
  for (size_t i = 0; i < t.size(); ++i) t[i] = start + static_cast<double>(i);
  return t;
}

DTensor random_tensor(Dims shape, std::mt19937_64& rng) {
  std::uniform_real_distribution<double> u(-1, 1);
  DTensor t(std::move(shape));
  for (double& x : t.data) x = u(rng);
  return t;
}

double dot(const DTensor& a, const DTensor& b) {
  REQUIRE(a.shape == b.shape);
  double s = 0;
  for (size_t i = 0; i < a.size(); ++i) s += a[i] * b[i];
  return s;
}

Attrs slice_attrs(int64_t axis, Dim begin, Dim size) {
  return {{"axis", axis}, {"begin", Shape{begin}}, {"size", Shape{size}}};
}
Attrs pad_attrs(int64_t axis, Dim before, Dim after) {
  return {{"axis", axis}, {"before", Shape{before}}, {"after", Shape{after}}};
}

}  // namespace

// --- reshape / flatten ---

TEST_CASE("reshape resolves -1, also against symbolic sizes", "[opsB]") {
  TypeResult r = infer(OpKind::reshape, {f32({B, 784})}, {{"shape", Shape{-1, 28, 28}}});
  REQUIRE(r.ok());
  CHECK(r.type == f32({B, 28, 28}));
  r = infer(OpKind::reshape, {f32({B, 28, 28})}, {{"shape", Shape{B, 784}}});
  REQUIRE(r.ok());
  CHECK(r.type == f32({B, 784}));
  // The front end writes a literal list as integers.
  r = infer(OpKind::reshape, {f32({2, 6})}, {{"shape", std::vector<int64_t>{3, -1}}});
  REQUIRE(r.ok());
  CHECK(r.type == f32({3, 4}));
  r = infer(OpKind::reshape, {i32({2, 3})}, {{"shape", Shape{6}}});
  REQUIRE(r.ok());
  CHECK(r.type == i32({6}));
  r = infer(OpKind::reshape, {f32({1})}, {{"shape", Shape{}}});
  REQUIRE(r.ok());
  CHECK(r.type == f32({}));
}

TEST_CASE("reshape errors name both shapes", "[opsB]") {
  CHECK(infer(OpKind::reshape, {f32({B, 784})}, {{"shape", Shape{-1, 27, 28}}}).error ==
        "cannot turn f32[B,784] into [-1,27,28]: 784*B elements are not a multiple of 756");
  CHECK(infer(OpKind::reshape, {f32({B, 784})}, {{"shape", Shape{B, 27, 28}}}).error ==
        "cannot turn f32[B,784] into [B,27,28]: 784*B elements != 756*B");
  CHECK(infer(OpKind::reshape, {f32({4, 6})}, {{"shape", Shape{-1, -1}}}).error ==
        "allows at most one -1 in the target shape: cannot reshape f32[4,6] into [-1,-1]");
  CHECK(infer(OpKind::reshape, {f32({4, 6})}, {{"shape", Shape{0, 24}}}).error ==
        "needs positive sizes: cannot reshape f32[4,6] into [0,24] (size 0)");
  CHECK(infer(OpKind::reshape, {f32({4, 6})}, {{"shape", Shape{-2, -12}}}).error ==
        "needs positive sizes: cannot reshape f32[4,6] into [-2,-12] (size -2)");
  CHECK_FALSE(infer(OpKind::reshape, {f32({4, 6})}).ok());
  CHECK_FALSE(infer(OpKind::reshape, {f64({4, 6})}, {{"shape", Shape{24}}}).ok());
}

TEST_CASE("reshape evaluation keeps row-major order", "[opsB]") {
  check_close(eval(OpKind::reshape, {iota({2, 3})}, {{"shape", Shape{3, -1}}}, {3, 2}),
              {1, 2, 3, 4, 5, 6});
}

TEST_CASE("flatten keeps dim 0 and is a reshape", "[opsB]") {
  CHECK(infer(OpKind::flatten, {f32({B, 3, 4, 5})}).type == f32({B, 60}));
  CHECK(infer(OpKind::flatten, {f32({B, 10})}).type == f32({B, 10}));
  CHECK(infer(OpKind::flatten, {f32({5})}).error ==
        "keeps dim 0 and merges the rest, so it needs rank >= 2, got f32[5]");
  CHECK_FALSE(infer(OpKind::flatten, {f32({})}).ok());

  Graph g;
  Builder b(g);
  ValueId x =
      b.make(OpKind::input, {}, Attrs{{"name", "x"}, {"dtype", "f32"}, {"shape", Shape{B, 2, 3}}});
  ValueId y = b.make(OpKind::flatten, {x});
  CHECK(g.node(y).op == OpKind::reshape);
  CHECK(g.type(y) == f32({B, 6}));
  ValueId x2 =
      b.make(OpKind::input, {}, Attrs{{"name", "x2"}, {"dtype", "f32"}, {"shape", Shape{B, 6}}});
  CHECK(b.make(OpKind::flatten, {x2}) == x2);  // already flat: no node
}

// --- concat / slice / pad ---

TEST_CASE("concat type rule", "[opsB]") {
  CHECK(infer(OpKind::concat, {f32({B, 4}), f32({B, 4})}).type == f32({B2, 4}));
  CHECK(infer(OpKind::concat, {f32({2, 3}), f32({2, 5})}, {{"axis", int64_t{-1}}}).type ==
        f32({2, 8}));
  CHECK(infer(OpKind::concat, {f32({B, 3}), f32({B, 5})}, {{"axis", int64_t{1}}}).type ==
        f32({B, 8}));
  CHECK(infer(OpKind::concat, {f32({2, 3}), f32({3})}).error ==
        "needs operands of the same rank: f32[2,3] and f32[3]");
  CHECK(infer(OpKind::concat, {f32({2, 3}), f32({2, 4})}).error ==
        "along axis 0 needs equal sizes in the other dims: f32[2,3] and f32[2,4] differ in dim 1 "
        "(3 != 4)");
  CHECK(infer(OpKind::concat, {f32({B, 3}), f32({2, 3})}).error ==
        "of f32[B,3] and f32[2,3] along axis 0 would have size B+2; a size must be a number "
        "times symbols, such as 3 or 2*B");
  CHECK(infer(OpKind::concat, {f32({2, 3}), f32({2, 3})}, {{"axis", int64_t{2}}}).error ==
        "axis 2 is out of range for a rank-2 operand");
  CHECK(infer(OpKind::concat, {f32({}), f32({})}).error ==
        "needs an operand of rank >= 1, got a scalar");
  CHECK_FALSE(infer(OpKind::concat, {f32({2}), i32({2})}).ok());
}

TEST_CASE("concat evaluation", "[opsB]") {
  DTensor a({2, 2}, {1, 2, 3, 4}), b({1, 2}, {5, 6}), c({2, 1}, {7, 8});
  check_close(eval(OpKind::concat, {a, b}, {{"axis", int64_t{0}}}, {3, 2}), {1, 2, 3, 4, 5, 6});
  check_close(eval(OpKind::concat, {a, c}, {{"axis", int64_t{1}}}, {2, 3}), {1, 2, 7, 3, 4, 8});
}

TEST_CASE("slice and pad type rules, symbolic included", "[opsB]") {
  CHECK(infer(OpKind::slice, {f32({5, 3})}, slice_attrs(0, 1, 3)).type == f32({3, 3}));
  CHECK(infer(OpKind::slice, {f32({B2, 3})}, slice_attrs(0, B, B)).type == f32({B, 3}));
  CHECK(infer(OpKind::slice, {f32({5, 3})}, slice_attrs(0, 3, 3)).error ==
        "range [3, 3+3) is not inside axis 0 of f32[5,3]");
  CHECK(infer(OpKind::slice, {f32({B, 3})}, slice_attrs(0, 1, 2)).error ==
        "range [1, 1+2) is not inside axis 0 of f32[B,3]");
  CHECK_FALSE(infer(OpKind::slice, {f32({5, 3})}, slice_attrs(0, 0, 0)).ok());
  CHECK_FALSE(infer(OpKind::slice, {f32({5, 3})}, slice_attrs(0, -1, 2)).ok());
  CHECK_FALSE(infer(OpKind::slice, {f32({5, 3})}, {{"axis", int64_t{0}}}).ok());

  CHECK(infer(OpKind::pad, {f32({3, 2})}, pad_attrs(0, 1, 2)).type == f32({6, 2}));
  CHECK(infer(OpKind::pad, {f32({B, 2})}, pad_attrs(0, B, 0)).type == f32({B2, 2}));
  CHECK(infer(OpKind::pad, {f32({B, 2})}, pad_attrs(0, 1, 0)).error ==
        "of f32[B,2] by 1 and 0 along axis 0 gives a size that is not a product such as 3*B");
  CHECK(infer(OpKind::pad, {f32({3})}, pad_attrs(0, -1, 0)).error ==
        "needs non-negative sizes, got before -1, after 0");
}

TEST_CASE("slice and pad evaluation", "[opsB]") {
  DTensor x({2, 3}, {1, 2, 3, 4, 5, 6});
  check_close(eval(OpKind::slice, {x}, slice_attrs(1, 1, 2), {2, 2}), {2, 3, 5, 6});
  check_close(eval(OpKind::slice, {x}, slice_attrs(-2, 1, 1), {1, 3}), {4, 5, 6});
  // A symbolic begin is recovered from the symbolic size: begin = B = 2 here.
  check_close(eval(OpKind::slice, {iota({4})}, slice_attrs(0, B, B), {2}), {3, 4});
  check_close(eval(OpKind::pad, {DTensor({1, 2}, {1, 2})}, pad_attrs(0, 1, 1), {3, 2}),
              {0, 0, 1, 2, 0, 0});
  check_close(eval(OpKind::pad, {DTensor({2, 1}, {7, 8})}, pad_attrs(1, 2, 0), {2, 3}),
              {0, 0, 7, 0, 0, 8});
  check_close(eval(OpKind::pad, {DTensor({2}, {7, 8})}, pad_attrs(0, B, 0), {4}), {0, 0, 7, 8});
}

TEST_CASE("gradients flow through concat, slice and pad on symbolic sizes", "[opsB]") {
  // loss = sum(concat(a, b) * r) with a, b : [B, 2]; the adjoints are
  // slices at symbolic offsets (0 and B) and pads back.
  Graph g;
  g.float_type = DType::f64;
  Builder b(g);
  auto leaf = [&](const char* name, Shape s) {
    return b.make(OpKind::input, {}, Attrs{{"name", name}, {"dtype", "f64"}, {"shape", s}});
  };
  ValueId a = leaf("a", {B, 2});
  ValueId c = leaf("c", {B, 2});
  ValueId r = leaf("r", {B2, 2});
  ValueId cat = b.make(OpKind::concat, {a, c});
  ValueId tail = b.make(OpKind::slice, {cat}, slice_attrs(0, B, B));
  ValueId padded = b.make(OpKind::pad, {tail}, pad_attrs(0, B, 0));
  g.loss = b.make(OpKind::sum, {b.mul(b.add(cat, padded), r)});
  g.wrt = {"a", "c"};
  std::mt19937_64 rng(5);
  TensorMap leaves = {{"a", random_tensor({3, 2}, rng)},
                      {"c", random_tensor({3, 2}, rng)},
                      {"r", random_tensor({6, 2}, rng)}};
  testing::GradCheckResult res = testing::check_gradients(g, leaves);
  INFO(res.report);
  CHECK(res.ok);
  CHECK(res.elements == 12);
}

// --- gather / scatter_add ---

TEST_CASE("gather and scatter_add type rules", "[opsB]") {
  CHECK(infer(OpKind::gather, {f32({10, 4}), i32({B})}).type == f32({B, 4}));
  CHECK(infer(OpKind::gather, {f32({10, 4}), i32({B, 3})}).type == f32({B, 3, 4}));
  CHECK(infer(OpKind::gather, {f32({10, 4}), i32({})}).type == f32({4}));
  CHECK(infer(OpKind::gather, {f32({10, 4}), f32({3})}).error == "needs i32 indices, got f32[3]");
  CHECK(infer(OpKind::gather, {f32({10}), i32({3})}).error ==
        "needs a table of rank 2 [V,D], got f32[10]");
  CHECK_FALSE(infer(OpKind::gather, {i32({10, 4}), i32({3})}).ok());

  Attrs rows = {{"rows", Shape{10}}};
  CHECK(infer(OpKind::scatter_add, {f32({B, 4}), i32({B})}, rows).type == f32({10, 4}));
  CHECK(infer(OpKind::scatter_add, {f32({2, 3, 4}), i32({2, 3})}, rows).type == f32({10, 4}));
  CHECK(infer(OpKind::scatter_add, {f32({3, 4}), i32({2})}, rows).error ==
        "needs src of shape idx's shape + [D]: src f32[3,4], idx i32[2]");
  CHECK_FALSE(infer(OpKind::scatter_add, {f32({3, 4}), i32({3})}).ok());
  CHECK_FALSE(infer(OpKind::scatter_add, {f32({3, 4}), i32({3})}, {{"rows", Shape{0}}}).ok());
}

TEST_CASE("gather and scatter_add evaluation", "[opsB]") {
  DTensor table({3, 2}, {1, 2, 3, 4, 5, 6});
  check_close(eval(OpKind::gather, {table, DTensor({3}, {2, 0, 2})}, {}, {3, 2}),
              {5, 6, 1, 2, 5, 6});
  check_close(eval(OpKind::gather, {table, DTensor({2, 1}, {1, 0})}, {}, {2, 1, 2}), {3, 4, 1, 2});
  check_close(eval(OpKind::gather, {table, DTensor({}, {1})}, {}, {2}), {3, 4});

  DTensor src({3, 2}, {1, 1, 2, 2, 3, 3});
  check_close(
      eval(OpKind::scatter_add, {src, DTensor({3}, {1, 1, 0})}, {{"rows", Shape{3}}}, {3, 2}),
      {3, 3, 3, 3, 0, 0});
}

TEST_CASE("an index outside the table is a user error naming it", "[opsB]") {
  DTensor table({3, 2}, {1, 2, 3, 4, 5, 6});
  CHECK_THROWS_WITH(eval(OpKind::gather, {table, DTensor({3}, {0, 3, 1})}, {}, {3, 2}),
                    "'gather': index 3 at idx[1] is out of range for 3 rows (valid: 0 to 2)");
  CHECK_THROWS_WITH(eval(OpKind::gather, {table, DTensor({2, 2}, {0, 1, 2, -1})}, {}, {2, 2, 2}),
                    "'gather': index -1 at idx[1,1] is out of range for 3 rows (valid: 0 to 2)");
  CHECK_THROWS_AS(
      eval(OpKind::scatter_add, {DTensor({1, 2}), DTensor({1}, {5})}, {{"rows", Shape{3}}}, {3, 2}),
      Error);
}

// --- conv2d and its adjoints ---

TEST_CASE("conv2d type rule", "[opsB]") {
  CHECK(infer(OpKind::conv2d, {f32({B, 1, 28, 28}), f32({8, 1, 5, 5})}).type ==
        f32({B, 8, 24, 24}));
  CHECK(infer(OpKind::conv2d, {f32({B, 3, 28, 28}), f32({8, 3, 3, 3})},
              {{"stride", int64_t{2}}, {"pad", int64_t{1}}})
            .type == f32({B, 8, 14, 14}));
  CHECK(infer(OpKind::conv2d, {f32({2, 2, 5, 5}), f32({3, 2, 3, 3})}, {{"stride", int64_t{2}}})
            .type == f32({2, 3, 2, 2}));  // floor((5 - 3) / 2) + 1
  CHECK(infer(OpKind::conv2d, {f32({B, 3, 28, 28}), f32({8, 1, 5, 5})}).error ==
        "needs x's channels to equal w's: x f32[B,3,28,28], w f32[8,1,5,5] (3 != 1)");
  CHECK(infer(OpKind::conv2d, {f32({1, 1, 3, 3}), f32({1, 1, 5, 5})}).error ==
        "kernel 5x5 is larger than the padded input 3x3: x f32[1,1,3,3], w f32[1,1,5,5], pad 0");
  CHECK(infer(OpKind::conv2d, {f32({1, 1, 3, 3}), f32({1, 1, 5, 5})}, {{"pad", int64_t{1}}}).ok());
  CHECK(infer(OpKind::conv2d, {f32({1, 1, 5, 5}), f32({1, 1, 3, 3})}, {{"stride", int64_t{0}}})
            .error == "needs stride >= 1, got 0");
  CHECK(
      infer(OpKind::conv2d, {f32({1, 1, 5, 5}), f32({1, 1, 3, 3})}, {{"pad", int64_t{-1}}}).error ==
      "needs pad >= 0, got -1");
  CHECK(infer(OpKind::conv2d, {f32({1, 1, 5, 5}), f32({1, 1, 3, 3})}, {{"pad", int64_t{1} << 62}})
            .error == "needs pad <= 1073741824, got 4611686018427387904");
  CHECK(infer(OpKind::conv2d, {f32({B, 784}), f32({1, 1, 3, 3})}).error ==
        "needs x of rank 4 [N,C,H,W], got f32[B,784]");
  CHECK(infer(OpKind::conv2d, {f32({1, 1, 5, 5}), f32({3, 3})}).error ==
        "needs w of rank 4 [K,C,R,S], got f32[3,3]");
  CHECK(infer(OpKind::conv2d, {f32({1, 1, B, 5}), f32({1, 1, 3, 3})}).error ==
        "needs a constant size H in x [N,C,H,W], got f32[1,1,B,5]");
  CHECK_FALSE(infer(OpKind::conv2d, {f64({1, 1, 5, 5}), f64({1, 1, 3, 3})}).ok());
}

TEST_CASE("conv2d adjoint type rules check their geometry", "[opsB]") {
  Attrs data = {
      {"stride", int64_t{1}}, {"pad", int64_t{0}}, {"in_h", int64_t{5}}, {"in_w", int64_t{5}}};
  CHECK(infer(OpKind::conv2d_bwd_data, {f32({B, 3, 3, 3}), f32({3, 2, 3, 3})}, data).type ==
        f32({B, 2, 5, 5}));
  CHECK(infer(OpKind::conv2d_bwd_data, {f32({B, 3, 2, 3}), f32({3, 2, 3, 3})}, data).error ==
        "needs sizes that give dy's: an input of 5x5 and a kernel of 3x3 give an output of 3x3, "
        "not 2x3 (stride 1, pad 0)");
  CHECK(infer(OpKind::conv2d_bwd_data, {f32({B, 3, 3, 3}), f32({3, 2, 3, 3})}, {}).error ==
        "needs an integer attribute 'in_h'");
  Attrs filter = {
      {"stride", int64_t{1}}, {"pad", int64_t{0}}, {"kh", int64_t{3}}, {"kw", int64_t{3}}};
  CHECK(infer(OpKind::conv2d_bwd_filter, {f32({B, 2, 5, 5}), f32({B, 3, 3, 3})}, filter).type ==
        f32({3, 2, 3, 3}));
  CHECK_FALSE(
      infer(OpKind::conv2d_bwd_filter, {f32({B, 2, 5, 5}), f32({4, 3, 3, 3})}, filter).ok());
}

TEST_CASE("conv2d evaluates a hand-computed example", "[opsB]") {
  // x = [[1,2,3],[4,5,6],[7,8,9]], w = [[1,0],[0,-1]]: y[i,j] = x[i,j] - x[i+1,j+1] = -4.
  DTensor x = iota({1, 1, 3, 3});
  DTensor w({1, 1, 2, 2}, {1, 0, 0, -1});
  check_close(eval(OpKind::conv2d, {x, w}, {}, {1, 1, 2, 2}), {-4, -4, -4, -4});
  // pad 1, stride 2: windows start at (-1,-1), (-1,1), (1,-1), (1,1).
  check_close(
      eval(OpKind::conv2d, {x, w}, {{"stride", int64_t{2}}, {"pad", int64_t{1}}}, {1, 1, 2, 2}),
      {-1, -3, -7, 5 - 9});
  // Channels sum: x has channel 0 all 1, channel 1 all 2; kernel 0 = (1, 1), kernel 1 = (1, -1).
  DTensor x2({1, 2, 1, 2}, {1, 1, 2, 2});
  DTensor w2({2, 2, 1, 1}, {1, 1, 1, -1});
  check_close(eval(OpKind::conv2d, {x2, w2}, {}, {1, 2, 1, 2}), {3, 3, -1, -1});
}

TEST_CASE("conv2d, bwd_data and bwd_filter are the partials of one trilinear form", "[opsB]") {
  // <conv2d(x, w), g> = <x, bwd_data(g, w)> = <w, bwd_filter(x, g)> for any x, w, g.
  struct Geometry {
    Dims x, w, y;
    int64_t stride, pad;
  };
  std::vector<Geometry> cases = {{{2, 2, 5, 5}, {3, 2, 3, 3}, {2, 3, 3, 3}, 1, 0},
                                 {{2, 2, 5, 5}, {3, 2, 3, 3}, {2, 3, 3, 3}, 2, 1},
                                 {{1, 2, 6, 5}, {2, 2, 3, 2}, {1, 2, 2, 2}, 2, 0},
                                 {{1, 1, 4, 4}, {1, 1, 3, 3}, {1, 1, 4, 4}, 1, 1}};
  std::mt19937_64 rng(3);
  for (const Geometry& c : cases) {
    DTensor x = random_tensor(c.x, rng), w = random_tensor(c.w, rng), g = random_tensor(c.y, rng);
    Attrs conv = {{"stride", c.stride}, {"pad", c.pad}};
    Attrs data = conv, filter = conv;
    data.set("in_h", c.x[2]);
    data.set("in_w", c.x[3]);
    filter.set("kh", c.w[2]);
    filter.set("kw", c.w[3]);
    double t = dot(eval(OpKind::conv2d, {x, w}, conv, c.y), g);
    CHECK(dot(x, eval(OpKind::conv2d_bwd_data, {g, w}, data, c.x)) == Approx(t).epsilon(1e-12));
    CHECK(dot(w, eval(OpKind::conv2d_bwd_filter, {x, g}, filter, c.w)) == Approx(t).epsilon(1e-12));
  }
}

TEST_CASE("gradients flow through a small CNN with a symbolic batch", "[opsB]") {
  // loss = sum(flatten(maxpool2d(conv2d(x, w, pad=1))) @ v): every conv and pool
  // adjoint with N = B bound only at evaluation.
  Graph g;
  g.float_type = DType::f64;
  Builder b(g);
  auto leaf = [&](const char* name, Shape s) {
    return b.make(OpKind::input, {}, Attrs{{"name", name}, {"dtype", "f64"}, {"shape", s}});
  };
  ValueId x = leaf("x", {B, 2, 4, 4});
  ValueId w = leaf("w", {3, 2, 3, 3});
  ValueId v = leaf("v", {12, 1});
  ValueId y = b.make(OpKind::conv2d, {x, w}, {{"stride", int64_t{1}}, {"pad", int64_t{1}}});
  ValueId p = b.make(OpKind::maxpool2d, {b.unary(OpKind::tanh, y)});
  ValueId q = b.make(OpKind::avgpool2d, {y}, {{"size", int64_t{2}}, {"stride", int64_t{1}}});
  ValueId flat = b.make(OpKind::flatten, {p});  // [B, 12]
  REQUIRE(g.type(flat) == f64({B, 12}));
  g.loss =
      b.make(OpKind::sum, {b.add(b.make(OpKind::matmul, {flat, v}), b.make(OpKind::sum, {q}))});
  g.wrt = {"x", "w"};
  std::mt19937_64 rng(11);
  TensorMap leaves = {{"x", random_tensor({2, 2, 4, 4}, rng)},
                      {"w", random_tensor({3, 2, 3, 3}, rng)},
                      {"v", random_tensor({12, 1}, rng)}};
  testing::GradCheckResult res = testing::check_gradients(g, leaves);
  INFO(res.report);
  CHECK(res.ok);
  CHECK(res.elements == 64 + 54);
}

// --- pooling ---

TEST_CASE("pooling type rules", "[opsB]") {
  CHECK(infer(OpKind::maxpool2d, {f32({B, 8, 24, 24})}).type == f32({B, 8, 12, 12}));
  CHECK(infer(OpKind::avgpool2d, {f32({B, 8, 5, 5})}).type == f32({B, 8, 2, 2}));  // floor
  CHECK(
      infer(OpKind::maxpool2d, {f32({1, 1, 5, 5})}, {{"size", int64_t{3}}, {"stride", int64_t{1}}})
          .type == f32({1, 1, 3, 3}));
  CHECK(infer(OpKind::maxpool2d, {f32({1, 1, 1, 4})}).error ==
        "window 2x2 is larger than the input 1x4 of f32[1,1,1,4]");
  CHECK(infer(OpKind::avgpool2d, {f32({1, 1, 4, 4})}, {{"size", int64_t{0}}}).error ==
        "needs size >= 1, got 0");
  CHECK(infer(OpKind::maxpool2d, {f32({4, 4})}).error ==
        "needs x of rank 4 [N,C,H,W], got f32[4,4]");
  CHECK(infer(OpKind::maxpool2d_bwd, {f32({1, 1, 4, 4}), f32({1, 1, 2, 2})}).type ==
        f32({1, 1, 4, 4}));
  CHECK(infer(OpKind::maxpool2d_bwd, {f32({1, 1, 4, 4}), f32({1, 1, 4, 4})}).error ==
        "needs its second operand of shape [1,1,2,2] for x f32[1,1,4,4], got f32[1,1,4,4]");
  CHECK(infer(OpKind::maxpool2d_select, {f32({1, 1, 4, 4}), f32({1, 1, 4, 4})}).type ==
        f32({1, 1, 2, 2}));
  Attrs back = {{"in_h", int64_t{5}}, {"in_w", int64_t{4}}};
  CHECK(infer(OpKind::avgpool2d_bwd, {f32({B, 3, 2, 2})}, back).type == f32({B, 3, 5, 4}));
  CHECK(infer(OpKind::avgpool2d_bwd, {f32({B, 3, 3, 2})}, back).error ==
        "needs in_h, in_w that pool to dy's size: f32[B,3,5,4] pools to [B,3,2,2], not dy's "
        "f32[B,3,3,2]");
}

TEST_CASE("maxpool2d and its adjoints evaluate by hand", "[opsB]") {
  check_close(eval(OpKind::maxpool2d, {iota({1, 1, 4, 4})}, {}, {1, 1, 2, 2}), {6, 8, 14, 16});
  // Floor mode drops the last row and column of a 5x5 input.
  check_close(eval(OpKind::maxpool2d, {iota({1, 1, 5, 5})}, {}, {1, 1, 2, 2}), {7, 9, 17, 19});

  // Ties go to the window's first element in row-major order.
  DTensor flat({1, 1, 2, 2}, 1.0);
  check_close(eval(OpKind::maxpool2d_bwd, {flat, DTensor({1, 1, 1, 1}, {5})}, {}, {1, 1, 2, 2}),
              {5, 0, 0, 0});

  // Overlapping windows (size 2, stride 1) that all pick the centre accumulate there.
  DTensor peak({1, 1, 3, 3}, {0, 0, 0, 0, 9, 0, 0, 0, 0});
  Attrs overlap = {{"size", int64_t{2}}, {"stride", int64_t{1}}};
  check_close(eval(OpKind::maxpool2d, {peak}, overlap, {1, 1, 2, 2}), {9, 9, 9, 9});
  check_close(eval(OpKind::maxpool2d_bwd, {peak, DTensor({1, 1, 2, 2}, {1, 2, 3, 4})}, overlap,
                   {1, 1, 3, 3}),
              {0, 0, 0, 0, 10, 0, 0, 0, 0});
  check_close(eval(OpKind::maxpool2d_select, {peak, iota({1, 1, 3, 3})}, overlap, {1, 1, 2, 2}),
              {5, 5, 5, 5});
}

TEST_CASE("avgpool2d and its adjoint evaluate by hand", "[opsB]") {
  // [[1,2,3,4],[5,6,7,8]] in 2x2 windows: (1+2+5+6)/4, (3+4+7+8)/4.
  check_close(eval(OpKind::avgpool2d, {iota({1, 1, 2, 4})}, {}, {1, 1, 1, 2}), {3.5, 5.5});
  check_close(eval(OpKind::avgpool2d_bwd, {DTensor({1, 1, 1, 2}, {4, 8})},
                   {{"in_h", int64_t{2}}, {"in_w", int64_t{5}}}, {1, 1, 2, 5}),
              {1, 1, 2, 2, 0, 1, 1, 2, 2, 0});
}

TEST_CASE("the shape, index and conv families have builtin signatures as documented", "[opsB]") {
  auto names = [](OpKind k) {
    std::string s;
    for (const ParamSpec& p : op_info(k).signature) s += (s.empty() ? "" : ",") + p.name;
    return s;
  };
  CHECK(names(OpKind::reshape) == "x,shape");
  CHECK(names(OpKind::flatten) == "x");
  CHECK(names(OpKind::concat) == "a,b,axis");
  CHECK(names(OpKind::gather) == "table,idx");
  CHECK(names(OpKind::conv2d) == "x,w,stride,pad");
  CHECK(names(OpKind::maxpool2d) == "x,size,stride");
  CHECK(names(OpKind::avgpool2d) == "x,size,stride");
  for (OpKind k : {OpKind::slice, OpKind::pad, OpKind::scatter_add, OpKind::conv2d_bwd_data,
                   OpKind::conv2d_bwd_filter, OpKind::maxpool2d_bwd, OpKind::maxpool2d_select,
                   OpKind::avgpool2d_bwd})
    CHECK_FALSE(op_info(k).builtin);
}
