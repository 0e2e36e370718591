// The reference evaluator: runs any IR graph in double precision with plain
// loops (each op's EvalRule). Clarity over speed; it is the oracle that the
// gradient checks and the native code are compared against.
#pragma once

#include <map>
#include <string>
#include <vector>

#include "eval/dtensor.hpp"
#include "ir/graph.hpp"

namespace adjoint {

using TensorMap = std::map<std::string, DTensor>;

// Binds every size symbol from the inputs' and params' shapes. Throws
// adjoint::Error naming the tensor and both shapes on a missing leaf, a rank or
// size mismatch, or a symbol bound to two values.
DimEnv bind_sizes(const Graph& g, const TensorMap& leaves);

// The value of every node, indexed by ValueId.
std::vector<DTensor> evaluate(const Graph& g, const TensorMap& leaves);

// Just the results: "loss", "grad.NAME" for each gradient, and each output by name.
TensorMap evaluate_results(const Graph& g, const TensorMap& leaves);

}  // namespace adjoint
