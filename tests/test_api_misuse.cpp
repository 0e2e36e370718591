// Misusing the C++ API: every wrong call is an adjoint::Error that names the
// tensor and what was expected, and writes nothing to the gradients.
#include <catch2/catch.hpp>
#include <adjoint/adjoint.hpp>
#include <cmath>

#include "test_api_support.hpp"

using namespace adjoint;
using namespace adjoint::apitest;
using Catch::Contains;

namespace {

// mlp.adj's shape on a small scale: x f32[B,4], labels y i32[B] in [0, 3).
constexpr const char* kNet = R"(model net
input x : f32[B, 4]
input y : i32[B]
param W : f32[4, 3] = glorot_uniform
param b : f32[3]
logits = x @ W + b
loss = mean(softmax_cross_entropy(logits, y))
minimize loss
output logits
)";

struct Fixture {
  Compiler cc;
  Model m = cc.compile_string(kNet, "net.adj");
  Params p = m.init_params(1);
  Tensor x = Tensor::f32({2, 4}, {1, 2, 3, 4, 5, 6, 7, 8});
  Tensor y = Tensor::i32({2}, {0, 2});
  Grads g = sentinel_grads();

  Grads sentinel_grads() {
    Grads out = m.make_grads();
    for (auto& [name, t] : out)
      for (int64_t i = 0; i < t.numel(); ++i) t.data<float>()[i] = 7;
    return out;
  }
  bool grads_untouched() const {
    for (const auto& [name, t] : g)
      for (int64_t i = 0; i < t.numel(); ++i)
        if (t.data<float>()[i] != 7) return false;
    return true;
  }
  // grad() must throw an Error containing every piece and leave g as it was.
  void expect_error(const Inputs& in, const Params& params,
                    const std::vector<std::string>& pieces) {
    try {
      m.grad(in, params, g);
      FAIL("no error");
    } catch (const Error& e) {
      for (const std::string& piece : pieces) CHECK_THAT(e.what(), Contains(piece));
    }
    CHECK(grads_untouched());
    // forward checks the same things.
    CHECK_THROWS_AS(m.forward(in, params), Error);
  }
};

}  // namespace

TEST_CASE("a correct call works (the misuse tests' baseline)", "[api]") {
  Fixture f;
  double loss = f.m.grad({{"x", f.x}, {"y", f.y}}, f.p, f.g);
  CHECK(std::isfinite(loss));
  CHECK_FALSE(f.grads_untouched());
}

TEST_CASE("missing, unknown and misplaced inputs and params", "[api]") {
  Fixture f;
  f.expect_error({{"x", f.x}}, f.p, {"missing input 'y'", "i32[B]"});
  f.expect_error({{"x", f.x}, {"y", f.y}, {"z", f.x}}, f.p, {"unknown input 'z'", "x, y"});
  f.expect_error({{"x", f.x}, {"y", f.y}, {"W", f.p["W"]}}, f.p,
                 {"'W' is a param", "not an input"});
  Params no_b = f.p;
  no_b = Params{{"W", f.p["W"]}};
  f.expect_error({{"x", f.x}, {"y", f.y}}, no_b, {"missing param 'b'", "f32[3]"});
  Params extra = f.p;
  extra.set("V", Tensor::f32({1}));
  f.expect_error({{"x", f.x}, {"y", f.y}}, extra, {"unknown param 'V'", "W, b"});
  Params with_x = f.p;
  with_x.set("x", f.x);
  f.expect_error({{"x", f.x}, {"y", f.y}}, with_x, {"'x' is an input", "not a param"});
}

TEST_CASE("wrong element types are never converted", "[api]") {
  Fixture f;
  Tensor x64 = Tensor::f64({2, 4});
  f.expect_error({{"x", x64}, {"y", f.y}}, f.p,
                 {"input 'x'", "f64[2,4]", "f32[B,4]", "never converted"});
  Tensor yf = Tensor::f32({2});
  f.expect_error({{"x", f.x}, {"y", yf}}, f.p, {"input 'y'", "f32[2]", "i32[B]"});
  Params p64 = f.p;
  p64.set("W", Tensor::f64({4, 3}));
  f.expect_error({{"x", f.x}, {"y", f.y}}, p64, {"param 'W'", "f64[4,3]", "f32[4,3]"});
}

TEST_CASE("wrong ranks and sizes name both shapes", "[api]") {
  Fixture f;
  Tensor flat = Tensor::f32({8});
  f.expect_error({{"x", flat}, {"y", f.y}}, f.p,
                 {"input 'x'", "f32[8]", "f32[B,4]", "rank 1, expected 2"});
  Tensor wide = Tensor::f32({2, 5});
  f.expect_error({{"x", wide}, {"y", f.y}}, f.p,
                 {"input 'x'", "f32[2,5]", "f32[B,4]", "axis 1: 5 != 4"});
  Params bad = f.p;
  bad.set("W", Tensor::f32({3, 4}));
  f.expect_error({{"x", f.x}, {"y", f.y}}, bad, {"param 'W'", "f32[3,4]", "f32[4,3]"});
}

TEST_CASE("a symbolic size bound to two values names both tensors", "[api]") {
  Fixture f;
  Tensor y3 = Tensor::i32({3}, {0, 1, 2});
  f.expect_error({{"x", f.x}, {"y", y3}}, f.p,
                 {"size 'B'", "2 in input 'x' (f32[2,4])", "3 in input 'y' (i32[3])"});
}

TEST_CASE("labels out of range are errors before the call", "[api]") {
  Fixture f;
  for (int32_t bad : {3, -1, 1000}) {
    INFO(bad);
    Tensor y = Tensor::i32({2}, {0, bad});
    f.expect_error({{"x", f.x}, {"y", y}}, f.p,
                   {"input 'y'", "holds " + std::to_string(bad) + " at index 1", "[0, 3)",
                    "softmax_cross_entropy", "net.adj:7:"});
  }
}

TEST_CASE("gather indices out of range are errors before the call", "[api]") {
  Compiler cc;
  Model m = cc.compile_string(R"(
input tokens : i32[N]
param E : f64[5, 2] = ones
loss = sum(gather(E, reshape(tokens, [-1])))
minimize loss
)", "emb.adj");
  Params p = m.init_params(0);
  Grads g = m.make_grads();
  g["E"].data<double>()[0] = 42;
  Tensor ok = Tensor::i32({3}, {0, 4, 4});
  CHECK(m.grad({{"tokens", ok}}, p, g) == 6.0);
  g["E"].data<double>()[0] = 42;
  Tensor bad = Tensor::i32({3}, {0, 5, 1});
  CHECK_THROWS_WITH(m.grad({{"tokens", bad}}, p, g),
                    Contains("input 'tokens' holds 5 at index 1") && Contains("[0, 5)") &&
                        Contains("gather"));
  CHECK(g["E"].data<double>()[0] == 42);
}

TEST_CASE("grads of the wrong shape, type or names", "[api]") {
  Fixture f;
  Inputs in{{"x", f.x}, {"y", f.y}};
  auto expect = [&](Grads bad, const std::vector<std::string>& pieces) {
    Grads before = bad;
    try {
      f.m.grad(in, f.p, bad);
      FAIL("no error");
    } catch (const Error& e) {
      for (const std::string& piece : pieces) CHECK_THAT(e.what(), Contains(piece));
    }
    for (const auto& [name, t] : before) CHECK(bad[name].equals(t));
  };
  Grads wrong_shape = f.g;
  wrong_shape.set("W", Tensor::f32({3, 4}));
  expect(wrong_shape, {"grads 'W'", "f32[3,4]", "f32[4,3]"});
  Grads wrong_type = f.g;
  wrong_type.set("b", Tensor::f64({3}));
  expect(wrong_type, {"grads 'b'", "f64[3]", "f32[3]"});
  expect(Grads{{"W", f.g["W"]}}, {"grads lacks 'b'", "f32[3]", "make_grads"});
  Grads extra = f.g;
  extra.set("x", Tensor::f32({2, 4}));
  expect(extra, {"grads holds 'x'", "does not differentiate", "W, b"});
}

TEST_CASE("grad of a model without a loss and other misuse", "[api]") {
  Compiler cc;
  Model m = cc.compile_string("input x : f64[2]\ny = exp(x)\noutput y\n");
  Grads g;
  CHECK_THROWS_WITH(m.grad({{"x", Tensor::f64({2})}}, {}, g), Contains("no loss"));
  Params p;
  CHECK_THROWS_WITH(p["W"], Contains("no tensor named 'W'"));
  Tensor t = Tensor::f64({1});
  CHECK_THROWS_WITH((Inputs{{"x", t}, {"x", t}}), Contains("'x' is given twice"));
  Fixture f;
  CHECK_THROWS_WITH(f.m.init_description("x"), Contains("no param 'x'"));
}
