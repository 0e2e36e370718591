// The IR's text form: one line per node, then the graph's results.
//
//   model mlp f32
//   %0 = input {dtype="f32", name="x", shape=[B,784]} : f32[B,784]  @3:1
//   %5 logits = add(%3, %4) : f32[B,10]  @13:10
//   %9 = matmul(%8, %1) {ta=false, tb=true} : f32[B,784]  adjoint @10:5
//   loss %7
//   wrt W1, b1
//   output logits = %5
//   grad W1 = %12
//
// A node line is `%ID [NAME] = OP[(ARGS)] [{ATTRS}] : TYPE [adjoint] [@LINE:COL]`;
// the operand list is left out for ops with no operands, the location when it
// is unknown (and its file index always: a model is one source file). Names
// that are not identifiers are printed as quoted strings. Every field of a node is shown,
// so the text is the graph: ir_parser.hpp reads it back, and
// print(parse(print(g))) == print(g). The form is stable (goldens check it in).
#pragma once

#include <string>

#include "ir/graph.hpp"

namespace adjoint {

std::string print_graph(const Graph& g);
// One node's line, without the newline (for messages and dumps).
std::string print_node(const Graph& g, ValueId v);
// A name as the text form spells it: bare if an identifier, else quoted.
std::string print_name(const std::string& name);

}  // namespace adjoint
