// Model::train_step: SGD with momentum and Adam against updates computed by
// hand here, gradients that alias params, and the call's validation.
#include <adjoint/adjoint.hpp>
#include <catch2/catch.hpp>
#include <cmath>
#include <vector>

using namespace adjoint;

namespace {

// loss = sum(x * w * w) + sum(a * b): dloss/dw = 2*x*w, dloss/da = b, dloss/db = a
// (the last two are params themselves, so updating a must not change b's gradient).
constexpr const char* kTiny = R"(model tiny
input x : f64[3]
param w : f64[3] = 0.5
param a : f64[2] = 1
param b : f64[2] = 2
loss = sum(x * w * w) + sum(a * b)
minimize loss
)";

struct Hand {
  std::vector<double> w{0.5, 0.5, 0.5}, a{1, 1}, b{2, 2};
  std::vector<double> mw = std::vector<double>(3), vw = std::vector<double>(3),
                      ma = std::vector<double>(2), va = std::vector<double>(2),
                      mb = std::vector<double>(2), vb = std::vector<double>(2);
};

const std::vector<double> kX{1.0, -2.0, 0.25};

void sgd_hand(std::vector<double>& p, std::vector<double>& v, const std::vector<double>& g,
              double lr, double mu) {
  for (size_t i = 0; i < p.size(); ++i) {
    v[i] = mu * v[i] + g[i];
    p[i] -= lr * v[i];
  }
}

void adam_hand(std::vector<double>& p, std::vector<double>& m, std::vector<double>& v,
               const std::vector<double>& g, double lr, int t) {
  double b1 = 0.9, b2 = 0.999, eps = 1e-8;
  for (size_t i = 0; i < p.size(); ++i) {
    m[i] = b1 * m[i] + (1 - b1) * g[i];
    v[i] = b2 * v[i] + (1 - b2) * g[i] * g[i];
    double step_size = lr / (1 - std::pow(b1, t));
    double denom = std::sqrt(v[i]) / std::sqrt(1 - std::pow(b2, t)) + eps;
    p[i] -= step_size * m[i] / denom;
  }
}

// The hand step: gradients from the current values, then every update.
void hand_step(Hand& h, bool adam, double lr, double mu, int t) {
  std::vector<double> gw(3), ga = h.b, gb = h.a;
  for (size_t i = 0; i < 3; ++i) gw[i] = 2 * kX[i] * h.w[i];
  if (adam) {
    adam_hand(h.w, h.mw, h.vw, gw, lr, t);
    adam_hand(h.a, h.ma, h.va, ga, lr, t);
    adam_hand(h.b, h.mb, h.vb, gb, lr, t);
  } else {
    sgd_hand(h.w, h.mw, gw, lr, mu);
    sgd_hand(h.a, h.ma, ga, lr, mu);
    sgd_hand(h.b, h.mb, gb, lr, mu);
  }
}

void check_close(const Tensor& t, const std::vector<double>& want) {
  REQUIRE(t.numel() == static_cast<int64_t>(want.size()));
  for (size_t i = 0; i < want.size(); ++i)
    CHECK(t.data<double>()[i] == Approx(want[i]).epsilon(1e-12));
}

void run_against_hand(bool adam, double lr, double mu) {
  Compiler cc;
  Model m = cc.compile_string(kTiny, "tiny.adj");
  Params p = m.init_params(0);
  OptimizerState s;
  OptimizerConfig c;
  c.kind = adam ? OptimizerConfig::Kind::adam : OptimizerConfig::Kind::sgd;
  c.lr = lr;
  c.momentum = mu;
  Tensor x = Tensor::f64({3}, kX);
  Hand h;
  for (int t = 1; t <= 3; ++t) {
    double want_loss = 0;
    for (size_t i = 0; i < 3; ++i) want_loss += kX[i] * h.w[i] * h.w[i];
    for (size_t i = 0; i < 2; ++i) want_loss += h.a[i] * h.b[i];
    double loss = m.train_step({{"x", x}}, p, s, c);
    CHECK(loss == Approx(want_loss).epsilon(1e-12));
    hand_step(h, adam, lr, mu, t);
    CHECK(s.step == t);
    check_close(p["w"], h.w);
    check_close(p["a"], h.a);
    check_close(p["b"], h.b);
    check_close(s.buffers["opt.m.w"], h.mw);
    if (adam) check_close(s.buffers["opt.v.b"], h.vb);
  }
}

}  // namespace

TEST_CASE("train_step: SGD with momentum matches a hand computation", "[train]") {
  run_against_hand(false, 0.1, 0.9);
  run_against_hand(false, 0.05, 0.0);
}

TEST_CASE("train_step: Adam matches a hand computation", "[train]") {
  run_against_hand(true, 0.01, 0.0);
}

// Sets the pool's thread count for a scope, and back to every core after it
// (also when a REQUIRE ends the test early).
struct ThreadCount {
  explicit ThreadCount(int n) { set_num_threads(n); }
  ~ThreadCount() { set_num_threads(0); }
};

// A param large enough that its update is split into chunks over the pool
// (the last chunk partial), checked element by element against the hand
// update for SGD and Adam, at 1 and 2 threads.
TEST_CASE("train_step: a large param's update matches a hand computation", "[train]") {
  constexpr int64_t n = 40003;
  Compiler cc;
  Model m = cc.compile_string(R"(model big
input x : f64[40003]
param w : f64[40003] = uniform(-1, 1)
loss = sum(x * w * w)
minimize loss
)",
                              "big.adj");
  std::vector<double> xs(n);
  for (int64_t i = 0; i < n; ++i) xs[i] = std::sin(0.37 * static_cast<double>(i));
  Tensor x = Tensor::f64({n}, xs);
  for (bool adam : {false, true})
    for (int threads : {1, 2}) {
      ThreadCount scoped(threads);
      Params p = m.init_params(3);
      std::vector<double> w(p["w"].data<double>(), p["w"].data<double>() + n);
      std::vector<double> s1(n), s2(n);
      OptimizerState s;
      OptimizerConfig c;
      c.kind = adam ? OptimizerConfig::Kind::adam : OptimizerConfig::Kind::sgd;
      c.lr = 0.01;
      c.momentum = 0.9;
      for (int t = 1; t <= 2; ++t) {
        std::vector<double> g(n);
        for (int64_t i = 0; i < n; ++i) g[i] = 2 * xs[i] * w[i];
        if (adam)
          adam_hand(w, s1, s2, g, c.lr, t);
        else
          sgd_hand(w, s1, g, c.lr, c.momentum);
        m.train_step({{"x", x}}, p, s, c);
      }
      INFO("adam " << adam << ", threads " << threads);
      check_close(p["w"], w);
      check_close(s.buffers["opt.m.w"], s1);
      if (adam) check_close(s.buffers["opt.v.w"], s2);
    }
}

TEST_CASE("train_step: wrt inputs are not updated, and misuse is an error", "[train]") {
  Compiler cc;
  Model m = cc.compile_string(R"(model wi
input x : f32[B, 2]
param w : f32[2] = 1
loss = sum(x * w)
minimize loss wrt w, x
)",
                              "wi.adj");
  Params p = m.init_params(0);
  OptimizerState s;
  OptimizerConfig c;
  c.kind = OptimizerConfig::Kind::sgd;
  c.lr = 0.5;
  Tensor x = Tensor::f32({1, 2}, {3.0f, 4.0f});
  m.train_step({{"x", x}}, p, s, c);
  CHECK(x.data<float>()[0] == 3.0f);
  CHECK(p["w"].data<float>()[0] == Approx(1 - 0.5 * 3));
  CHECK(p["w"].data<float>()[1] == Approx(1 - 0.5 * 4));

  OptimizerConfig bad = c;
  bad.lr = std::nan("");
  CHECK_THROWS_AS(m.train_step({{"x", x}}, p, s, bad), Error);
  CHECK_THROWS_AS(m.train_step({}, p, s, c), Error);
  OptimizerState wrong;
  wrong.buffers.set("opt.m.w", Tensor::f32({3}));
  wrong.buffers.set("opt.v.w", Tensor::f32({2}));
  CHECK_THROWS_WITH(m.train_step({{"x", x}}, p, wrong, c), Catch::Contains("opt.m.w"));
  CHECK(wrong.step == 0);

  Model fwd = cc.compile_string(
      "model f\ninput x : f32[2]\nparam w : f32[2] = 1\ny = x * w\noutput y\n", "f.adj");
  Params fp = fwd.init_params(0);
  OptimizerState fs;
  CHECK_THROWS_AS(fwd.train_step({{"x", Tensor::f32({2})}}, fp, fs, c), Error);
}
