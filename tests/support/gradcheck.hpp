// Gradient checking against finite differences, in f64, through the reference
// evaluator. Used by the per-op checks (generated from the op table), the
// composite networks and the random-program property test.
#pragma once

#include <cstdint>
#include <random>
#include <string>

#include "eval/evaluator.hpp"
#include "ir/graph.hpp"
#include "ops/op_table.hpp"

namespace adjoint::testing {

struct GradCheckResult {
  bool ok = true;
  double max_error = 0;   // max |ad - fd| / (atol/rtol + max(|ad|, |fd|)) * rtol, scaled to rtol
  int64_t elements = 0;   // gradient elements compared
  std::string report;     // the first mismatches, for the test log
};

struct GradCheckOptions {
  double step = 1e-3;  // four-point central differences
  double rtol = 1e-6;
  double atol = 1e-8;
  // Compare at most this many elements of each gradient, evenly spaced (0: all);
  // keeps finite differences affordable on networks with large weights.
  int64_t max_per_tensor = 0;
};

// Differentiates `forward` (reverse mode), evaluates the gradients and compares
// every element with (-f(x+2h) + 8f(x+h) - 8f(x-h) + f(x-2h)) / 12h.
GradCheckResult check_gradients(const Graph& forward, const TensorMap& leaves,
                                const GradCheckOptions& opts = {});

// Samples a tensor in a domain (see op_table.hpp: Domain).
DTensor sample(const CheckArg& arg, std::mt19937_64& rng);

// Random values for every input and param of `g`: symbolic sizes from `sizes`,
// floats uniform in [-1, 1] (scaled by 1/sqrt(fan) for params used as matmul or
// conv weights would be over-engineering: plain uniform is used), and i32
// tensors in range for their use (the class count of softmax_cross_entropy
// labels, the row count of a gather table).
TensorMap random_leaves(const Graph& g, const DimEnv& sizes, uint64_t seed);

// Builds the check graph for one case of an op (leaves a0, a1, ...; loss =
// sum(op(...) * r) with a random projection r) and checks it.
GradCheckResult check_op_case(OpKind op, const CheckCase& c, uint64_t seed);

}  // namespace adjoint::testing
