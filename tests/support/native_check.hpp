// Comparing native code with the reference evaluator: the op-check graphs of
// the gradient checks (built the way check_op_case builds them) in f32 or f64,
// and an elementwise comparison of two result maps.
#pragma once

#include <cstdint>
#include <functional>
#include <random>
#include <string>
#include <vector>

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

// A graph `model` of one op: inputs a0, a1, ... of `shapes` (whose sizes may
// use the symbol B) in float type `ft`, and the output y = op(a0, a1, ...).
Graph single_op_graph(const std::string& model, OpKind op, const std::vector<Shape>& shapes,
                      const Attrs& attrs, DType ft);

// Its leaves a0, a1, ... at B = n: uniform in [-1, 1], rounded to float for
// f32 so that native code and the evaluator read the same numbers.
TensorMap single_op_leaves(const std::vector<Shape>& shapes, DType ft, int64_t n,
                           std::mt19937& rng);

// `run` at 1, 2 and 3 threads (the default restored after): "" when every
// tensor it returns is the same bits each time, else which one differs.
std::string thread_count_difference(const std::function<TensorMap()>& run);

}  // namespace adjoint::testing
