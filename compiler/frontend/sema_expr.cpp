// Sema, expressions: names, literals, operators and `@`.
#include <array>
#include <cmath>
#include <limits>
#include <sstream>

#include "frontend/sema.hpp"
#include "ops/rules.hpp"

namespace adjoint::frontend {

namespace {

// Whether the op table has a row for `op` (op_info aborts on a missing row;
// rows are still being written while the language grows).
bool has_row(OpKind op) {
  static const std::array<bool, kNumOps> rows = [] {
    std::array<bool, kNumOps> r{};
    for (const OpInfo* info : all_ops()) r[static_cast<size_t>(info->kind)] = true;
    return r;
  }();
  return rows[static_cast<size_t>(op)];
}

OpKind elementwise_op(BinOp op) {
  switch (op) {
    case BinOp::Add:
      return OpKind::add;
    case BinOp::Sub:
      return OpKind::sub;
    case BinOp::Mul:
      return OpKind::mul;
    case BinOp::Div:
      return OpKind::div;
    default:
      throw std::logic_error("not an elementwise operator");
  }
}

std::string quoted(const char* s) { return std::string("'") + s + "'"; }

}  // namespace

ValueId Sema::make(SourceLoc loc, OpKind op, std::vector<ValueId> args, Attrs attrs,
                   const std::string& label) {
  for (ValueId a : args)
    if (a == kPoison) return kPoison;
  if (too_big_) return kPoison;
  if (graph_.nodes.size() >= kMaxNodes) {
    report_too_big(loc);
    return kPoison;
  }
  if (!has_row(op)) {
    error(loc, label + " is not implemented yet (its op has no row in the op table)");
    return kPoison;
  }
  b_.set_loc(loc);
  Builder::Made m = b_.try_make(op, std::move(args), std::move(attrs));
  if (m.value == kNoValue) {
    error(loc, label + " " + m.error);
    return kPoison;
  }
  return m.value;
}

// Defs that call each other twice double the graph per level; the expansion
// is cut off at a size no real model reaches.
void Sema::report_too_big(SourceLoc loc) {
  too_big_ = true;
  error(loc, "the model is too large: more than " + std::to_string(kMaxNodes) +
                 " operations or def calls after inlining defs");
}

bool Sema::fits_float_type(double v, SourceLoc loc) {
  if (graph_.float_type != DType::f32 || !std::isfinite(v) ||
      std::fabs(v) <= std::numeric_limits<float>::max())
    return true;
  std::ostringstream text;
  text << v;
  error(loc, "the number " + text.str() + " is out of range for f32 (largest about 3.4e38)");
  return false;
}

ValueId Sema::eval(const Expr& e) {
  if (too_big_) return kPoison;  // stops exponential def expansions at once
  if (auto* n = e.as<NumberLit>()) {
    if (!fits_float_type(n->value, e.loc)) return kPoison;
    return make(e.loc, OpKind::constant, {}, {{"value", n->value}}, "number");
  }
  if (e.as<BoolLit>()) {
    error(e.loc, "'true' and 'false' can only be keyword arguments' values (e.g. keepdims=true)");
    return kPoison;
  }
  if (e.as<ListLit>()) {
    error(e.loc,
          "a list such as [2, 3] can only be a builtin's argument (e.g. reshape(x, [2, 3]))");
    return kPoison;
  }
  if (auto* name = e.as<NameRef>()) return lookup_value(name->name, e.loc);
  if (auto* neg = e.as<Negate>()) {
    if (auto v = literal_number(e)) {
      if (!fits_float_type(*v, e.loc)) return kPoison;
      return make(e.loc, OpKind::constant, {}, {{"value", *v}}, "number");
    }
    ValueId x = eval(*neg->operand);
    return make(e.loc, OpKind::neg, {x}, {}, "'-'");
  }
  if (auto* t = e.as<TransposeExpr>()) {
    ValueId x = eval(*t->operand);
    return make(e.loc, OpKind::transpose, {x}, {}, "'.T'");
  }
  if (auto* bin = e.as<Binary>()) return eval_binary(e, *bin);
  if (auto* call = e.as<Call>()) return eval_call(e, *call);
  throw std::logic_error("sema: unhandled expression kind");
}

ValueId Sema::eval_binary(const Expr& e, const Binary& bin) {
  if (bin.op == BinOp::Pow) return eval_pow(e, bin);
  ValueId a = eval(*bin.lhs);  // both sides, so independent errors are all reported
  ValueId b = eval(*bin.rhs);
  if (bin.op == BinOp::MatMul) return eval_matmul(e, a, b);
  return make(e.loc, elementwise_op(bin.op), {a, b}, {}, quoted(binop_spelling(bin.op)));
}

namespace {

// A number written in the source, or a right-associative chain of them
// under '^' (x ^ 2 ^ 2 is x ^ 4).
std::optional<double> numeric_exponent(const Expr& e) {
  if (auto v = literal_number(e)) return v;
  if (auto* bin = e.as<Binary>(); bin && bin->op == BinOp::Pow) {
    auto a = numeric_exponent(*bin->lhs), b = numeric_exponent(*bin->rhs);
    if (a && b) return std::pow(*a, *b);
  }
  return std::nullopt;
}

}  // namespace

// x ^ c: the exponent is a number written in the source (so the derivative
// c * x^(c-1) needs no log of x).
ValueId Sema::eval_pow(const Expr& e, const Binary& bin) {
  ValueId base = eval(*bin.lhs);
  std::optional<double> c = numeric_exponent(*bin.rhs);
  if (!c) {
    error(bin.rhs->begin, "the exponent of '^' must be a number (e.g. x ^ 2)");
    return kPoison;
  }
  return make(e.loc, OpKind::pow, {base}, {{"c", *c}}, "'^'");
}

// NumPy's `@` on rank-1 and rank-2 operands, lowered to one rank-2 matmul:
// a vector on the left is a [1,k] row, on the right a [k,1] column, and the
// result drops the axis the vector added.
ValueId Sema::eval_matmul(const Expr& e, ValueId a, ValueId b) {
  if (a == kPoison || b == kPoison) return kPoison;
  const Type ta = graph_.type(a), tb = graph_.type(b);
  std::string both = ta.str() + " @ " + tb.str();
  for (size_t i = 0; i < 2; ++i)
    if (std::string err = rules::expect_float({ta, tb}, i, TypeContext{graph_.float_type});
        !err.empty()) {
      error(e.loc, "'@' " + err);
      return kPoison;
    }
  auto vector_or_matrix = [](const Type& t) { return t.rank() == 1 || t.rank() == 2; };
  if (!vector_or_matrix(ta) || !vector_or_matrix(tb)) {
    error(e.loc, "'@' needs rank-1 or rank-2 operands: " + both);
    return kPoison;
  }
  const Dim& ka = ta.shape.back();
  const Dim& kb = tb.shape.front();
  if (ka != kb) {
    error(e.loc,
          "'@' needs matching inner sizes: " + both + " (" + ka.str() + " != " + kb.str() + ")");
    return kPoison;
  }
  auto reshape = [&](ValueId v, Shape s) {
    return make(e.loc, OpKind::reshape, {v}, {{"shape", std::move(s)}}, "'@'");
  };
  ValueId a2 = ta.rank() == 1 ? reshape(a, {1, ka}) : a;  // [k]   -> [1,k]
  ValueId b2 = tb.rank() == 1 ? reshape(b, {kb, 1}) : b;  // [k]   -> [k,1]
  ValueId c = make(e.loc, OpKind::matmul, {a2, b2}, {{"ta", false}, {"tb", false}}, "'@'");
  if (ta.rank() == 2 && tb.rank() == 2) return c;  // [m,k]@[k,n] -> [m,n]
  Shape out;
  if (ta.rank() == 2) out = {ta.shape[0]};  // [m,k]@[k]   -> [m]
  if (tb.rank() == 2) out = {tb.shape[1]};  // [k]@[k,n]   -> [n]
  return reshape(c, out);                   // [k]@[k]     -> []
}

// Def parameters (while inlining), then globals bound so far.
ValueId Sema::lookup_value(const std::string& name, SourceLoc loc) {
  if (!frames_.empty()) {
    const auto& locals = *frames_.back().locals;
    if (auto it = locals.find(name); it != locals.end()) return it->second;
  }
  if (auto it = globals_.find(name); it != globals_.end()) return it->second.value;
  if (is_def_name(name) || builtin_by_name(name)) {
    error(loc, "'" + name + "' is a function; call it with arguments, e.g. " + name + "(x)");
    return kPoison;
  }
  if (const Stmt* later = first_binding(name)) {
    if (later->as<InvalidStmt>()) return kPoison;  // already reported
    error(loc, "'" + name + "' is used before it is bound");
    note(later->name_loc, "'" + name + "' is bound here");
    return kPoison;
  }
  error(loc, "unknown name '" + name + "'" + suggest_value(name));
  return kPoison;
}

}  // namespace adjoint::frontend
