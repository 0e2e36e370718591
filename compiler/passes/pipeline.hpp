// The optimisation pipeline: a straight list of passes, each Graph -> Graph.
//
//   simplify -> cse -> dce
//
// With `verify` on (the default; cheap next to code generation), the input
// and the output of every pass are verified and a failure throws
// std::logic_error naming the pass: a pass that breaks the IR is a bug, and
// this is where it is caught. `after_pass`, when set, sees each stage's
// graph (for `adjc emit` and debugging dumps).
#pragma once

#include <functional>
#include <string>

#include "ir/graph.hpp"

namespace adjoint {

struct PipelineOptions {
  bool verify = true;
  std::function<void(const std::string& pass, const Graph& g)> after_pass;
};

Graph optimize(const Graph& g, const PipelineOptions& options = {});

}  // namespace adjoint
