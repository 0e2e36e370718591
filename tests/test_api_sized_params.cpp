// Params whose sizes are symbols that the inputs bind (param W : f32[D, 8]
// with input x : f32[B, D]): sema's rule, initialisation with the sizes
// given, fans that follow them, and grad, forward and train_step at the
// sizes of the call, against the reference evaluator and the same model
// written with numbers.
#include <adjoint/adjoint.hpp>
#include <adjoint/init.hpp>
#include <catch2/catch.hpp>

#include "support/native_check.hpp"
#include "test_api_support.hpp"

using namespace adjoint;
using namespace adjoint::apitest;
using Catch::Contains;

namespace {

constexpr const char* kSized = R"(model sized
input x : f64[B, D]
input t : f64[B, H]
param W : f64[D, H] = he_normal
param b : f64[H] = 0.25
param V : f64[H, H] = glorot_uniform
h = tanh(x @ W + b)
loss = mse(h @ V.T, t) + 0.01 * sum(W ^ 2)
minimize loss
output h
)";

// kSized with D = 5 and H = 4 written as numbers.
constexpr const char* kNumbers = R"(model sized
input x : f64[B, 5]
input t : f64[B, 4]
param W : f64[5, 4] = he_normal
param b : f64[4] = 0.25
param V : f64[4, 4] = glorot_uniform
h = tanh(x @ W + b)
loss = mse(h @ V.T, t) + 0.01 * sum(W ^ 2)
minimize loss
output h
)";

Inputs inputs_at(int64_t batch, int64_t d, int64_t h) {
  Tensor x = Tensor::f64({batch, d}), t = Tensor::f64({batch, h});
  for (int64_t i = 0; i < x.numel(); ++i) x.data<double>()[i] = std::sin(0.7 * double(i));
  for (int64_t i = 0; i < t.numel(); ++i) t.data<double>()[i] = std::cos(0.3 * double(i));
  return Inputs{{"x", x}, {"t", t}};
}

}  // namespace

TEST_CASE("a param's symbolic size must be an input's size too", "[api]") {
  Compiler cc;
  CHECK_NOTHROW(cc.compile_string(kSized));
  CHECK_THROWS_WITH(cc.compile_string("input x : f32[B, D]\nparam W : f32[D, H]\n"
                                      "loss = sum(x @ W)\nminimize loss\n"),
                    Contains("no input's shape has 'H'"));
}

TEST_CASE("params with symbolic sizes are made at the sizes given", "[api]") {
  Compiler cc;
  Model m = cc.compile_string(kSized), n = cc.compile_string(kNumbers);
  CHECK_THROWS_WITH(m.init_params(3), Contains("param 'W' is f64[D,H]") &&
                                          Contains("give the size 'D'") && Contains("--dim D=N"));
  CHECK_THROWS_WITH(m.init_params(3, {{"D", 5}}), Contains("give the size 'H'"));
  CHECK_THROWS_WITH(m.init_params(3, {{"D", 5}, {"H", 0}}), Contains("'H' must be positive"));
  CHECK(m.init_description("W") == "he_normal(fan_in=D)");
  CHECK(m.init_description("V") == "glorot_uniform(fan_in=H, fan_out=H)");
  CHECK(m.init_description("b") == describe(InitSpec::constant(0.25)));
  // The same streams and fans as the model written with numbers: the same bits.
  Params p = m.init_params(3, {{"D", 5}, {"H", 4}, {"B", 7}});
  Params q = n.init_params(3);
  for (const char* name : {"W", "b", "V"}) {
    CAPTURE(name);
    CHECK(p[name].equals(q[name]));
  }
}

TEST_CASE("symbolic fans of conv kernels, transposed and reshaped params", "[api]") {
  // Each param's fans as LANGUAGE.md defines them, with K and D symbols.
  const std::string sized = R"(model cg
input x : f64[B, 1, 8, 8]
input k : f64[K]
input d : f64[D]
param Wc : f64[K, 1, 3, 3] = glorot_uniform
param Wr : f64[D, K] = glorot_uniform
param Wt : f64[K, D] = he_normal
param Wv : f64[K, D] = glorot_uniform
loss = sum(relu(conv2d(x, Wc))) + sum(d @ Wr) + sum(Wt.T @ k) + sum(reshape(Wv, [-1]))
minimize loss
)";
  std::string numbers = sized;
  for (auto [from, to] : {std::pair<std::string, std::string>{"[K]", "[5]"},
                          {"[D]", "[7]"},
                          {"[K, 1", "[5, 1"},
                          {"[D, K]", "[7, 5]"},
                          {"[K, D]", "[5, 7]"},
                          {"[K, D]", "[5, 7]"}})
    numbers.replace(numbers.find(from), from.size(), to);
  Compiler cc;
  Model m = cc.compile_string(sized), n = cc.compile_string(numbers);
  CHECK(m.init_description("Wc") == "glorot_uniform(fan_in=9, fan_out=9*K)");
  CHECK(m.init_description("Wt") == "he_normal(fan_in=K)");
  CHECK(n.init_description("Wt") == describe(InitSpec::he_normal(5)));
  Params p = m.init_params(2, {{"K", 5}, {"D", 7}}), q = n.init_params(2);
  for (const char* name : {"Wc", "Wr", "Wt", "Wv"}) {
    CAPTURE(name);
    CHECK(p[name].equals(q[name]));
  }
  CHECK_THROWS_WITH(m.init_params(2, {{"K", 5}, {"D", 7}, {"Q", 1}}),
                    Contains("has no size symbol 'Q' (its symbols: B, K, D)"));
}

TEST_CASE("grad, forward and train_step with params of symbolic sizes", "[api]") {
  Compiler cc;
  Model m = cc.compile_string(kSized), n = cc.compile_string(kNumbers);
  for (auto [d, h] : {std::pair<int64_t, int64_t>{5, 4}, {37, 19}}) {
    CAPTURE(d, h);
    Inputs in = inputs_at(6, d, h);
    Params p = m.init_params(1, {{"D", d}, {"H", h}});
    Grads g = m.make_grads(in);
    double loss = m.grad(in, p, g);
    TensorMap native = to_map(g, "grad.");
    native["loss"] = DTensor({}, loss);
    native["h"] = to_map(m.forward(in, p)).at("h");
    TensorMap ref = reference_results(kSized, in, p);
    testing::Comparison c = testing::compare_results(native, ref, 1e-12);
    INFO(c.report);
    CHECK(c.ok);
    CHECK(native.size() == ref.size());
  }
  // One training step from an empty state, as the numbered model takes it.
  Inputs in = inputs_at(6, 5, 4);
  Params p = m.init_params(1, {{"D", 5}, {"H", 4}}), q = n.init_params(1);
  CHECK_THROWS_WITH(m.make_optimizer_state(), Contains("make_optimizer_state(params)"));
  OptimizerState s, r = n.make_optimizer_state();
  CHECK(m.train_step(in, p, s, {}) == n.train_step(in, q, r, {}));
  for (const char* name : {"W", "b", "V"}) {
    CAPTURE(name);
    CHECK(p[name].equals(q[name]));
  }
  CHECK(s.buffers.size() == 6);
}

TEST_CASE("params of one size and inputs of another are refused", "[api]") {
  Compiler cc;
  Model m = cc.compile_string(kSized);
  Params p = m.init_params(1, {{"D", 5}, {"H", 4}});
  Inputs in = inputs_at(2, 6, 4);
  Grads g = m.make_grads(in);
  CHECK_THROWS_WITH(m.grad(in, p, g),
                    Contains("size 'D' is 6 in input 'x'") && Contains("5 in param 'W'"));
}
