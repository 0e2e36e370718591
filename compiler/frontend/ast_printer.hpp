// A stable text form of the AST for `adjc emit --stage=ast` and golden tests:
// one line per statement, `LINE:COL` first, expressions as fully
// parenthesised prefix forms so precedence and associativity are visible:
//
//   12:1 def dense(x, W, b) = (+ (@ x W) b)
//   14:1 h = (call relu (call dense x W1 b1))
//   7:1 param W1 : f32[784, 128] = he_normal
#pragma once

#include <string>

#include "frontend/ast.hpp"

namespace adjoint::frontend {

std::string expr_str(const Expr& e);      // "(+ (@ x W) b)"
std::string type_str(const TypeExpr& t);  // "f32[B, 784]"
std::string stmt_str(const Stmt& s);      // without the location
std::string ast_str(const Ast& ast);      // every statement, one per line, with locations

}  // namespace adjoint::frontend
