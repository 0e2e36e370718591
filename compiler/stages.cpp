#include "stages.hpp"

#include "autodiff/reverse_mode.hpp"
#include "frontend/ast.hpp"
#include "frontend/frontend.hpp"
#include "ir/printer.hpp"
#include "ir/verifier.hpp"
#include "passes/pipeline.hpp"

namespace adjoint {

std::optional<Stage> parse_stage(std::string_view name) {
  if (name == "ast") return Stage::ast;
  if (name == "ir") return Stage::ir;
  if (name == "grad") return Stage::grad;
  if (name == "opt") return Stage::opt;
  return std::nullopt;
}

const char* stage_names() { return "ast|ir|grad|opt"; }

Graph differentiate(const Graph& ir) { return ir.loss ? reverse_mode(ir) : ir; }

StagedGraphs run_pipeline(const Graph& ir) {
  // Verification is cheap next to everything else, so it runs in every build.
  verify_or_throw(ir, "sema");
  StagedGraphs s{ir, differentiate(ir), {}};
  verify_or_throw(s.grad, "reverse_mode");
  s.opt = optimize(s.grad);
  return s;
}

std::optional<std::string> emit_stage(SourceManager& sm, uint32_t file, Diagnostics& diags,
                                      Stage stage) {
  if (stage == Stage::ast) {
    auto ast = parse_source(sm, file, diags);
    if (!ast || diags.has_errors()) return std::nullopt;
    return print_ast(*ast);
  }
  auto ir = compile_source(sm, file, diags);
  if (!ir || diags.has_errors()) return std::nullopt;
  if (stage == Stage::ir) return print_graph(*ir);
  StagedGraphs s = run_pipeline(*ir);
  return print_graph(stage == Stage::grad ? s.grad : s.opt);
}

}  // namespace adjoint
