// Dead-code elimination.
//
// Guarantees: the result holds exactly the nodes that the loss, the outputs
// or the grads depend on, plus every input and param leaf (even unused ones:
// they are part of the compiled function's signature). Surviving nodes keep
// their relative order, names, locations and adjoint flags; the graph's
// results are remapped. Nothing is reordered or retyped, so a verified graph
// stays verified.
#pragma once

#include "ir/graph.hpp"

namespace adjoint {

Graph dce(const Graph& g);

}  // namespace adjoint
