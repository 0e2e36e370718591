#include "frontend/ast_printer.hpp"

namespace adjoint::frontend {

namespace {

struct ExprPrinter {
  std::string operator()(const NumberLit& n) const { return n.text; }
  std::string operator()(const BoolLit& b) const { return b.value ? "true" : "false"; }
  std::string operator()(const NameRef& n) const { return n.name; }
  std::string operator()(const Negate& n) const { return "(neg " + expr_str(*n.operand) + ")"; }
  std::string operator()(const TransposeExpr& t) const {
    return "(.T " + expr_str(*t.operand) + ")";
  }
  std::string operator()(const Binary& b) const {
    return std::string("(") + binop_spelling(b.op) + " " + expr_str(*b.lhs) + " " +
           expr_str(*b.rhs) + ")";
  }
  std::string operator()(const Call& c) const {
    std::string out = "(call " + c.callee;
    for (const Arg& a : c.args)
      out += " " + (a.keyword.empty() ? "" : a.keyword + "=") + expr_str(*a.value);
    return out + ")";
  }
  std::string operator()(const ListLit& l) const {
    std::string out = "[";
    for (size_t i = 0; i < l.elems.size(); ++i) out += (i ? ", " : "") + expr_str(*l.elems[i]);
    return out + "]";
  }
};

std::string names_str(const std::vector<NameUse>& names) {
  std::string out;
  for (size_t i = 0; i < names.size(); ++i) out += (i ? ", " : "") + names[i].name;
  return out;
}

struct StmtPrinter {
  std::string operator()(const ModelStmt& m) const { return "model " + m.name; }
  std::string operator()(const InputStmt& i) const {
    return "input " + i.name + " : " + type_str(i.type);
  }
  std::string operator()(const ParamStmt& p) const {
    std::string out = "param " + p.name + " : " + type_str(p.type);
    if (p.init) out += " = " + expr_str(*p.init);
    return out;
  }
  std::string operator()(const DefStmt& d) const {
    std::string out = "def " + d.name + "(";
    for (size_t i = 0; i < d.params.size(); ++i) out += (i ? ", " : "") + d.params[i].name;
    return out + ") = " + expr_str(*d.body);
  }
  std::string operator()(const LetStmt& l) const { return l.name + " = " + expr_str(*l.value); }
  std::string operator()(const MinimizeStmt& m) const {
    std::string out = "minimize " + m.target.name;
    if (m.has_wrt) out += " wrt " + names_str(m.wrt);
    return out;
  }
  std::string operator()(const OutputStmt& o) const { return "output " + names_str(o.names); }
  std::string operator()(const InvalidStmt& s) const {
    return "<invalid>" + (s.name.empty() ? "" : " " + s.name);
  }
};

}  // namespace

std::string expr_str(const Expr& e) { return std::visit(ExprPrinter{}, e.node); }

std::string type_str(const TypeExpr& t) {
  std::string out = dtype_name(t.dtype);
  if (t.dims.empty()) return out;
  out += "[";
  for (size_t i = 0; i < t.dims.size(); ++i) {
    const DimExpr& d = t.dims[i];
    out += (i ? ", " : "") + (d.size ? std::to_string(*d.size) : d.symbol);
  }
  return out + "]";
}

std::string stmt_str(const Stmt& s) { return std::visit(StmtPrinter{}, s.node); }

std::string ast_str(const Ast& ast) {
  std::string out;
  for (const Stmt& s : ast.stmts)
    out += std::to_string(s.loc.line) + ":" + std::to_string(s.loc.col) + " " + stmt_str(s) + "\n";
  return out;
}

}  // namespace adjoint::frontend
