// Elementwise ops: one operand, or two with NumPy broadcasting.
#include "ops/rules.hpp"

namespace adjoint {
namespace {

using rules::broadcast_float;
using rules::eval_binary;
using rules::eval_unary;
using rules::same_float;

constexpr double kSqrt2 = 1.4142135623730951;
constexpr double kInvSqrt2Pi = 0.3989422804014327;  // 1/sqrt(2*pi)
constexpr double kTwoOverSqrtPi = 1.1283791670955126;

double d_neg(double x) { return -x; }
double d_exp(double x) { return std::exp(x); }
double d_log(double x) { return std::log(x); }
double d_sqrt(double x) { return std::sqrt(x); }
double d_abs(double x) { return std::fabs(x); }
double d_tanh(double x) { return std::tanh(x); }
double d_sigmoid(double x) {
  return x >= 0 ? 1 / (1 + std::exp(-x)) : std::exp(x) / (1 + std::exp(x));
}
// NaN propagates through relu, maximum and minimum, as in PyTorch.
double d_relu(double x) { return x <= 0 ? 0 : x; }
double d_softplus(double x) { return std::max(x, 0.0) + std::log1p(std::exp(-std::fabs(x))); }
double d_gelu(double x) { return 0.5 * x * (1 + std::erf(x / kSqrt2)); }
double d_sin(double x) { return std::sin(x); }
double d_cos(double x) { return std::cos(x); }
double d_erf(double x) { return std::erf(x); }
double d_step(double x) { return x > 0 ? 1 : 0; }
double d_sign(double x) { return x > 0 ? 1 : x < 0 ? -1 : 0; }

double d_add(double a, double b) { return a + b; }
double d_sub(double a, double b) { return a - b; }
double d_mul(double a, double b) { return a * b; }
double d_div(double a, double b) { return a / b; }
double d_maximum(double a, double b) { return a >= b ? a : b > a ? b : a + b; }
double d_minimum(double a, double b) { return a <= b ? a : b < a ? b : a + b; }
double d_ge(double a, double b) { return a >= b ? 1 : 0; }

DTensor eval_leaky_relu(const std::vector<const DTensor*>& args, const Attrs& attrs, const Dims&) {
  double alpha = attrs.get_f64("alpha", 0.01);
  DTensor out = *args[0];
  for (double& x : out.data) x = x > 0 ? x : alpha * x;
  return out;
}

DTensor eval_pow(const std::vector<const DTensor*>& args, const Attrs& attrs, const Dims&) {
  double c = attrs.get_f64("c");
  DTensor out = *args[0];
  for (double& x : out.data) x = std::pow(x, c);
  return out;
}

// --- VJP rules: y = f(x), dy given; each returns dx. ---
using V = std::vector<ValueId>;
V vjp_neg(VjpContext& c) { return {c.b.neg(c.dy)}; }                          // dx = -dy
V vjp_exp(VjpContext& c) { return {c.b.mul(c.dy, c.out)}; }                   // dx = dy * y
V vjp_log(VjpContext& c) { return {c.b.div(c.dy, c.arg(0))}; }                // dx = dy / x
V vjp_sqrt(VjpContext& c) { return {c.b.div(c.dy, c.b.scale(c.out, 2.0))}; }  // dx = dy / (2y)
V vjp_abs(VjpContext& c) {  // dx = dy * sign(x); 0 at the kink
  return {c.b.mul(c.dy, c.b.unary(OpKind::sign, c.arg(0)))};
}
V vjp_tanh(VjpContext& c) {  // dx = dy * (1 - y^2)
  auto& b = c.b;
  return {b.mul(c.dy, b.sub(b.constant(1), b.mul(c.out, c.out)))};
}
V vjp_sigmoid(VjpContext& c) {  // dx = dy * y * (1 - y)
  auto& b = c.b;
  return {b.mul(c.dy, b.mul(c.out, b.sub(b.constant(1), c.out)))};
}
// dx = dy * [x > 0], 0 at the kink, computed as dy * [y > 0]: relu(x) > 0
// exactly when x > 0 (NaN and -0 included), and reading y, not x, leaves x
// read once, so x @ W + b fuses into relu's loop with no buffer (fusion.hpp).
V vjp_relu(VjpContext& c) { return {c.b.mul(c.dy, c.b.unary(OpKind::step, c.out))}; }
V vjp_softplus(VjpContext& c) {  // dx = dy * sigmoid(x)
  return {c.b.mul(c.dy, c.b.unary(OpKind::sigmoid, c.arg(0)))};
}
V vjp_gelu(VjpContext& c) {  // dx = dy * (Phi(x) + x * phi(x)), Phi(x) = (1 + erf(x/sqrt2))/2
  auto& b = c.b;
  ValueId x = c.arg(0);
  ValueId cdf = b.scale(b.add(b.constant(1), b.unary(OpKind::erf, b.scale(x, 1 / kSqrt2))), 0.5);
  ValueId pdf = b.scale(b.unary(OpKind::exp, b.scale(b.mul(x, x), -0.5)), kInvSqrt2Pi);
  return {b.mul(c.dy, b.add(cdf, b.mul(x, pdf)))};
}
V vjp_sin(VjpContext& c) { return {c.b.mul(c.dy, c.b.unary(OpKind::cos, c.arg(0)))}; }
V vjp_cos(VjpContext& c) { return {c.b.neg(c.b.mul(c.dy, c.b.unary(OpKind::sin, c.arg(0))))}; }
V vjp_erf(VjpContext& c) {  // dx = dy * 2/sqrt(pi) * exp(-x^2)
  auto& b = c.b;
  ValueId x = c.arg(0);
  return {b.mul(c.dy, b.scale(b.unary(OpKind::exp, b.neg(b.mul(x, x))), kTwoOverSqrtPi))};
}
V vjp_leaky_relu(VjpContext& c) {  // dx = dy * (alpha + (1 - alpha) [x > 0])
  auto& b = c.b;
  double alpha = c.node.attrs.get_f64("alpha", 0.01);
  ValueId slope = b.add(b.constant(alpha), b.scale(b.unary(OpKind::step, c.arg(0)), 1 - alpha));
  return {b.mul(c.dy, slope)};
}
V vjp_pow(VjpContext& c) {  // dx = dy * c * x^(c-1)
  auto& b = c.b;
  double e = c.node.attrs.get_f64("c");
  if (e == 1) return {c.dy};
  ValueId xe = e == 2 ? c.arg(0) : b.make(OpKind::pow, {c.arg(0)}, Attrs{{"c", e - 1}});
  return {b.mul(c.dy, b.scale(xe, e))};
}

// --- Two operands: z = f(a, b); contributions are summed back to each operand's shape. ---
V vjp_add(VjpContext& c) {  // da = dz ; db = dz
  auto& b = c.b;
  return {c.needs[0] ? b.sum_to(c.dy, b.shape(c.arg(0))) : kNoValue,
          c.needs[1] ? b.sum_to(c.dy, b.shape(c.arg(1))) : kNoValue};
}
V vjp_sub(VjpContext& c) {  // da = dz ; db = -dz
  auto& b = c.b;
  return {c.needs[0] ? b.sum_to(c.dy, b.shape(c.arg(0))) : kNoValue,
          c.needs[1] ? b.neg(b.sum_to(c.dy, b.shape(c.arg(1)))) : kNoValue};
}
V vjp_mul(VjpContext& c) {  // da = dz * b ; db = dz * a
  auto& b = c.b;
  return {c.needs[0] ? b.sum_to(b.mul(c.dy, c.arg(1)), b.shape(c.arg(0))) : kNoValue,
          c.needs[1] ? b.sum_to(b.mul(c.dy, c.arg(0)), b.shape(c.arg(1))) : kNoValue};
}
V vjp_div(VjpContext& c) {  // da = dz / b ; db = -dz * z / b
  auto& b = c.b;
  return {c.needs[0] ? b.sum_to(b.div(c.dy, c.arg(1)), b.shape(c.arg(0))) : kNoValue,
          c.needs[1] ? b.sum_to(b.neg(b.div(b.mul(c.dy, c.out), c.arg(1))), b.shape(c.arg(1)))
                     : kNoValue};
}
// Selection: the gradient goes to the selected operand; ties go to the first.
V select_vjp(VjpContext& c, ValueId first_selected) {
  auto& b = c.b;
  ValueId rest = b.sub(b.constant(1), first_selected);
  return {c.needs[0] ? b.sum_to(b.mul(c.dy, first_selected), b.shape(c.arg(0))) : kNoValue,
          c.needs[1] ? b.sum_to(b.mul(c.dy, rest), b.shape(c.arg(1))) : kNoValue};
}
V vjp_maximum(VjpContext& c) {  // a selected where a >= b
  return select_vjp(c, c.b.make(OpKind::greater_equal, {c.arg(0), c.arg(1)}));
}
V vjp_minimum(VjpContext& c) {  // a selected where a <= b
  return select_vjp(c, c.b.make(OpKind::greater_equal, {c.arg(1), c.arg(0)}));
}

TypeResult pow_type(const std::vector<Type>& args, const Attrs& attrs, const TypeContext& cx) {
  if (!attrs.has("c")) return TypeResult::fail("'pow' needs a numeric exponent");
  return same_float(args, attrs, cx);
}

const std::vector<ParamSpec> kX = {{"x"}};
const std::vector<ParamSpec> kAB = {{"a"}, {"b"}};

OpInfo unary(OpKind k, bool builtin, EvalRule eval, VjpRule vjp, Domain dom, std::string doc) {
  return {.kind = k,
          .arity = 1,
          .builtin = builtin,
          .signature = builtin ? kX : std::vector<ParamSpec>{},
          .infer = same_float,
          .vjp = vjp,
          .eval = eval,
          .checks = {{.args = {{.shape = {3, 4}, .domain = dom}}},
                     {.args = {{.shape = {5}, .domain = dom}}},
                     {.args = {{.shape = {}, .domain = dom}}}},
          .doc = std::move(doc)};
}

OpInfo binary(OpKind k, bool builtin, EvalRule eval, VjpRule vjp, Domain dom_a, Domain dom_b,
              std::string doc) {
  return {
      .kind = k,
      .arity = 2,
      .builtin = builtin,
      .signature = builtin ? kAB : std::vector<ParamSpec>{},
      .infer = broadcast_float,
      .vjp = vjp,
      .eval = eval,
      .checks = {{.args = {{.shape = {3, 4}, .domain = dom_a}, {.shape = {3, 4}, .domain = dom_b}}},
                 {.args = {{.shape = {3, 4}, .domain = dom_a}, {.shape = {4}, .domain = dom_b}}},
                 {.args = {{.shape = {3, 1}, .domain = dom_a}, {.shape = {1, 4}, .domain = dom_b}}},
                 {.args = {{.shape = {}, .domain = dom_a}, {.shape = {2, 3}, .domain = dom_b}}}},
      .doc = std::move(doc)};
}

}  // namespace

void define_elementwise_ops(OpTableBuilder& t) {
  using D = Domain;
  t.define(unary(OpKind::neg, false, eval_unary<d_neg>, vjp_neg, D::Real, "-x"));
  t.define(unary(OpKind::exp, true, eval_unary<d_exp>, vjp_exp, D::Real, "e^x"));
  t.define(unary(OpKind::log, true, eval_unary<d_log>, vjp_log, D::Positive, "natural logarithm"));
  t.define(unary(OpKind::sqrt, true, eval_unary<d_sqrt>, vjp_sqrt, D::Positive, "square root"));
  t.define(
      unary(OpKind::abs, true, eval_unary<d_abs>, vjp_abs, D::NonZero, "|x| (derivative 0 at 0)"));
  t.define(unary(OpKind::tanh, true, eval_unary<d_tanh>, vjp_tanh, D::Real, "hyperbolic tangent"));
  t.define(
      unary(OpKind::sigmoid, true, eval_unary<d_sigmoid>, vjp_sigmoid, D::Real, "1 / (1 + e^-x)"));
  t.define(unary(OpKind::relu, true, eval_unary<d_relu>, vjp_relu, D::NonZero,
                 "max(x, 0) (derivative 0 at 0)"));
  t.define(unary(OpKind::softplus, true, eval_unary<d_softplus>, vjp_softplus, D::Real,
                 "log(1 + e^x), computed stably"));
  t.define(unary(OpKind::gelu, true, eval_unary<d_gelu>, vjp_gelu, D::Real,
                 "x * Phi(x), the exact (erf) form"));
  t.define(unary(OpKind::sin, true, eval_unary<d_sin>, vjp_sin, D::Real, "sine"));
  t.define(unary(OpKind::cos, true, eval_unary<d_cos>, vjp_cos, D::Real, "cosine"));
  t.define(unary(OpKind::erf, false, eval_unary<d_erf>, vjp_erf, D::Real, "error function"));
  t.define(unary(OpKind::step, false, eval_unary<d_step>, zero_vjp, D::NonZero, "[x > 0]"));
  t.define(unary(OpKind::sign, false, eval_unary<d_sign>, zero_vjp, D::NonZero, "sign of x"));

  OpInfo leaky = unary(OpKind::leaky_relu, true, eval_leaky_relu, vjp_leaky_relu, D::NonZero,
                       "x for x > 0, alpha * x otherwise");
  leaky.signature = {{"x"}, {"alpha", ParamKind::Float, AttrValue{0.01}}};
  leaky.checks.push_back(
      {.args = {{.shape = {6}, .domain = D::NonZero}}, .attrs = {{"alpha", 0.2}}});
  t.define(std::move(leaky));

  OpInfo pow = unary(OpKind::pow, true, eval_pow, vjp_pow, D::Positive, "x^c, c a number");
  pow.infer = pow_type;
  pow.signature = {{"x"}, {"c", ParamKind::Float}};
  for (auto& cs : pow.checks) cs.attrs = {{"c", 2.5}};
  pow.checks.push_back({.args = {{.shape = {2, 3}, .domain = D::Real}}, .attrs = {{"c", 2.0}}});
  pow.checks.push_back({.args = {{.shape = {2, 3}, .domain = D::Real}}, .attrs = {{"c", 3.0}}});
  pow.checks.push_back({.args = {{.shape = {4}, .domain = D::Positive}}, .attrs = {{"c", -1.5}}});
  t.define(std::move(pow));

  t.define(binary(OpKind::add, false, eval_binary<d_add>, vjp_add, D::Real, D::Real, "a + b"));
  t.define(binary(OpKind::sub, false, eval_binary<d_sub>, vjp_sub, D::Real, D::Real, "a - b"));
  t.define(binary(OpKind::mul, false, eval_binary<d_mul>, vjp_mul, D::Real, D::Real, "a * b"));
  t.define(binary(OpKind::div, false, eval_binary<d_div>, vjp_div, D::Real, D::Positive, "a / b"));
  t.define(binary(OpKind::maximum, true, eval_binary<d_maximum>, vjp_maximum, D::Distinct,
                  D::Distinct, "elementwise max (ties: the first)"));
  t.define(binary(OpKind::minimum, true, eval_binary<d_minimum>, vjp_minimum, D::Distinct,
                  D::Distinct, "elementwise min (ties: the first)"));
  t.define(binary(OpKind::greater_equal, false, eval_binary<d_ge>, zero_vjp, D::Distinct,
                  D::Distinct, "[a >= b]"));
}

}  // namespace adjoint
