// Shared plumbing for passes that build a new graph from an old one: every
// pass copies surviving nodes in order through a value map (old id -> new
// id), then remaps the graph's results through the same map.
#pragma once

#include <vector>

#include "ir/graph.hpp"

namespace adjoint {

// A graph with `g`'s model name, float type and wrt list, and nothing else.
Graph empty_like(const Graph& g);

// Appends a copy of `n` to `out` with its operands mapped through `map`
// (every operand must already be mapped); keeps name, loc and adjoint flag.
ValueId copy_node(Graph& out, const Node& n, const std::vector<ValueId>& map);

// Sets `to`'s loss, outputs and grads to `from`'s, mapped through `map`.
void copy_results(const Graph& from, Graph& to, const std::vector<ValueId>& map);

}  // namespace adjoint
