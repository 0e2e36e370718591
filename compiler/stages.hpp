// The compiler's pipeline, in order. Every stage is a pure function of the
// previous one, and every stage prints (`adjc emit --stage=...`):
//
//   text --parse--> AST --sema--> IR --reverse_mode--> grad --optimize--> opt
//
// The stages after `opt` (memory plan, LLVM IR, native code) come in later.
#pragma once

#include <optional>
#include <string>
#include <string_view>

#include "ir/graph.hpp"
#include "support/diagnostics.hpp"

namespace adjoint {

enum class Stage { ast, ir, grad, opt };
std::optional<Stage> parse_stage(std::string_view name);
const char* stage_names();  // "ast|ir|grad|opt", for usage messages

// The IR after each stage. A model without `minimize` has no gradient: its
// grad stage is its IR.
struct StagedGraphs {
  Graph ir, grad, opt;
};

// IR -> IR stages.
Graph differentiate(const Graph& ir);
StagedGraphs run_pipeline(const Graph& ir);

// Compiles `file` up to `stage` and returns the stage's text; user errors go to
// `diags` and give nullopt.
std::optional<std::string> emit_stage(SourceManager& sm, uint32_t file, Diagnostics& diags,
                                      Stage stage);

}  // namespace adjoint
