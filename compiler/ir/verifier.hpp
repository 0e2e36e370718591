// The IR verifier: the invariants every graph must hold between passes.
//
// A graph that fails verification was made by a compiler bug, never by user
// input (the parser and sema reject bad input with messages first). Checks:
//  - every operand precedes its user (topological order), and exists;
//  - each node has its op's arity, its op is a primitive with a row (no
//    composite op survives building), and its type is what the op's type
//    rule gives for its operands and attributes;
//  - input/param leaves have unique names;
//  - the loss is a float scalar; loss, outputs and grads name existing nodes;
//  - wrt names are float leaves; each grad names a wrt leaf and has its type.
#pragma once

#include <string>
#include <vector>

#include "ir/graph.hpp"

namespace adjoint {

// Every problem found, one message each; empty when the graph is fine.
std::vector<std::string> verify(const Graph& g);

// Throws std::logic_error listing the problems (a failed verify is a
// compiler bug); `stage` names the pass that produced the graph.
void verify_or_throw(const Graph& g, const std::string& stage);

// Whether `kind` has a row in the op table (op_info aborts on one without).
bool op_defined(OpKind kind);

}  // namespace adjoint
