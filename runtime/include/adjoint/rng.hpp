// adjoint::Rng: a small, fast, deterministic random number generator whose
// output is the same on every platform, compiler and standard library (unlike
// std:: distributions, whose algorithms are implementation-defined).
//
// The generator is xoshiro256** (Blackman and Vigna), its state filled by
// splitmix64 from a (seed, stream) pair: the same pair always gives the same
// sequence, and different streams of one seed are independent in practice.
// Streams let every parameter draw from its own sequence, so adding one
// parameter does not change how the others are initialised. The algorithms
// here are fixed: changing any of them changes every user's initial weights.
//
//   adjoint::Rng rng(/*seed=*/1, adjoint::stream_of("w1"));
//   double u = rng.uniform();   // [0, 1)
//   double z = rng.normal();    // mean 0, standard deviation 1
#pragma once

#include <cstdint>
#include <string_view>

namespace adjoint {

class Rng {
 public:
  explicit Rng(uint64_t seed, uint64_t stream = 0);

  // 64 uniformly distributed bits.
  uint64_t next_u64();
  // Uniform on [0, 1), a multiple of 2^-53.
  double uniform();
  // A standard normal sample (Marsaglia's polar method, with a logarithm
  // computed here from + - * / and sqrt only, which IEEE 754 rounds exactly
  // alike everywhere, rather than the C library's log).
  double normal();
  // Uniform on {0, ..., n-1} without modulo bias; n must be positive.
  uint64_t below(uint64_t n);

 private:
  uint64_t s_[4];
  double spare_ = 0;  // the polar method yields two samples per draw
  bool has_spare_ = false;
};

// A stream number derived from a name (64-bit FNV-1a), for per-parameter
// streams that do not depend on declaration order.
uint64_t stream_of(std::string_view name);

// The natural logarithm of a positive, finite x, computed deterministically
// (see Rng::normal); accurate to a few ulp. Exposed for its tests.
double portable_log(double x);

}  // namespace adjoint
