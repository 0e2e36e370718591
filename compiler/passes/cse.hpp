// Common-subexpression elimination.
//
// Guarantees: no two non-leaf nodes of the result have the same op, operands,
// attributes and type (constants included: two `constant {value=1.0}` become
// one). Input and param leaves are never merged. The surviving node is the
// first one; it takes a later duplicate's user name if it had none, and it is
// an adjoint node only if every merged node was (a value the forward pass
// computes stays a forward value). Results are remapped; order is kept. The
// pass leaves dead nodes behind only if they were dead before.
#pragma once

#include "ir/graph.hpp"

namespace adjoint {

Graph cse(const Graph& g);

}  // namespace adjoint
