// f32 accuracy where a careless formula loses digits: softmax, log_softmax
// and cross-entropy at large or saturated logits (the max is subtracted
// before the log-sum is added), and sums over many elements (accumulated in
// f64). Expected values are exact to the digits checked (computed in f64).
#include <adjoint/adjoint.hpp>
#include <catch2/catch.hpp>
#include <cmath>
#include <random>

using adjoint::ElemType;
using adjoint::Tensor;

namespace {

Tensor f32_tensor(std::vector<int64_t> shape, const std::vector<double>& values) {
  Tensor t = Tensor::zeros(ElemType::f32, shape);
  for (size_t i = 0; i < values.size(); ++i) t.data<float>()[i] = static_cast<float>(values[i]);
  return t;
}

}  // namespace

TEST_CASE("f32 log_softmax and softmax keep their digits at large logits", "[precision]") {
  adjoint::Compiler cc(adjoint::CompileOptions{.cache = false});
  adjoint::Model m = cc.compile_string(R"(model s
input z : f32[2, 2]
l = log_softmax(z)
p = softmax(z)
output l
output p
)",
                                       "s.adj");
  // Row 0: logits near 1e5 (one ulp is 2^-7); row 1: saturated, margin 15.
  auto out = m.forward({{"z", f32_tensor({2, 2}, {100000.5, 100000.0, 15, 0})}}, {});
  const float* l = out["l"].data<float>();
  const float* p = out["p"].data<float>();
  double lse0 = std::log1p(std::exp(-0.5));  // log(1 + e^-0.5)
  CHECK(l[0] == Approx(-lse0).epsilon(1e-6));
  CHECK(l[1] == Approx(-0.5 - lse0).epsilon(1e-6));
  CHECK(p[0] == Approx(std::exp(-lse0)).epsilon(1e-6));
  double small = std::log1p(std::exp(-15.0));  // 3.06e-7: lost by 15 + log(s)
  CHECK(l[2] == Approx(-small).epsilon(0.2));
  CHECK(l[2] < 0);
  CHECK(l[3] == Approx(-15 - small).epsilon(1e-6));
}

TEST_CASE("f32 cross-entropy's label gradient survives a saturated softmax", "[precision]") {
  adjoint::Compiler cc(adjoint::CompileOptions{.cache = false});
  adjoint::Model m = cc.compile_string(R"(model ce
input z : f32[1, 2]
input y : i32[1]
loss = sum(softmax_cross_entropy(z, y))
minimize loss wrt z
)",
                                       "ce.adj");
  Tensor y = Tensor::i32({1});
  y.data<int32_t>()[0] = 0;
  adjoint::Inputs in{{"z", f32_tensor({1, 2}, {15, 0})}, {"y", y}};
  adjoint::Grads g = m.make_grads(in);
  double loss = m.grad(in, {}, g);
  double exact = std::log1p(std::exp(-15.0));  // 3.06e-7
  CHECK(loss == Approx(exact).epsilon(0.2));
  const float* dz = g["z"].data<float>();
  // softmax - one_hot: -3.06e-7 at the label, +3.06e-7 at the other class
  // (both 0 when the log-sum is added to the max first).
  CHECK(dz[0] == Approx(-exact).epsilon(0.2));
  CHECK(dz[1] == Approx(exact).epsilon(0.2));
}

TEST_CASE("f32 sums over a million elements are accurate to f32 rounding", "[precision]") {
  adjoint::Compiler cc(adjoint::CompileOptions{.cache = false});
  adjoint::Model m = cc.compile_string(R"(model big
input x : f32[B, 1000]
param w : f32[1000] = ones
loss = mean(x * w)
minimize loss
)",
                                       "big.adj");
  std::mt19937 rng(3);
  std::uniform_real_distribution<float> u(0, 1);
  Tensor x = Tensor::zeros(ElemType::f32, {1000, 1000});
  double exact = 0;
  for (int64_t i = 0; i < x.numel(); ++i) exact += (x.data<float>()[i] = u(rng));
  adjoint::Inputs in{{"x", x}};
  adjoint::Params p = m.init_params(0);
  adjoint::Grads g = m.make_grads(in);
  double loss = m.grad(in, p, g);
  CHECK(loss == Approx(exact / 1e6).epsilon(1e-6));
  // grad w_j = mean over the batch of x[:, j] / 1000: sum_to over 1000 rows.
  double col0 = 0;
  for (int64_t i = 0; i < 1000; ++i) col0 += x.data<float>()[i * 1000];
  CHECK(g["w"].data<float>()[0] == Approx(col0 / 1e6).epsilon(1e-6));
}

TEST_CASE("relu, maximum and minimum propagate NaN, as PyTorch does", "[precision]") {
  adjoint::Compiler cc(adjoint::CompileOptions{.cache = false});
  adjoint::Model m = cc.compile_string(R"(model n
input x : f32[4]
r = relu(x)
m = max(x, axis=0)
a = maximum(x, 0)
b = maximum(0, x)
c = minimum(x, 0)
d = minimum(0, x)
output r
output m
output a
output b
output c
output d
)",
                                       "n.adj");
  const double nan = std::nan("");
  auto out = m.forward({{"x", f32_tensor({4}, {nan, 1, -2, 0.5})}}, {});
  for (const char* name : {"r", "a", "b", "c", "d"}) {
    INFO(name);
    const float* v = out[name].data<float>();
    CHECK(std::isnan(v[0]));
    CHECK_FALSE(std::isnan(v[1]));
  }
  CHECK(out["r"].data<float>()[2] == 0);
  auto late = m.forward({{"x", f32_tensor({4}, {1, 3, nan, 2})}}, {});
  CHECK(std::isnan(late["m"].data<float>()[0]));  // a NaN anywhere in the lane
  CHECK(out["a"].data<float>()[1] == 1);
  CHECK(out["d"].data<float>()[2] == -2);
}
