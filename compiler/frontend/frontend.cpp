#include "frontend/frontend.hpp"

#include "frontend/ast_printer.hpp"
#include "frontend/parser.hpp"
#include "frontend/sema.hpp"

namespace adjoint {

std::unique_ptr<Ast> parse_source(const SourceManager& sm, uint32_t file, Diagnostics& diags) {
  return frontend::Parser(sm, file, diags).parse();
}

std::string print_ast(const Ast& ast) { return frontend::ast_str(ast); }

std::optional<Graph> lower_to_ir(const Ast& ast, const SourceManager& sm, uint32_t file,
                                 Diagnostics& diags) {
  std::optional<Graph> g = frontend::Sema(ast, sm, file, diags).run();
  if (diags.has_errors()) return std::nullopt;
  return g;
}

std::optional<Graph> compile_source(SourceManager& sm, uint32_t file, Diagnostics& diags) {
  std::unique_ptr<Ast> ast = parse_source(sm, file, diags);
  if (!ast) return std::nullopt;
  return lower_to_ir(*ast, sm, file, diags);
}

}  // namespace adjoint
