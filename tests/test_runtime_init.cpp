// The RNG and initialisers: determinism (pinned golden values, so a change of
// algorithm or a platform difference shows), independence of streams, the
// moments of large samples, bounds, and the errors of invalid specs.
#include <adjoint/init.hpp>
#include <adjoint/rng.hpp>
#include <catch2/catch.hpp>
#include <cmath>
#include <limits>

using namespace adjoint;

namespace {

struct Moments {
  double mean = 0, std = 0, min = 1e300, max = -1e300;
};

template <class T>
Moments moments(const Tensor& t) {
  const T* p = t.data<T>();
  Moments m;
  double sum = 0, sq = 0;
  for (int64_t i = 0; i < t.numel(); ++i) {
    sum += p[i];
    m.min = std::min(m.min, static_cast<double>(p[i]));
    m.max = std::max(m.max, static_cast<double>(p[i]));
  }
  m.mean = sum / t.numel();
  for (int64_t i = 0; i < t.numel(); ++i) sq += (p[i] - m.mean) * (p[i] - m.mean);
  m.std = std::sqrt(sq / (t.numel() - 1));
  return m;
}

constexpr int64_t kN = 200000;

// Mean and standard deviation within 5 standard errors of the expected.
void check_normal(const Moments& m, double mean, double std) {
  CHECK(std::abs(m.mean - mean) < 5 * std / std::sqrt(double(kN)));
  CHECK(std::abs(m.std - std) < 5 * std / std::sqrt(2.0 * kN));
}

void check_uniform(const Moments& m, double lo, double hi) {
  CHECK(m.min >= lo);
  CHECK(m.max <= hi);
  const double sd = (hi - lo) / std::sqrt(12.0);
  CHECK(std::abs(m.mean - (lo + hi) / 2) < 5 * sd / std::sqrt(double(kN)));
  // The variance of a uniform sample's variance: (hi-lo)^4/180 per sample.
  CHECK(std::abs(m.std * m.std - sd * sd) < 5 * (hi - lo) * (hi - lo) / std::sqrt(180.0 * kN));
}

}  // namespace

TEST_CASE("the RNG gives pinned values on every platform", "[runtime]") {
  // Pinned when the algorithms were chosen; identical with GCC and Clang, at
  // -O0 and -O3 -march=native (FMA). A failure here means initial weights
  // changed for every user: only ever on purpose.
  Rng a(1, 0);
  CHECK(a.next_u64() == 0xef75d62a19ba94edull);
  CHECK(a.next_u64() == 0x8e9490536375f270ull);
  Rng b(42, 7);
  CHECK(b.uniform() == 0x1.25fd9cd758044p-3);
  CHECK(b.normal() == 0x1.3c3379aa3fafap-1);
  CHECK(b.normal() == -0x1.d8eec5e7595c7p-2);
  Tensor w = Tensor::f32({3});
  init_tensor(w, InitSpec::he_normal(784), 1, stream_of("W1"));
  CHECK(w.data<float>()[0] == 0x1.f48d38p-7f);
  CHECK(w.data<float>()[2] == -0x1.754e92p-8f);
}

TEST_CASE("initialisation is deterministic per (seed, stream) and streams are independent",
          "[runtime]") {
  auto draw = [](uint64_t seed, uint64_t stream) {
    Tensor t = Tensor::f64({64});
    init_tensor(t, InitSpec::normal(0, 1), seed, stream);
    return t;
  };
  CHECK(draw(1, 0).equals(draw(1, 0)));
  CHECK_FALSE(draw(1, 0).equals(draw(1, 1)));
  CHECK_FALSE(draw(1, 0).equals(draw(2, 0)));
  CHECK_FALSE(draw(1, 2).equals(draw(2, 1)));
  CHECK(stream_of("W1") != stream_of("W2"));
  CHECK(stream_of("") == 0xcbf29ce484222325ull);

  // f32 holds the f64 draw rounded.
  Tensor f = Tensor::f32({64});
  init_tensor(f, InitSpec::normal(0, 1), 1, 0);
  Tensor d = draw(1, 0);
  for (int i = 0; i < 64; ++i) CHECK(f.data<float>()[i] == static_cast<float>(d.data<double>()[i]));
}

TEST_CASE("normal initialisers have the right moments", "[runtime]") {
  Tensor t = Tensor::f64({kN});
  init_tensor(t, InitSpec::normal(2, 3), 7, 0);
  Moments m = moments<double>(t);
  check_normal(m, 2, 3);
  // About 68.27% within one standard deviation (binomial standard error ~0.1%).
  int64_t within = 0;
  for (int64_t i = 0; i < kN; ++i) within += std::abs(t.data<double>()[i] - 2) < 3;
  CHECK(std::abs(double(within) / kN - 0.682689) < 0.006);

  Tensor h = Tensor::f32({kN});
  init_tensor(h, InitSpec::he_normal(50), 7, 1);
  check_normal(moments<float>(h), 0, std::sqrt(2.0 / 50));

  Tensor z = Tensor::f32({10});
  init_tensor(z, InitSpec::normal(5, 0), 1, 1);
  CHECK(moments<float>(z).min == 5.0);
}

TEST_CASE("uniform initialisers stay in bounds with the right moments", "[runtime]") {
  Tensor t = Tensor::f64({kN});
  init_tensor(t, InitSpec::uniform(-1, 3), 3, 0);
  Moments m = moments<double>(t);
  check_uniform(m, -1, 3);
  CHECK(m.max < 3);

  Tensor g = Tensor::f32({kN});
  init_tensor(g, InitSpec::glorot_uniform(100, 50), 3, 1);
  const double r = std::sqrt(6.0 / 150);
  check_uniform(moments<float>(g), -r, r);

  // A range wider than the largest double: sampled, not "inf".
  Tensor wide = Tensor::f64({kN});
  init_tensor(wide, InitSpec::uniform(-1e308, 1e308), 3, 2);
  Moments w = moments<double>(wide);
  CHECK(w.min >= -1e308);
  CHECK(w.max <= 1e308);
  CHECK(w.max > 0.9e308);
  CHECK(w.min < -0.9e308);

  Rng rng(5, 5);
  int counts[3] = {0, 0, 0};
  for (int i = 0; i < 30000; ++i) {
    uint64_t k = rng.below(3);
    REQUIRE(k < 3);
    ++counts[k];
  }
  for (int c : counts) CHECK(std::abs(c - 10000) < 500);
}

TEST_CASE("constant initialisers, integers, and invalid specs", "[runtime]") {
  Tensor t = Tensor::f32({2, 2});
  init_tensor(t, InitSpec::ones(), 0, 0);
  CHECK(moments<float>(t).min == 1);
  init_tensor(t, InitSpec::constant(-0.5), 0, 0);
  CHECK(moments<float>(t).max == -0.5);
  init_tensor(t, InitSpec::zeros(), 0, 0);
  CHECK(moments<float>(t).max == 0);

  Tensor i = Tensor::i32({3});
  init_tensor(i, InitSpec::constant(-4), 0, 0);
  CHECK(i.data<int32_t>()[2] == -4);
  CHECK_THROWS_WITH(init_tensor(i, InitSpec::normal(0, 1), 0, 0),
                    Catch::Contains("holds integers"));
  CHECK_THROWS_WITH(init_tensor(i, InitSpec::constant(0.5), 0, 0), Catch::Contains("does not fit"));
  CHECK_THROWS_AS(init_tensor(i, InitSpec::constant(3e9), 0, 0), Error);

  CHECK_THROWS_WITH(init_tensor(t, InitSpec::normal(0, -1), 0, 0),
                    Catch::Contains("normal(0, -1)"));
  CHECK_THROWS_AS(init_tensor(t, InitSpec::uniform(2, 1), 0, 0), Error);
  CHECK_THROWS_WITH(init_tensor(t, InitSpec::he_normal(0), 0, 0),
                    Catch::Contains("fan_in must be positive"));
  CHECK_THROWS_AS(init_tensor(t, InitSpec::glorot_uniform(0, 0), 0, 0), Error);
  CHECK_THROWS_AS(init_tensor(t, InitSpec::constant(std::nan("")), 0, 0), Error);
  CHECK_THROWS_WITH(init_tensor(t, InitSpec::constant(1e300), 0, 0),
                    Catch::Contains("beyond the range of f32"));
  CHECK(describe(InitSpec::glorot_uniform(3, 4)) == "glorot_uniform(fan_in=3, fan_out=4)");
}

TEST_CASE("portable_log agrees with the C library's log", "[runtime]") {
  double worst = 0;
  for (double x : {1e-300, 1e-10, 0.1, 0.5, 0.70710678, 0.9999999, 1.0, 1.0000001, 1.41421356, 2.0,
                   3.0, 10.0, 12345.678, 1e300, 4.9e-324}) {
    double ref = std::log(x), got = portable_log(x);
    double ulp = std::abs(std::nextafter(ref, 2 * ref + 1) - ref);
    worst = std::max(worst, std::abs(got - ref) / (ulp > 0 ? ulp : 1e-300));
  }
  Rng rng(9, 9);
  for (int i = 0; i < 10000; ++i) {
    double x = rng.uniform();
    if (x == 0) continue;
    double ref = std::log(x), got = portable_log(x);
    double ulp = std::abs(std::nextafter(ref, 0.0) - ref);
    worst = std::max(worst, ref == 0 ? std::abs(got) : std::abs(got - ref) / ulp);
  }
  CHECK(worst <= 4);
  CHECK(portable_log(1.0) == 0.0);
  CHECK(std::isnan(portable_log(-1.0)));
  CHECK(portable_log(0.0) == -std::numeric_limits<double>::infinity());
}
