// Reads the IR's text form (see printer.hpp) back into a Graph.
//
// Nodes are built through the op table: each line's op must be a primitive
// with a row (composite ops never appear in printed IR and are rejected), its
// operands must be defined on earlier lines, and its type annotation must be
// exactly what the op's type rule gives. Value numbers need not be dense or
// in order; they are renumbered in line order. `# comments` and blank lines
// are allowed. Locations `@LINE:COL` become Node::loc in file 0.
//
// Any malformed text throws adjoint::Error "FILE:LINE:COL: error: ..." with
// the offending line and a caret; no input makes it crash. The graph it
// returns passes verify().
#pragma once

#include <string>
#include <string_view>

#include "ir/graph.hpp"

namespace adjoint {

Graph parse_graph(std::string_view text, const std::string& filename);

}  // namespace adjoint
