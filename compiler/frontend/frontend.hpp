// The front end's entry points: .adj text -> AST -> IR graph.
//
// Errors go to `diags` as `file:line:col: error: ...` with the source line and
// a caret; one run reports every independent error it finds.
#pragma once

#include <cstdint>
#include <memory>
#include <optional>
#include <string>

#include "ir/graph.hpp"
#include "support/diagnostics.hpp"

namespace adjoint {

struct Ast;  // frontend/ast.hpp

// Parses a file. Statements that fail are reported and kept in the AST as
// invalid entries (so sema does not cascade). Null only on hard failure: more
// errors than Diagnostics shows, i.e. the input is not an .adj file at all.
std::unique_ptr<Ast> parse_source(const SourceManager& sm, uint32_t file, Diagnostics& diags);

// Stable text of the AST (`adjc emit --stage=ast`, golden tests).
std::string print_ast(const Ast& ast);

// Sema: checks names, types and shapes and builds the IR graph. Nullopt when
// there were errors (including parse errors already in `diags`).
std::optional<Graph> lower_to_ir(const Ast& ast, const SourceManager& sm, uint32_t file,
                                 Diagnostics& diags);

// parse_source + lower_to_ir.
std::optional<Graph> compile_source(SourceManager& sm, uint32_t file, Diagnostics& diags);

}  // namespace adjoint
