#include "stages.hpp"

#include <algorithm>
#include <stdexcept>
#include <string>

#include "autodiff/reverse_mode.hpp"
#include "codegen/memory_plan.hpp"
#include "codegen/native.hpp"
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
  if (name == "plan") return Stage::plan;
  if (name == "llvm") return Stage::llvm;
  if (name == "asm") return Stage::asm_;
  return std::nullopt;
}

const char* stage_names() { return "ast|ir|grad|opt|plan|llvm|asm"; }

std::string unknown_size(const std::string& model, const std::vector<std::string>& symbols,
                         const DimEnv& dims) {
  for (const auto& [name, value] : dims) {
    if (std::find(symbols.begin(), symbols.end(), name) != symbols.end()) continue;
    std::string known;
    for (const std::string& s : symbols) known += (known.empty() ? "" : ", ") + s;
    return "model '" + model + "' has no size symbol '" + name +
           "' (its symbols: " + (known.empty() ? "none" : known) + ")";
  }
  return "";
}

std::optional<DimEnv> parse_dim_values(const std::string& s) {
  DimEnv env;
  size_t start = 0;
  while (true) {
    size_t end = s.find(',', start);
    std::string item = s.substr(start, end == std::string::npos ? std::string::npos : end - start);
    size_t eq = item.find('=');
    if (eq == std::string::npos || eq == 0) return std::nullopt;
    try {
      size_t used = 0;
      long long v = std::stoll(item.substr(eq + 1), &used);
      if (used != item.size() - eq - 1 || v <= 0 || v > kMaxDimValue) return std::nullopt;
      if (!env.emplace(item.substr(0, eq), v).second) return std::nullopt;  // a name twice
    } catch (const std::exception&) {
      return std::nullopt;
    }
    if (end == std::string::npos) return env;
    start = end + 1;
  }
}

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
                                      Stage stage, const DimEnv& dims) {
  if (stage == Stage::ast) {
    auto ast = parse_source(sm, file, diags);
    if (!ast || diags.has_errors()) return std::nullopt;
    return print_ast(*ast);
  }
  auto ir = compile_source(sm, file, diags);
  if (!ir || diags.has_errors()) return std::nullopt;
  if (stage == Stage::ir) return print_graph(*ir);
  StagedGraphs s = run_pipeline(*ir);
  if (stage == Stage::plan) return print_memory_plan(s.opt, plan_memory(s.opt), dims);
  if (stage == Stage::llvm) return emit_llvm_ir(s.opt);
  if (stage == Stage::asm_) return emit_native_asm(s.opt);
  return print_graph(stage == Stage::grad ? s.grad : s.opt);
}

}  // namespace adjoint
