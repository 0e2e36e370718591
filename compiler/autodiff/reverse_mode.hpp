// Reverse-mode differentiation of a forward graph.
//
// Given a graph with a minimised scalar `loss` and a `wrt` list, appends the
// adjoint computation and fills `grads` (one per wrt name, same type as the
// leaf). The sweep visits nodes in reverse topological order, calls each op's
// local VJP rule (compiler/ops), and accumulates fan-out by addition. Work is
// done only for values that both depend on a wrt leaf and feed the loss.
// Adjoint nodes carry the location of the forward node they come from.
#pragma once

#include "ir/graph.hpp"

namespace adjoint {

Graph reverse_mode(const Graph& forward);

}  // namespace adjoint
