// Deterministic parameter initialisers: the same (spec, seed, stream) fills a
// tensor with the same bits on every platform (see adjoint/rng.hpp).
//
//   adjoint::Tensor w = adjoint::Tensor::f32({784, 128});
//   adjoint::init_tensor(w, adjoint::InitSpec::he_normal(784), /*seed=*/1,
//                        adjoint::stream_of("W1"));
//
// Each parameter should draw from its own stream (its name through
// stream_of, or its index), so adding a parameter leaves the others as they
// were. Random values are drawn in double precision in row-major order and
// rounded to the tensor's type.
#pragma once

#include <adjoint/tensor.hpp>
#include <cstdint>
#include <string>

namespace adjoint {

enum class InitKind { zeros, ones, constant, normal, uniform, he_normal, glorot_uniform };

// How to fill one tensor. Build it with the named factories below; the
// meaning of a, b, fan_in and fan_out depends on the kind.
struct InitSpec {
  InitKind kind = InitKind::zeros;
  double a = 0;                     // constant: the value; normal: the mean; uniform: the low end
  double b = 0;                     // normal: the standard deviation; uniform: the high end
  int64_t fan_in = 0, fan_out = 0;  // he_normal, glorot_uniform

  static InitSpec zeros() { return {InitKind::zeros}; }
  static InitSpec ones() { return {InitKind::ones}; }
  static InitSpec constant(double v) { return {InitKind::constant, v}; }
  static InitSpec normal(double mean, double std) { return {InitKind::normal, mean, std}; }
  // Uniform on [lo, hi) in double precision (rounding to f32 may reach hi).
  static InitSpec uniform(double lo, double hi) { return {InitKind::uniform, lo, hi}; }
  // normal(0, sqrt(2 / fan_in)) (He et al. 2015, for ReLU layers).
  static InitSpec he_normal(int64_t fan_in) { return {InitKind::he_normal, 0, 0, fan_in}; }
  // uniform(-r, r) with r = sqrt(6 / (fan_in + fan_out)) (Glorot and Bengio 2010).
  static InitSpec glorot_uniform(int64_t fan_in, int64_t fan_out) {
    return {InitKind::glorot_uniform, 0, 0, fan_in, fan_out};
  }
};

// "zeros", "ones", "constant", "normal", "uniform", "he_normal", "glorot_uniform".
const char* init_kind_name(InitKind k);
// E.g. "normal(0, 0.01)", "he_normal(fan_in=784)".
std::string describe(const InitSpec& spec);

// Fills `t` (owning or a view) according to `spec`. Throws adjoint::Error on
// an invalid spec (a negative or non-finite standard deviation, lo > hi, a
// non-positive fan-in, a non-finite constant), on a random initialiser for an
// i32 tensor, and on a constant that an i32 tensor cannot hold exactly.
void init_tensor(Tensor& t, const InitSpec& spec, uint64_t seed, uint64_t stream);

}  // namespace adjoint
