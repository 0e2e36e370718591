// The AST of one .adj file: a list of statements over expression trees.
//
// Every node carries the SourceLoc of the token that names it (an operator's
// own token for binary and unary operators, the callee's name for a call), so
// sema can put each IR node and each message on the user's text.
#pragma once

#include <cstdint>
#include <memory>
#include <optional>
#include <string>
#include <variant>
#include <vector>

#include "ir/type.hpp"
#include "support/diagnostics.hpp"

namespace adjoint::frontend {

struct Expr;
using ExprPtr = std::unique_ptr<Expr>;

struct NumberLit {
  std::string text;  // as written, for printing
  double value = 0;
  bool is_integer = false;  // no '.' and no exponent
  bool fits_int64 = false;
  int64_t integer = 0;
};
struct BoolLit {
  bool value = false;
};
struct NameRef {
  std::string name;
};
// Unary minus.
struct Negate {
  ExprPtr operand;
};
// Postfix `.T`.
struct TransposeExpr {
  ExprPtr operand;
};
enum class BinOp { Add, Sub, Mul, Div, MatMul, Pow };
const char* binop_spelling(BinOp op);  // "+", "@", "^", ...
struct Binary {
  BinOp op;
  ExprPtr lhs, rhs;
};
// One argument of a call: `value` or `keyword=value`.
struct Arg {
  std::string keyword;  // empty: positional
  SourceLoc loc;        // of the keyword, or of the value when positional
  ExprPtr value;
};
struct Call {
  std::string callee;
  std::vector<Arg> args;
};
// `[e1, e2, ...]`: only meaningful as a builtin's Dims argument.
struct ListLit {
  std::vector<ExprPtr> elems;
};

struct Expr {
  using Node =
      std::variant<NumberLit, BoolLit, NameRef, Negate, TransposeExpr, Binary, Call, ListLit>;
  SourceLoc loc;       // of the node's own token (an operator, a callee's name)
  SourceLoc begin;     // of the first token of its text
  uint32_t depth = 1;  // height of the tree below and including this node
  Node node;

  template <class T>
  const T* as() const {
    return std::get_if<T>(&node);
  }
};

// Computes depth from the children; `begin` defaults to `loc`.
ExprPtr make_expr(SourceLoc loc, Expr::Node node, std::optional<SourceLoc> begin = std::nullopt);

// A number literal, possibly under unary minus (`-0.5`, `- -2`); nullopt for
// anything else. Used wherever the language wants a literal, not a value.
std::optional<double> literal_number(const Expr& e);
// The same for an integer literal that fits int64.
std::optional<int64_t> literal_integer(const Expr& e);
// The literal as written, with its minus signs ("-0.5"); "" if not a literal number.
std::string literal_text(const Expr& e);

// ---- Types ----

// A dimension as written: an integer literal or a size symbol.
struct DimExpr {
  SourceLoc loc;
  std::optional<int64_t> size;  // literal (may be <= 0: sema rejects it)
  std::string symbol;           // when !size
};
struct TypeExpr {
  SourceLoc loc;  // of the dtype keyword
  DType dtype = DType::f32;
  std::vector<DimExpr> dims;  // empty: a scalar
};

// ---- Statements ----

struct ModelStmt {
  std::string name;
};
struct InputStmt {
  std::string name;
  TypeExpr type;
};
struct ParamStmt {
  std::string name;
  TypeExpr type;
  ExprPtr init;  // null: the default (zeros)
};
struct DefParam {
  std::string name;
  SourceLoc loc;
};
struct DefStmt {
  std::string name;
  std::vector<DefParam> params;
  ExprPtr body;
};
struct LetStmt {
  std::string name;
  ExprPtr value;
};
struct NameUse {
  std::string name;
  SourceLoc loc;
};
struct MinimizeStmt {
  NameUse target;
  std::vector<NameUse> wrt;  // empty: every param
  bool has_wrt = false;
};
struct OutputStmt {
  std::vector<NameUse> names;
};
// A statement that failed to parse (already reported). If it was going to
// bind a name, sema binds that name to a poison marker so its uses do not
// cascade into more errors.
struct InvalidStmt {
  std::string name;  // may be empty
};

struct Stmt {
  using Node = std::variant<ModelStmt, InputStmt, ParamStmt, DefStmt, LetStmt, MinimizeStmt,
                            OutputStmt, InvalidStmt>;
  SourceLoc loc;       // of the statement's first token
  SourceLoc name_loc;  // of the name it binds, when it binds one
  Node node;

  template <class T>
  const T* as() const {
    return std::get_if<T>(&node);
  }
};

// The name a statement binds (input, param, def, value, or an invalid
// statement's intended name); empty for the others.
const std::string* bound_name(const Stmt& s);

}  // namespace adjoint::frontend

namespace adjoint {

struct Ast {
  uint32_t file = 0;
  std::vector<frontend::Stmt> stmts;
};

}  // namespace adjoint
