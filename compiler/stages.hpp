// The compiler's pipeline, in order. Every stage is a pure function of the
// previous one, and every stage prints (`adjc emit --stage=...`):
//
//   text --parse--> AST --sema--> IR --reverse_mode--> grad --optimize--> opt
//        --plan_memory--> plan
//
//        --lower--> llvm --O3, codegen--> asm
//
// `plan` is where code generation puts each intermediate in the workspace
// (codegen/memory_plan.hpp); `llvm` is the module as lowered (before LLVM's
// optimiser), `asm` the host's assembly after it.
#pragma once

#include <optional>
#include <string>
#include <string_view>

#include "ir/graph.hpp"
#include "support/diagnostics.hpp"

namespace adjoint {

enum class Stage { ast, ir, grad, opt, plan, llvm, asm_ };
std::optional<Stage> parse_stage(std::string_view name);
const char* stage_names();  // "ast|ir|grad|opt|plan|llvm|asm", for usage messages

// Size values from the command line: "B=64" or "B=64,T=8" (each in (0,
// kMaxDimValue]); nullopt if malformed. The cap keeps byte counts (a size
// times other sizes times 8) far from int64 overflow.
constexpr int64_t kMaxDimValue = int64_t{1} << 32;
// What parse_dim_values accepts, for usage messages.
constexpr const char* kDimValuesUsage =
    "--dim expects NAME=N[,NAME=N...] with each name once and each N a whole number in [1, "
    "4294967296]";
std::optional<DimEnv> parse_dim_values(const std::string& s);
// "" when every name in `dims` is one of `symbols` (a model's size symbols),
// else "model 'm' has no size symbol 'Q' (its symbols: B, D)".
std::string unknown_size(const std::string& model, const std::vector<std::string>& symbols,
                         const DimEnv& dims);

// The IR after each stage. A model without `minimize` has no gradient: its
// grad stage is its IR.
struct StagedGraphs {
  Graph ir, grad, opt;
};

// IR -> IR stages.
Graph differentiate(const Graph& ir);
StagedGraphs run_pipeline(const Graph& ir);

// Compiles `file` up to `stage` and returns the stage's text; user errors go to
// `diags` and give nullopt. `dims` gives the plan concrete sizes too.
std::optional<std::string> emit_stage(SourceManager& sm, uint32_t file, Diagnostics& diags,
                                      Stage stage, const DimEnv& dims = {});

}  // namespace adjoint
