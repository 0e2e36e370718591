// Unit tests of the linear-algebra, reduction and loss rows: type rules
// (including their messages and symbolic sizes), reference evaluation against
// hand-computed values, and the structure of the matmul adjoints.
#include <catch2/catch.hpp>
#include <cmath>

#include "ir/builder.hpp"
#include "ops/op_table.hpp"
#include "support/gradcheck.hpp"
#include "support/op_rows.hpp"

using namespace adjoint;
using namespace adjoint::optest;

namespace {

const std::vector<OpKind> kFamily = {
    OpKind::matmul,    OpKind::transpose,    OpKind::sum,
    OpKind::mean,      OpKind::max,          OpKind::argmax_mask,
    OpKind::logsumexp, OpKind::broadcast_to, OpKind::sum_to,
    OpKind::softmax,   OpKind::log_softmax,  OpKind::softmax_cross_entropy,
    OpKind::one_hot,   OpKind::mse,          OpKind::bce_with_logits};

}  // namespace

// --- matmul / transpose ---

TEST_CASE("matmul type rule: flags, symbolic sizes and messages", "[opsA]") {
  TypeResult r = infer(OpKind::matmul, {f32({B, 784}), f32({784, 128})});
  REQUIRE(r.ok());
  CHECK(r.type == f32({B, 128}));

  r = infer(OpKind::matmul, {f32({784, B}), f32({10, 784})}, {{"ta", true}, {"tb", true}});
  REQUIRE(r.ok());
  CHECK(r.type == f32({B, 10}));

  r = infer(OpKind::matmul, {f32({B, 784}), f32({128, 10})});
  CHECK(r.error == "needs matching inner sizes: f32[B,784] @ f32[128,10] (784 != 128)");

  r = infer(OpKind::matmul, {f32({B, 784}), f32({10, 128})}, {{"tb", true}});
  CHECK(r.error == "needs matching inner sizes: f32[B,784] @ f32[10,128].T (784 != 128)");

  r = infer(OpKind::matmul, {f32({3}), f32({3, 4})});
  CHECK(r.error == "needs rank-2 operands: f32[3] @ f32[3,4]");
  CHECK_FALSE(infer(OpKind::matmul, {i32({3, 3}), f32({3, 4})}).ok());
  CHECK_FALSE(infer(OpKind::matmul, {Type{DType::f64, {3, 3}}, f32({3, 4})}).ok());
}

TEST_CASE("matmul evaluates all four flag combinations", "[opsA]") {
  // A = [[1,2],[3,4]] (2x2), B = [[5,6,7],[8,9,10]] (2x3): A B = [[21,24,27],[47,54,61]].
  DTensor a({2, 2}, {1, 2, 3, 4}), at({2, 2}, {1, 3, 2, 4});
  DTensor b({2, 3}, {5, 6, 7, 8, 9, 10}), bt({3, 2}, {5, 8, 6, 9, 7, 10});
  std::vector<double> want = {21, 24, 27, 47, 54, 61};
  check_close(eval(OpKind::matmul, {a, b}, {}, {2, 3}), want);
  check_close(eval(OpKind::matmul, {at, b}, {{"ta", true}}, {2, 3}), want);
  check_close(eval(OpKind::matmul, {a, bt}, {{"tb", true}}, {2, 3}), want);
  check_close(eval(OpKind::matmul, {at, bt}, {{"ta", true}, {"tb", true}}, {2, 3}), want);
}

TEST_CASE("matmul adjoints are single matmuls with flags", "[opsA]") {
  for (bool ta : {false, true})
    for (bool tb : {false, true}) {
      Graph g;
      Builder b(g);
      Shape as = ta ? Shape{4, 3} : Shape{3, 4}, bs = tb ? Shape{2, 4} : Shape{4, 2};
      ValueId x = b.make(OpKind::input, {}, {{"name", "a"}, {"dtype", "f32"}, {"shape", as}});
      ValueId y = b.make(OpKind::input, {}, {{"name", "b"}, {"dtype", "f32"}, {"shape", bs}});
      Attrs flags{{"ta", ta}, {"tb", tb}};
      ValueId c = b.make(OpKind::matmul, {x, y}, flags);
      ValueId dc =
          b.make(OpKind::input, {}, {{"name", "dc"}, {"dtype", "f32"}, {"shape", Shape{3, 2}}});
      ValueId first_adjoint = g.size();
      const Node fwd = g.node(c);  // a copy, as reverse mode makes: the VJP adds nodes
      VjpContext cx{b, fwd, c, dc, {true, true}};
      std::vector<ValueId> d = op_info(OpKind::matmul).vjp(cx);
      INFO("ta=" << ta << " tb=" << tb);
      REQUIRE(d.size() == 2);
      CHECK(g.type(d[0]) == g.type(x));
      CHECK(g.type(d[1]) == g.type(y));
      CHECK(g.size() == first_adjoint + 2);  // two nodes, both matmuls: no transposes
      for (ValueId v = first_adjoint; v < g.size(); ++v) CHECK(g.node(v).op == OpKind::matmul);

      ValueId before = g.size();
      VjpContext only_b{b, fwd, c, dc, {false, true}};
      d = op_info(OpKind::matmul).vjp(only_b);
      CHECK(d[0] == kNoValue);
      CHECK(g.size() == before + 1);
    }
}

TEST_CASE("transpose type and evaluation", "[opsA]") {
  CHECK(infer(OpKind::transpose, {f32({B, 3})}).type == f32({3, B}));
  CHECK(infer(OpKind::transpose, {f32({3})}).error == "needs a rank-2 operand, got f32[3]");
  check_close(eval(OpKind::transpose, {DTensor({2, 3}, {1, 2, 3, 4, 5, 6})}, {}, {3, 2}),
              {1, 4, 2, 5, 3, 6});
}

// --- reductions ---

TEST_CASE("reduction type rules: axis, keepdims, negative axis, symbolic sizes", "[opsA]") {
  for (OpKind k : {OpKind::sum, OpKind::mean, OpKind::max, OpKind::logsumexp}) {
    INFO(op_name(k));
    CHECK(infer(k, {f32({B, 4})}).type == f32({}));
    CHECK(infer(k, {f32({B, 4})}, {{"keepdims", true}}).type == f32({1, 1}));
    CHECK(infer(k, {f32({B, 4})}, {{"axis", int64_t{0}}}).type == f32({4}));
    CHECK(infer(k, {f32({B, 4})}, {{"axis", int64_t{-1}}}).type == f32({B}));
    CHECK(infer(k, {f32({B, 4})}, {{"axis", int64_t{-2}}, {"keepdims", true}}).type == f32({1, 4}));
    CHECK(infer(k, {f32({B, 4})}, {{"axis", int64_t{2}}}).error ==
          "axis 2 is out of range for a rank-2 operand");
    CHECK(infer(k, {f32({B, 4})}, {{"axis", 1.5}}).error == "needs an integer 'axis'");
    CHECK_FALSE(infer(k, {i32({4})}).ok());
  }
  CHECK(infer(OpKind::argmax_mask, {f32({B, 4})}, {{"axis", int64_t{1}}}).type == f32({B, 4}));
  CHECK(infer(OpKind::softmax, {f32({B, 4})}).type == f32({B, 4}));
  CHECK(infer(OpKind::log_softmax, {f32({})}).error ==
        "axis -1 is out of range for a rank-0 operand");
}

TEST_CASE("sum, max and logsumexp evaluate along an axis or over everything", "[opsA]") {
  DTensor x({2, 3}, {1, 5, 3, 4, 2, 6});
  check_close(eval(OpKind::sum, {x}, {}, {}), {21});
  check_close(eval(OpKind::sum, {x}, {{"keepdims", true}}, {1, 1}), {21});
  check_close(eval(OpKind::sum, {x}, {{"axis", int64_t{0}}}, {3}), {5, 7, 9});
  check_close(eval(OpKind::sum, {x}, {{"axis", int64_t{-1}}, {"keepdims", true}}, {2, 1}), {9, 12});
  check_close(eval(OpKind::max, {x}, {{"axis", int64_t{1}}}, {2}), {5, 6});
  check_close(eval(OpKind::max, {x}, {{"axis", int64_t{0}}}, {3}), {4, 5, 6});
  check_close(eval(OpKind::max, {x}, {}, {}), {6});

  DTensor y({3, 2, 2}, {1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12});
  check_close(eval(OpKind::sum, {y}, {{"axis", int64_t{1}}}, {3, 2}), {4, 6, 12, 14, 20, 22});

  // logsumexp([0, log 3]) = log 4; stable for large values.
  DTensor z({2, 2}, {0, std::log(3.0), 1000, 1000});
  check_close(eval(OpKind::logsumexp, {z}, {{"axis", int64_t{1}}}, {2}),
              {std::log(4.0), 1000 + std::log(2.0)});
}

TEST_CASE("argmax_mask marks the first maximum", "[opsA]") {
  DTensor x({2, 3}, {1, 5, 5, 7, 2, 7});
  check_close(eval(OpKind::argmax_mask, {x}, {{"axis", int64_t{1}}}, {2, 3}), {0, 1, 0, 1, 0, 0});
  check_close(eval(OpKind::argmax_mask, {x}, {{"axis", int64_t{0}}}, {2, 3}), {0, 1, 0, 1, 0, 1});
  check_close(eval(OpKind::argmax_mask, {x}, {}, {2, 3}), {0, 0, 0, 1, 0, 0});
}

TEST_CASE("softmax and log_softmax evaluate stably", "[opsA]") {
  DTensor x({2, 2}, {0, std::log(3.0), 1000, 1000});
  check_close(eval(OpKind::softmax, {x}, {}, {2, 2}), {0.25, 0.75, 0.5, 0.5});
  check_close(eval(OpKind::log_softmax, {x}, {}, {2, 2}),
              {std::log(0.25), std::log(0.75), std::log(0.5), std::log(0.5)});
  check_close(eval(OpKind::softmax, {x}, {{"axis", int64_t{0}}}, {2, 2}), {0, 0, 1, 1});
}

TEST_CASE("broadcast_to and sum_to", "[opsA]") {
  CHECK(infer(OpKind::broadcast_to, {f32({4})}, {{"shape", Shape{B, 4}}}).type == f32({B, 4}));
  CHECK(infer(OpKind::broadcast_to, {f32({3})}, {{"shape", Shape{2, 4}}}).error ==
        "cannot broadcast f32[3] to [2,4]");
  CHECK(infer(OpKind::broadcast_to, {f32({3})}).error == "needs a 'shape' attribute");
  CHECK(infer(OpKind::sum_to, {f32({B, 4})}, {{"shape", Shape{1, 4}}}).type == f32({1, 4}));
  CHECK(infer(OpKind::sum_to, {f32({2, 4})}, {{"shape", Shape{3}}}).error ==
        "cannot sum f32[2,4] down to [3]");
  CHECK_FALSE(infer(OpKind::sum_to, {f32({4})}, {{"shape", Shape{2, 4}}}).ok());

  check_close(eval(OpKind::broadcast_to, {DTensor({2, 1}, {1, 2})}, {}, {2, 3}),
              {1, 1, 1, 2, 2, 2});
  check_close(eval(OpKind::broadcast_to, {DTensor({}, 7.0)}, {}, {2}), {7, 7});
  DTensor x({2, 3}, {1, 2, 3, 4, 5, 6});
  check_close(eval(OpKind::sum_to, {x}, {}, {3}), {5, 7, 9});
  check_close(eval(OpKind::sum_to, {x}, {}, {2, 1}), {6, 15});
  check_close(eval(OpKind::sum_to, {x}, {}, {}), {21});
}

// --- losses ---

TEST_CASE("softmax_cross_entropy type rule", "[opsA]") {
  CHECK(infer(OpKind::softmax_cross_entropy, {f32({B, 10}), i32({B})}).type == f32({B}));
  CHECK(infer(OpKind::softmax_cross_entropy, {f32({10}), i32({B})}).error ==
        "needs logits of shape [N,C], got f32[10]");
  CHECK(infer(OpKind::softmax_cross_entropy, {i32({B, 10}), i32({B})}).error ==
        "needs float logits, got i32[B,10]");
  CHECK(infer(OpKind::softmax_cross_entropy, {f32({B, 10}), f32({B})}).error ==
        "needs i32 class labels, got f32[B]");
  CHECK(infer(OpKind::softmax_cross_entropy, {f32({B, 10}), i32({B, 1})}).error ==
        "needs labels of shape [N], got i32[B,1]");
  CHECK(infer(OpKind::softmax_cross_entropy, {f32({B, 10}), i32({4})}).error ==
        "needs one label per row of logits: f32[B,10] and i32[4] (B != 4)");
  CHECK(infer(OpKind::softmax_cross_entropy, {f32({4, B}), i32({4})}).error ==
        "needs a fixed number of classes, got f32[4,B]");
}

TEST_CASE("softmax_cross_entropy evaluates and rejects bad labels", "[opsA]") {
  // Row 0: logits [0, log 3], label 1: log 4 - log 3. Row 1: [1000, 1000], label 0: log 2.
  DTensor z({2, 2}, {0, std::log(3.0), 1000, 1000});
  check_close(eval(OpKind::softmax_cross_entropy, {z, DTensor({2}, {1, 0})}, {}, {2}),
              {std::log(4.0 / 3.0), std::log(2.0)});
  CHECK_THROWS_WITH(eval(OpKind::softmax_cross_entropy, {z, DTensor({2}, {1, 2})}, {}, {2}),
                    "softmax_cross_entropy: label 2 at index 1 is out of range [0, 2)");
  CHECK_THROWS_AS(eval(OpKind::softmax_cross_entropy, {z, DTensor({2}, {-1, 0})}, {}, {2}), Error);
}

TEST_CASE("one_hot", "[opsA]") {
  CHECK(infer(OpKind::one_hot, {i32({B})}, {{"depth", int64_t{3}}}).type == f32({B, 3}));
  CHECK(infer(OpKind::one_hot, {i32({B})}).error == "needs a positive integer 'depth'");
  CHECK(infer(OpKind::one_hot, {f32({B})}, {{"depth", int64_t{3}}}).error ==
        "needs i32 labels of shape [N], got f32[B]");
  check_close(eval(OpKind::one_hot, {DTensor({2}, {2, 0})}, {{"depth", int64_t{3}}}, {2, 3}),
              {0, 0, 1, 1, 0, 0});
  CHECK_THROWS_AS(eval(OpKind::one_hot, {DTensor({1}, {3})}, {{"depth", int64_t{3}}}, {1, 3}),
                  Error);
}

TEST_CASE("mse and bce_with_logits", "[opsA]") {
  CHECK(infer(OpKind::mse, {f32({B, 4}), f32({4})}).type == f32({}));
  CHECK(infer(OpKind::mse, {f32({3}), f32({4})}).error == "cannot broadcast f32[3] with f32[4]");
  CHECK(infer(OpKind::bce_with_logits, {f32({B, 1}), f32({4})}).type == f32({B, 4}));

  // z = 0, t = 1: log 2. z = 2, t = 1: log(1 + e^-2). z = -30, t = 0: ~e^-30 (no overflow).
  DTensor z({3}, {0, 2, -30}), t({3}, {1, 1, 0});
  check_close(eval(OpKind::bce_with_logits, {z, t}, {}, {3}),
              {std::log(2.0), std::log1p(std::exp(-2.0)), std::log1p(std::exp(-30.0))});
}

TEST_CASE("the family's rows are complete", "[opsA]") {
  for (OpKind k : kFamily) {
    const OpInfo& op = op_info(k);
    INFO(op.name);
    CHECK(op.infer);
    CHECK((op.expand || (op.eval && op.vjp)));
    CHECK_FALSE(op.checks.empty());
    CHECK_FALSE(op.doc.empty());
  }
}

TEST_CASE("the family's gradient checks pass", "[opsA]") {
  for (OpKind k : kFamily) {
    const OpInfo& op = op_info(k);
    for (size_t i = 0; i < op.checks.size(); ++i) {
      INFO(op.name << " case " << i);
      testing::GradCheckResult r;
      REQUIRE_NOTHROW(r = testing::check_op_case(k, op.checks[i], 17 + i));
      INFO(r.report);
      CHECK(r.ok);
    }
  }
}
