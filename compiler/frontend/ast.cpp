#include "frontend/ast.hpp"

#include <algorithm>

namespace adjoint::frontend {

namespace {

uint32_t height(const ExprPtr& e) { return e ? e->depth : 0; }

// Height of the tallest child of a node.
struct ChildHeight {
  uint32_t operator()(const Negate& n) const { return height(n.operand); }
  uint32_t operator()(const TransposeExpr& n) const { return height(n.operand); }
  uint32_t operator()(const Binary& n) const { return std::max(height(n.lhs), height(n.rhs)); }
  uint32_t operator()(const Call& n) const {
    uint32_t h = 0;
    for (const Arg& a : n.args) h = std::max(h, height(a.value));
    return h;
  }
  uint32_t operator()(const ListLit& n) const {
    uint32_t h = 0;
    for (const ExprPtr& e : n.elems) h = std::max(h, height(e));
    return h;
  }
  template <class Leaf>
  uint32_t operator()(const Leaf&) const {
    return 0;
  }
};

}  // namespace

const char* binop_spelling(BinOp op) {
  switch (op) {
    case BinOp::Add:
      return "+";
    case BinOp::Sub:
      return "-";
    case BinOp::Mul:
      return "*";
    case BinOp::Div:
      return "/";
    case BinOp::MatMul:
      return "@";
    case BinOp::Pow:
      return "^";
  }
  return "?";
}

ExprPtr make_expr(SourceLoc loc, Expr::Node node, std::optional<SourceLoc> begin) {
  auto e = std::make_unique<Expr>();
  e->loc = loc;
  e->begin = begin.value_or(loc);
  e->depth = 1 + std::visit(ChildHeight{}, node);
  e->node = std::move(node);
  return e;
}

std::optional<double> literal_number(const Expr& e) {
  if (auto* n = e.as<NumberLit>()) return n->value;
  if (auto* neg = e.as<Negate>())
    if (auto v = literal_number(*neg->operand)) return -*v;
  return std::nullopt;
}

std::optional<int64_t> literal_integer(const Expr& e) {
  if (auto* n = e.as<NumberLit>())
    return n->is_integer && n->fits_int64 ? std::optional<int64_t>(n->integer) : std::nullopt;
  if (auto* neg = e.as<Negate>())
    if (auto v = literal_integer(*neg->operand)) return -*v;
  return std::nullopt;
}

std::string literal_text(const Expr& e) {
  if (auto* n = e.as<NumberLit>()) return n->text;
  if (auto* neg = e.as<Negate>()) {
    std::string inner = literal_text(*neg->operand);
    return inner.empty() ? "" : "-" + inner;
  }
  return "";
}

const std::string* bound_name(const Stmt& s) {
  if (auto* x = s.as<InputStmt>()) return &x->name;
  if (auto* x = s.as<ParamStmt>()) return &x->name;
  if (auto* x = s.as<DefStmt>()) return &x->name;
  if (auto* x = s.as<LetStmt>()) return &x->name;
  if (auto* x = s.as<InvalidStmt>()) return x->name.empty() ? nullptr : &x->name;
  return nullptr;
}

}  // namespace adjoint::frontend
