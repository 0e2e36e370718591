#include "adjoint/init.hpp"

#include <cmath>
#include <limits>
#include <sstream>

#include "adjoint/rng.hpp"
#include "fp_strict.hpp"  // first: no FMA contraction in this file

namespace adjoint {

const char* init_kind_name(InitKind k) {
  switch (k) {
    case InitKind::zeros:
      return "zeros";
    case InitKind::ones:
      return "ones";
    case InitKind::constant:
      return "constant";
    case InitKind::normal:
      return "normal";
    case InitKind::uniform:
      return "uniform";
    case InitKind::he_normal:
      return "he_normal";
    case InitKind::glorot_uniform:
      return "glorot_uniform";
  }
  return "?";
}

std::string describe(const InitSpec& s) {
  std::ostringstream o;
  o << init_kind_name(s.kind);
  switch (s.kind) {
    case InitKind::zeros:
    case InitKind::ones:
      break;
    case InitKind::constant:
      o << "(" << s.a << ")";
      break;
    case InitKind::normal:
    case InitKind::uniform:
      o << "(" << s.a << ", " << s.b << ")";
      break;
    case InitKind::he_normal:
      o << "(fan_in=" << s.fan_in << ")";
      break;
    case InitKind::glorot_uniform:
      o << "(fan_in=" << s.fan_in << ", fan_out=" << s.fan_out << ")";
      break;
  }
  return o.str();
}

namespace {

// The spec in its plain form: every tensor is filled by one of these.
struct Plan {
  enum { constant, normal, uniform } how;
  double a, b;  // value | mean, std | lo, hi
};

Plan plan_of(const InitSpec& s) {
  auto bad = [&](const std::string& why) -> Error {
    return Error("initialiser " + describe(s) + ": " + why);
  };
  switch (s.kind) {
    case InitKind::zeros:
      return {Plan::constant, 0, 0};
    case InitKind::ones:
      return {Plan::constant, 1, 0};
    case InitKind::constant:
      if (!std::isfinite(s.a)) throw bad("the value is not finite");
      return {Plan::constant, s.a, 0};
    case InitKind::normal:
      if (!std::isfinite(s.a) || !std::isfinite(s.b) || s.b < 0)
        throw bad("needs a finite mean and a finite, non-negative standard deviation");
      return {Plan::normal, s.a, s.b};
    case InitKind::uniform:
      if (!std::isfinite(s.a) || !std::isfinite(s.b) || s.a > s.b)
        throw bad("needs finite bounds lo <= hi");
      return {Plan::uniform, s.a, s.b};
    case InitKind::he_normal:
      if (s.fan_in <= 0) throw bad("fan_in must be positive");
      return {Plan::normal, 0, std::sqrt(2.0 / static_cast<double>(s.fan_in))};
    case InitKind::glorot_uniform: {
      if (s.fan_in < 0 || s.fan_out < 0 || s.fan_in + s.fan_out <= 0)
        throw bad("fan_in and fan_out must be non-negative with a positive sum");
      double r = std::sqrt(6.0 / static_cast<double>(s.fan_in + s.fan_out));
      return {Plan::uniform, -r, r};
    }
  }
  throw bad("unknown kind");
}

template <class T>
void fill(T* out, int64_t n, const InitSpec& s, const Plan& p, Rng& rng) {
  for (int64_t i = 0; i < n; ++i) {
    double v = p.a;
    if (p.how == Plan::normal) v = p.a + p.b * rng.normal();
    if (p.how == Plan::uniform) {
      double u = rng.uniform(), width = p.b - p.a;
      // A range wider than the largest double (-1e308 to 1e308) is still
      // sampled, without forming its width.
      v = std::isfinite(width) ? p.a + width * u : p.a * (1 - u) + p.b * u;
    }
    // Converting a double beyond the float range is undefined behaviour.
    if (!(std::fabs(v) <= static_cast<double>(std::numeric_limits<T>::max())))
      throw Error("initialiser " + describe(s) + " produced " + std::to_string(v) +
                  ", beyond the range of " + (sizeof(T) == 4 ? "f32" : "f64"));
    out[i] = static_cast<T>(v);
  }
}

void fill_i32(Tensor& t, const InitSpec& s, const Plan& p) {
  if (p.how != Plan::constant)
    throw Error("initialiser " + describe(s) + " is random, but the tensor " + t.describe() +
                " holds integers");
  if (p.a != std::trunc(p.a) || p.a < -2147483648.0 || p.a > 2147483647.0)
    throw Error("initialiser " + describe(s) + " does not fit the integers of tensor " +
                t.describe());
  int32_t* out = t.data<int32_t>();
  for (int64_t i = 0; i < t.numel(); ++i) out[i] = static_cast<int32_t>(p.a);
}

}  // namespace

void init_tensor(Tensor& t, const InitSpec& spec, uint64_t seed, uint64_t stream) {
  const Plan p = plan_of(spec);
  Rng rng(seed, stream);
  switch (t.dtype()) {
    case ElemType::f32:
      fill(t.data<float>(), t.numel(), spec, p, rng);
      break;
    case ElemType::f64:
      fill(t.data<double>(), t.numel(), spec, p, rng);
      break;
    case ElemType::i32:
      fill_i32(t, spec, p);
      break;
  }
}

}  // namespace adjoint
