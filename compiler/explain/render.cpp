// Printing the gradient's expression tree as math: Unicode, ASCII or LaTeX.
#include <cctype>
#include <cmath>
#include <cstdio>
#include <optional>
#include <sstream>

#include "explain/explain.hpp"
#include "ops/op_table.hpp"

namespace adjoint::explain {
namespace {

// Binding strength of a printed term: parenthesise a child weaker than needed.
enum Prec { kSum = 1, kProduct = 2, kAtom = 3 };
struct Term {
  std::string text;
  int prec = kAtom;
  OpKind product{};  // which product, when prec == kProduct
};

struct Symbols {
  const char *matmul, *hadamard, *scale, *transpose, *square, *prime, *minus, *lp, *rp;
};
const Symbols& symbols(Notation n) {
  static const Symbols uni{" · ", " ⊙ ", " ", "ᵀ", "²", "′", "-", "(", ")"};
  static const Symbols ascii{" @ ", " * ", " * ", "^T", "^2", "'", "-", "(", ")"};
  static const Symbols tex{" \\cdot ", " \\odot ", " ",       "^{\\top}", "^{2}",
                           "'",        "-",        "\\left(", "\\right)"};
  return n == Notation::latex ? tex : n == Notation::ascii ? ascii : uni;
}

std::string tex_escape(const std::string& s) {
  std::string o;
  for (char c : s) o += c == '_' ? std::string("\\_") : std::string(1, c);
  return o;
}

// A user's name: W1 and W_1 -> W_{1} in LaTeX.
std::string name_text(const std::string& name, Notation n) {
  if (n != Notation::latex) return name;
  size_t d = name.size();
  while (d > 0 && std::isdigit(static_cast<unsigned char>(name[d - 1]))) --d;
  std::string head = name.substr(0, d), digits = name.substr(d);
  if (!digits.empty() && head.size() > 1 && head.back() == '_') head.pop_back();
  std::string h = head.size() == 1 ? head : "\\mathit{" + tex_escape(head) + "}";
  return digits.empty() || d == 0 ? (d == 0 ? digits : h) : h + "_{" + digits + "}";
}

std::string delta_text(int k, Notation n) {
  if (n == Notation::latex) return "\\delta_{" + std::to_string(k) + "}";
  return (n == Notation::ascii ? "delta_" : "δ_") + std::to_string(k);
}

std::string fn_text(OpKind op, Notation n) {
  const std::string& s = op_name(op);
  if (n != Notation::latex) return s;
  if (op == OpKind::tanh || op == OpKind::exp || op == OpKind::log || op == OpKind::sin ||
      op == OpKind::cos)
    return "\\" + s;
  return "\\operatorname{" + tex_escape(s) + "}";
}

std::string number_text(double v) {
  char buf[32];
  std::snprintf(buf, sizeof buf, "%g", v);
  return buf;
}

class Renderer {
 public:
  Renderer(const Explanation& e, Notation n, bool expand)
      : e_(e), n_(n), s_(symbols(n)), expand_(expand) {}

  std::string def_name(const Definition& d) const {
    return d.delta ? delta_text(d.delta, n_) : name_text(d.name, n_);
  }
  std::string text(int i) { return term(i).text; }

 private:
  const Expr& at(int i) const { return e_.exprs[static_cast<size_t>(i)]; }
  bool is_scalar(int i) const {
    const Expr& x = at(i);
    return x.type.rank() == 0 || (x.kind == Expr::Kind::Op && x.op == OpKind::constant);
  }
  std::string paren(const Term& t) const { return s_.lp + t.text + s_.rp; }
  std::string atom(int i) {
    Term t = term(i);
    return t.prec == kAtom ? t.text : paren(t);
  }

  Term term(int i) {
    const Expr& x = at(i);
    if (x.kind == Expr::Kind::Leaf) return {name_text(x.name, n_)};
    if (x.kind == Expr::Kind::Ref) {
      const Definition& d = e_.defs[static_cast<size_t>(x.def)];
      if (expand_ && d.delta) return term(d.root);
      return {def_name(d)};
    }
    return op_term(x);
  }

  // A product operand: a different product (or a sum) goes in parentheses so
  // the order of evaluation shows.
  std::string factor(int i, OpKind op, bool left) {
    Term t = term(i);
    if (t.prec == kAtom || (t.prec == kProduct && left && t.product == op)) return t.text;
    return paren(t);
  }

  Term product(const Expr& x, OpKind op, const char* sym, std::string l, std::string r) {
    (void)x;
    return {l + sym + r, kProduct, op};
  }

  Term op_term(const Expr& x) {
    const auto& a = x.args;
    switch (x.op) {
      case OpKind::reshape:
        return term(a[0]);
      case OpKind::constant:
        return {number_text(x.attrs.get_f64("value", 0.0))};
      case OpKind::matmul: {
        std::string l =
            x.attrs.get_bool("ta") ? atom(a[0]) + s_.transpose : factor(a[0], x.op, true);
        std::string r =
            x.attrs.get_bool("tb") ? atom(a[1]) + s_.transpose : factor(a[1], x.op, false);
        return product(x, x.op, s_.matmul, l, r);
      }
      case OpKind::transpose:
        return {atom(a[0]) + s_.transpose};
      case OpKind::mul: {
        // A scalar (or a constant fill) scales: print it first, as 2 (a2 - t).
        bool s0 = is_scalar(a[0]), s1 = is_scalar(a[1]);
        if (s1 && !s0)
          return product(x, x.op, s_.scale, factor(a[1], x.op, true), factor(a[0], x.op, false));
        return product(x, x.op, s0 || s1 ? s_.scale : s_.hadamard, factor(a[0], x.op, true),
                       factor(a[1], x.op, false));
      }
      case OpKind::div:
        return product(x, x.op, " / ", factor(a[0], x.op, true), atom(a[1]));
      case OpKind::add:
      case OpKind::sub: {
        if (auto d = tanh_derivative(x)) return *d;
        Term r = term(a[1]);
        std::string rt = r.prec > kSum ? r.text : paren(r);
        return {term(a[0]).text + (x.op == OpKind::add ? " + " : " - ") + rt, kSum};
      }
      case OpKind::neg:
        return {"-" + atom(a[0]), kSum};
      case OpKind::pow: {
        double c = x.attrs.get_f64("c", 2.0);
        if (c == 2.0) return {atom(a[0]) + s_.square};
        std::string e = number_text(c);
        return {atom(a[0]) + (n_ == Notation::latex ? "^{" + e + "}" : "^" + e)};
      }
      default:
        return call(x);
    }
  }

  // The derivative pattern 1 - y*y with y = tanh(z) prints as tanh′(z): the
  // derivative at the pre-activation, as the textbook writes it.
  std::optional<Term> tanh_derivative(const Expr& x) {
    if (x.op != OpKind::sub) return std::nullopt;
    const Expr& one = at(x.args[0]);
    const Expr& sq = at(x.args[1]);
    if (one.kind != Expr::Kind::Op || one.op != OpKind::constant ||
        one.attrs.get_f64("value", 0.0) != 1.0 || sq.kind != Expr::Kind::Op ||
        sq.op != OpKind::mul || sq.args[0] != sq.args[1])
      return std::nullopt;
    const Expr* y = &at(sq.args[0]);
    if (y->kind == Expr::Kind::Ref) y = &at(e_.defs[static_cast<size_t>(y->def)].root);
    if (y->kind != Expr::Kind::Op || y->op != OpKind::tanh) return std::nullopt;
    return Term{fn_text(OpKind::tanh, n_) + s_.prime + s_.lp + term(y->args[0]).text + s_.rp};
  }

  // Any other op prints as a function of its operands, with the axis it
  // works along (sum over one axis is not the sum of every element).
  Term call(const Expr& x) {
    std::string s = fn_text(x.op, n_) + s_.lp;
    for (size_t k = 0; k < x.args.size(); ++k) s += (k ? ", " : "") + term(x.args[k]).text;
    if (x.attrs.has("axis") && !along_last_axis_by_default(x))
      s += ", axis=" + std::to_string(x.attrs.get_int("axis"));
    if (x.attrs.get_bool("keepdims")) s += ", keepdims";
    return {s + s_.rp};
  }

  // softmax(z) and log_softmax(z) over the last axis, as textbooks write them.
  bool along_last_axis_by_default(const Expr& x) const {
    if (x.op != OpKind::softmax && x.op != OpKind::log_softmax) return false;
    int64_t axis = x.attrs.get_int("axis");
    return axis == -1 || axis + 1 == static_cast<int64_t>(x.type.rank());
  }

  const Explanation& e_;
  Notation n_;
  const Symbols& s_;
  bool expand_;
};

// The fully expanded gradient (every δ inlined) shows the reversed order; past
// this length it stops being readable and only the compact form is printed.
constexpr size_t kMaxExpanded = 400;

std::string nabla(const std::string& wrt, const std::string& loss, Notation n) {
  if (n == Notation::latex) return "\\nabla_{" + name_text(wrt, n) + "} " + name_text(loss, n);
  return (n == Notation::ascii ? "grad_" : "∇") + wrt + " " + loss;
}

std::string plain(const Explanation& e, Notation n) {
  Renderer r(e, n, false), full(e, n, true);
  std::ostringstream o;
  std::string by = n == Notation::ascii ? "by reverse mode" : "by reverse mode";
  o << "model " << e.model << ": gradient of " << e.loss << " " << by
    << " (read from the adjoint IR, stage opt)\n\n";
  o << "where\n";
  for (const Definition& d : e.defs) o << "  " << r.def_name(d) << " = " << r.text(d.root) << "\n";
  o << "\n";
  for (const GradExpr& g : e.grads) {
    o << "  " << nabla(g.wrt, e.loss, n) << " = " << r.text(g.root) << "\n";
    std::string ex = full.text(g.root);
    if (ex != r.text(g.root) && ex.size() <= kMaxExpanded) o << "      = " << ex << "\n";
  }
  return o.str();
}

std::string latex(const Explanation& e) {
  Renderer r(e, Notation::latex, false), full(e, Notation::latex, true);
  std::ostringstream o;
  o << "\\documentclass{article}\n\\usepackage{amsmath}\n\\usepackage[margin=1in]{geometry}\n"
    << "\\begin{document}\n\\section*{Gradient of $" << name_text(e.loss, Notation::latex)
    << "$ in model \\texttt{" << tex_escape(e.model) << "}}\n"
    << "Read from the adjoint IR (stage \\texttt{opt}).\n\n\\paragraph{Where}\n";
  for (const Definition& d : e.defs)
    o << "\\begin{multline*}\n"
      << r.def_name(d) << " = " << r.text(d.root) << "\n\\end{multline*}\n";
  o << "\\paragraph{Gradients}\n";
  for (const GradExpr& g : e.grads) {
    o << "\\begin{multline*}\n" << nabla(g.wrt, e.loss, Notation::latex) << " = " << r.text(g.root);
    std::string ex = full.text(g.root);
    if (ex != r.text(g.root) && ex.size() <= kMaxExpanded) o << " \\\\\n= " << ex;
    o << "\n\\end{multline*}\n";
  }
  o << "\\end{document}\n";
  return o.str();
}

}  // namespace

std::string render_explanation(const Explanation& e, Notation n) {
  return n == Notation::latex ? latex(e) : plain(e, n);
}

}  // namespace adjoint::explain
