// Comparing native code with the reference evaluator: the op-check graphs of
// the gradient checks (built the way check_op_case builds them) in f32 or f64,
// and an elementwise comparison of two result maps.
#pragma once

#include <cstdint>
#include <string>

#include "eval/evaluator.hpp"
#include "ir/graph.hpp"
#include "ops/op_table.hpp"

namespace adjoint::testing {

struct OpGraph {
  Graph graph;       // leaves a0, a1, ... and r; loss = sum(op(...) * r); output y = op(...)
  TensorMap leaves;  // samples; for f32 rounded to float, so both sides read the same numbers
};

// The forward check graph of one case of an op, in float type `ft`.
OpGraph op_check_graph(OpKind op, const CheckCase& c, DType ft, uint64_t seed);

struct Comparison {
  bool ok = true;
  double worst = 0;    // max |native - ref| / (1 + |ref|)
  std::string report;  // the first mismatches
};

// Every tensor of `ref` must be in `native` with the same shape and each
// element within |native - ref| <= rtol * (1 + |ref|) (NaN only where ref is NaN).
Comparison compare_results(const TensorMap& native, const TensorMap& ref, double rtol);

}  // namespace adjoint::testing
