// Reductions (sum, mean, max, logsumexp), the normalisations along an axis
// built on them (softmax, log_softmax), and the two shape adjoints of
// broadcasting (broadcast_to, sum_to).
//
// A reduction takes an optional `axis` (absent: every axis) and `keepdims`.
// Its VJP reshapes dy to the "keepdims shape" (the reduced axes kept with
// size 1), from which it broadcasts back over x.
#include "ops/rules.hpp"

namespace adjoint {
namespace {

using V = std::vector<ValueId>;

// --- Shapes ---

std::string check_int_attr(const Attrs& attrs, const std::string& name) {
  const AttrValue* v = attrs.find(name);
  if (v && !std::holds_alternative<int64_t>(*v)) return "needs an integer '" + name + "'";
  return "";
}

std::string check_bool_attr(const Attrs& attrs, const std::string& name) {
  const AttrValue* v = attrs.find(name);
  if (v && !std::holds_alternative<bool>(*v) && !std::holds_alternative<int64_t>(*v))
    return "needs 'true' or 'false' for '" + name + "'";
  return "";
}

// The reduced axis, normalised; nullopt for "every axis". Only for attrs that
// passed the type rule.
std::optional<int64_t> reduce_axis(const Attrs& attrs, size_t rank) {
  if (!attrs.has("axis")) return std::nullopt;
  return normalize_axis(attrs.get_int("axis"), rank);
}

// `s` with the reduced axis (or every axis) set to 1.
Shape keep_shape(const Shape& s, std::optional<int64_t> axis) {
  Shape out = s;
  for (size_t i = 0; i < out.size(); ++i)
    if (!axis || static_cast<int64_t>(i) == *axis) out[i] = 1;
  return out;
}

Shape reduced_shape(const Shape& s, std::optional<int64_t> axis, bool keepdims) {
  if (keepdims) return keep_shape(s, axis);
  if (!axis) return {};
  Shape out = s;
  out.erase(out.begin() + *axis);
  return out;
}

// A float operand and a valid optional axis; the type of x itself (argmax_mask's
// result, and what sum/max/logsumexp reduce from).
TypeResult reduce_operand_type(const std::vector<Type>& args, const Attrs& attrs,
                               const TypeContext& cx) {
  if (std::string e = rules::expect_float(args, 0, cx); !e.empty()) return TypeResult::fail(e);
  for (std::string e : {check_int_attr(attrs, "axis"), check_bool_attr(attrs, "keepdims")})
    if (!e.empty()) return TypeResult::fail(e);
  std::string err;
  if (attrs.has("axis")) rules::axis_attr(attrs, "axis", 0, args[0].rank(), err);
  if (!err.empty()) return TypeResult::fail(err);
  return {args[0], ""};
}

TypeResult reduce_type(const std::vector<Type>& args, const Attrs& attrs, const TypeContext& cx) {
  TypeResult r = reduce_operand_type(args, attrs, cx);
  if (!r.ok()) return r;
  const Shape& s = args[0].shape;
  return {Type{args[0].dtype,
               reduced_shape(s, reduce_axis(attrs, s.size()), attrs.get_bool("keepdims"))},
          ""};
}

// softmax/log_softmax(x){axis = -1}: same type as x.
TypeResult normalise_type(const std::vector<Type>& args, const Attrs& attrs,
                          const TypeContext& cx) {
  if (std::string e = rules::expect_float(args, 0, cx); !e.empty()) return TypeResult::fail(e);
  if (std::string e = check_int_attr(attrs, "axis"); !e.empty()) return TypeResult::fail(e);
  std::string err;
  rules::axis_attr(attrs, "axis", -1, args[0].rank(), err);
  if (!err.empty()) return TypeResult::fail(err);
  return {args[0], ""};
}

// --- Reference evaluation ---

// A tensor seen as [outer, n, inner] around the reduced axis (every axis:
// [1, size, 1]); element j of lane (o, i) is at (o * n + j) * inner + i, and
// the lane's result in the keepdims layout is at o * inner + i.
struct Lanes {
  int64_t outer = 1, n = 1, inner = 1;
  size_t at(int64_t lane, int64_t j) const {
    return static_cast<size_t>((lane / inner * n + j) * inner + lane % inner);
  }
  int64_t count() const { return outer * inner; }
};

Lanes lanes_of(const Dims& shape, std::optional<int64_t> axis) {
  Lanes l;
  if (!axis) {
    l.n = product(shape);
    return l;
  }
  for (size_t i = 0; i < shape.size(); ++i) {
    int64_t a = static_cast<int64_t>(i);
    (a < *axis ? l.outer : a == *axis ? l.n : l.inner) *= shape[i];
  }
  return l;
}

// Applies `f(x, lanes, lane)` to every lane, giving one value per lane.
template <typename F>
DTensor reduce_lanes(const std::vector<const DTensor*>& args, const Attrs& attrs,
                     const Dims& out_shape, F f) {
  const DTensor& x = *args[0];
  Lanes l = lanes_of(x.shape, reduce_axis(attrs, x.rank()));
  DTensor out(out_shape);
  for (int64_t lane = 0; lane < l.count(); ++lane) out[static_cast<size_t>(lane)] = f(x, l, lane);
  return out;
}

double lane_sum(const DTensor& x, const Lanes& l, int64_t lane) {
  double s = 0;
  for (int64_t j = 0; j < l.n; ++j) s += x[l.at(lane, j)];
  return s;
}

// Index along the lane of its first maximal element, or of its first NaN
// (a NaN propagates, as in PyTorch's max); the lane is not empty.
int64_t lane_argmax(const DTensor& x, const Lanes& l, int64_t lane) {
  int64_t best = 0;
  for (int64_t j = 1; j < l.n; ++j) {
    double v = x[l.at(lane, j)], b = x[l.at(lane, best)];
    if (!std::isnan(b) && (v > b || std::isnan(v))) best = j;
  }
  return best;
}

double lane_max(const DTensor& x, const Lanes& l, int64_t lane) {
  if (l.n == 0) return -HUGE_VAL;  // the identity of max, for a size bound to 0
  return x[l.at(lane, lane_argmax(x, l, lane))];
}

// log(sum(exp(x - max))) for a lane whose max is finite; 0 when it is
// infinite (the lane is then shifted by its max alone).
double lane_log_sumexp_shifted(const DTensor& x, const Lanes& l, int64_t lane, double m) {
  if (std::isinf(m)) return 0;
  double s = 0;
  for (int64_t j = 0; j < l.n; ++j) s += std::exp(x[l.at(lane, j)] - m);
  return std::log(s);
}

// max + log(sum(exp(x - max))), exact for large |x|.
double lane_logsumexp(const DTensor& x, const Lanes& l, int64_t lane) {
  double m = lane_max(x, l, lane);
  return m + lane_log_sumexp_shifted(x, l, lane, m);
}

DTensor eval_sum(const std::vector<const DTensor*>& args, const Attrs& attrs, const Dims& out) {
  return reduce_lanes(args, attrs, out, lane_sum);
}
DTensor eval_max(const std::vector<const DTensor*>& args, const Attrs& attrs, const Dims& out) {
  return reduce_lanes(args, attrs, out, lane_max);
}
DTensor eval_logsumexp(const std::vector<const DTensor*>& args, const Attrs& attrs,
                       const Dims& out) {
  return reduce_lanes(args, attrs, out, lane_logsumexp);
}

DTensor eval_argmax_mask(const std::vector<const DTensor*>& args, const Attrs& attrs,
                         const Dims& out_shape) {
  const DTensor& x = *args[0];
  Lanes l = lanes_of(x.shape, reduce_axis(attrs, x.rank()));
  DTensor out(out_shape);
  if (l.n == 0) return out;
  for (int64_t lane = 0; lane < l.count(); ++lane) out[l.at(lane, lane_argmax(x, l, lane))] = 1;
  return out;
}

// Softmax along the axis, or its logarithm: (x - max) - log(sum(exp(x -
// max))), the max subtracted first, so that neither a large max nor a
// saturated lane rounds the small log-sum away (max + log s would).
template <bool kLog>
DTensor eval_normalise(const std::vector<const DTensor*>& args, const Attrs& attrs,
                       const Dims& out_shape) {
  const DTensor& x = *args[0];
  Lanes l = lanes_of(x.shape, normalize_axis(attrs.get_int("axis", -1), x.rank()));
  DTensor out(out_shape);
  for (int64_t lane = 0; lane < l.count(); ++lane) {
    double m = lane_max(x, l, lane);
    double log_s = lane_log_sumexp_shifted(x, l, lane, m);
    for (int64_t j = 0; j < l.n; ++j) {
      size_t k = l.at(lane, j);
      double shifted = (x[k] - m) - log_s;
      out[k] = kLog ? shifted : std::exp(shifted);
    }
  }
  return out;
}

// --- VJP rules ---

// dy of a reduction reshaped to the keepdims shape, ready to broadcast over x.
ValueId dy_keep(VjpContext& c, ValueId v) {
  const Shape& xs = c.b.shape(c.arg(0));
  return c.b.reshape(v, keep_shape(xs, reduce_axis(c.node.attrs, xs.size())));
}

// Attributes of a keepdims reduction along `axis` (none: every axis).
Attrs keep_attrs(std::optional<int64_t> axis) {
  Attrs a{{"keepdims", true}};
  if (axis) a.set("axis", *axis);
  return a;
}

// y = sum(x)  =>  dx = broadcast_to(reshape(dy, keep), x.shape)
V vjp_sum(VjpContext& c) {
  if (!c.needs[0]) return {kNoValue};
  const Shape xs = c.b.shape(c.arg(0));  // a copy: adding nodes moves the graph
  return {c.b.broadcast_to(dy_keep(c, c.dy), xs)};
}

// y = max(x)  =>  dx = dy_keep * argmax_mask(x)   (the first maximal element)
V vjp_max(VjpContext& c) {
  if (!c.needs[0]) return {kNoValue};
  Attrs mask_attrs;
  if (c.node.attrs.has("axis")) mask_attrs.set("axis", c.node.attrs.get_int("axis"));
  ValueId mask = c.b.make(OpKind::argmax_mask, {c.arg(0)}, std::move(mask_attrs));
  return {c.b.mul(dy_keep(c, c.dy), mask)};
}

// y = log sum exp(x)  =>  dx = dy_keep * softmax(x, axis), or, over every
// axis, dy_keep * exp(x - y_keep) (softmax keeps the small terms that
// x - y loses when y is large)
V vjp_logsumexp(VjpContext& c) {
  if (!c.needs[0]) return {kNoValue};
  Builder& b = c.b;
  std::optional<int64_t> axis = reduce_axis(c.node.attrs, b.shape(c.arg(0)).size());
  ValueId p = axis ? b.make(OpKind::softmax, {c.arg(0)}, Attrs{{"axis", *axis}})
                   : b.unary(OpKind::exp, b.sub(c.arg(0), dy_keep(c, c.out)));
  return {b.mul(dy_keep(c, c.dy), p)};
}

// The normalised axis of a softmax/log_softmax node.
int64_t normalise_axis(VjpContext& c) {
  return *normalize_axis(c.node.attrs.get_int("axis", -1), c.b.shape(c.arg(0)).size());
}

// y = softmax(x)  =>  dx = y * (dy - sum(dy * y, axis, keepdims))
V vjp_softmax(VjpContext& c) {
  if (!c.needs[0]) return {kNoValue};
  Builder& b = c.b;
  ValueId dot = b.make(OpKind::sum, {b.mul(c.dy, c.out)}, keep_attrs(normalise_axis(c)));
  return {b.mul(c.out, b.sub(c.dy, dot))};
}

// y = log_softmax(x)  =>  dx = dy - exp(y) * sum(dy, axis, keepdims)
V vjp_log_softmax(VjpContext& c) {
  if (!c.needs[0]) return {kNoValue};
  Builder& b = c.b;
  ValueId total = b.make(OpKind::sum, {c.dy}, keep_attrs(normalise_axis(c)));
  return {b.sub(c.dy, b.mul(b.unary(OpKind::exp, c.out), total))};
}

// mean(x) = sum(x) / numel(x): a composite, so it needs no VJP of its own.
ValueId expand_mean(Builder& b, const std::vector<ValueId>& args, const Attrs& attrs) {
  Attrs count;
  if (attrs.has("axis")) count.set("axis", attrs.get_int("axis"));
  ValueId total = b.make(OpKind::sum, {args[0]}, attrs);
  return b.div(total, b.make(OpKind::numel, {args[0]}, std::move(count)));
}

// --- broadcast_to / sum_to ---

// The `shape` attribute, or an error when it is missing.
const Shape* shape_attr(const Attrs& attrs, std::string& err) {
  const AttrValue* v = attrs.find("shape");
  if (!v || !std::holds_alternative<Shape>(*v)) {
    err = "needs a 'shape' attribute";
    return nullptr;
  }
  return &std::get<Shape>(*v);
}

// broadcast_to(x){shape}: x must broadcast (NumPy rules) to exactly `shape`.
TypeResult broadcast_to_type(const std::vector<Type>& args, const Attrs& attrs,
                             const TypeContext& cx) {
  if (std::string e = rules::expect_float(args, 0, cx); !e.empty()) return TypeResult::fail(e);
  std::string err;
  const Shape* target = shape_attr(attrs, err);
  if (!target) return TypeResult::fail(err);
  auto s = broadcast_shapes(args[0].shape, *target);
  if (!s || *s != *target)
    return TypeResult::fail("cannot broadcast " + args[0].str() + " to " + shape_str(*target));
  return {Type{args[0].dtype, *target}, ""};
}

// sum_to(x){shape}: `shape` must broadcast to exactly x's shape.
TypeResult sum_to_type(const std::vector<Type>& args, const Attrs& attrs, const TypeContext& cx) {
  if (std::string e = rules::expect_float(args, 0, cx); !e.empty()) return TypeResult::fail(e);
  std::string err;
  const Shape* target = shape_attr(attrs, err);
  if (!target) return TypeResult::fail(err);
  auto s = broadcast_shapes(*target, args[0].shape);
  if (!s || *s != args[0].shape)
    return TypeResult::fail("cannot sum " + args[0].str() + " down to " + shape_str(*target));
  return {Type{args[0].dtype, *target}, ""};
}

DTensor eval_broadcast_to(const std::vector<const DTensor*>& args, const Attrs&,
                          const Dims& out_shape) {
  const DTensor& x = *args[0];
  DTensor out(out_shape);
  size_t i = 0;
  for_each_index(out_shape, [&](const Dims& idx) { out[i++] = x[broadcast_offset(x.shape, idx)]; });
  return out;
}

// Each element of x adds into the target element it would be broadcast from.
DTensor eval_sum_to(const std::vector<const DTensor*>& args, const Attrs&, const Dims& out_shape) {
  const DTensor& x = *args[0];
  DTensor out(out_shape);
  size_t i = 0;
  for_each_index(x.shape,
                 [&](const Dims& idx) { out[broadcast_offset(out_shape, idx)] += x[i++]; });
  return out;
}

// y = broadcast_to(x)  =>  dx = sum_to(dy, x.shape)
V vjp_broadcast_to(VjpContext& c) {
  if (!c.needs[0]) return {kNoValue};
  return {c.b.sum_to(c.dy, c.b.shape(c.arg(0)))};
}

// y = sum_to(x)  =>  dx = broadcast_to(dy, x.shape)
V vjp_sum_to(VjpContext& c) {
  if (!c.needs[0]) return {kNoValue};
  return {c.b.broadcast_to(c.dy, c.b.shape(c.arg(0)))};
}

// --- Rows ---

const std::vector<ParamSpec> kReduceSig = {
    {"x"},
    {.name = "axis", .kind = ParamKind::Int, .optional = true},
    {.name = "keepdims", .kind = ParamKind::Bool, .dflt = AttrValue{false}}};

// All axes, each axis (one negative), keepdims both ways, a scalar and a vector.
std::vector<CheckCase> reduce_checks_for(Domain dom) {
  auto arg = [dom](Dims s) { return CheckArg{.shape = std::move(s), .domain = dom}; };
  return {{.args = {arg({3, 4})}},
          {.args = {arg({3, 4})}, .attrs = {{"keepdims", true}}},
          {.args = {arg({3, 4})}, .attrs = {{"axis", int64_t{0}}}},
          {.args = {arg({3, 4})}, .attrs = {{"axis", int64_t{-1}}, {"keepdims", true}}},
          {.args = {arg({2, 3, 4})}, .attrs = {{"axis", int64_t{1}}}},
          {.args = {arg({5})}, .attrs = {{"axis", int64_t{0}}}},
          {.args = {arg({})}}};
}

OpInfo reduction(OpKind k, TypeRule infer, VjpRule vjp, EvalRule eval, Domain dom,
                 std::string doc) {
  return {.kind = k,
          .arity = 1,
          .builtin = true,
          .signature = kReduceSig,
          .infer = infer,
          .vjp = vjp,
          .eval = eval,
          .checks = reduce_checks_for(dom),
          .doc = std::move(doc)};
}

OpInfo normalisation(OpKind k, VjpRule vjp, EvalRule eval, std::string doc) {
  return {.kind = k,
          .arity = 1,
          .builtin = true,
          .signature = {{"x"},
                        {.name = "axis", .kind = ParamKind::Int, .dflt = AttrValue{int64_t{-1}}}},
          .infer = normalise_type,
          .vjp = vjp,
          .eval = eval,
          .checks = {{.args = {{.shape = {3, 4}}}},
                     {.args = {{.shape = {3, 4}}}, .attrs = {{"axis", int64_t{0}}}},
                     {.args = {{.shape = {2, 3, 4}}}, .attrs = {{"axis", int64_t{1}}}},
                     {.args = {{.shape = {5}}}}},
          .doc = std::move(doc)};
}

std::vector<CheckCase> broadcast_checks(bool down) {
  // {small, big} pairs; broadcast_to goes small -> big, sum_to big -> small.
  std::vector<std::pair<Dims, Dims>> pairs = {
      {{3}, {2, 3}}, {{3, 1}, {3, 4}}, {{}, {2, 2}}, {{1, 4}, {2, 3, 4}}, {{2, 3}, {2, 3}}};
  std::vector<CheckCase> cases;
  for (auto& [small, big] : pairs) {
    Shape target(down ? small.begin() : big.begin(), down ? small.end() : big.end());
    cases.push_back({.args = {{.shape = down ? big : small}}, .attrs = {{"shape", target}}});
  }
  return cases;
}

}  // namespace

void define_reduce_ops(OpTableBuilder& t) {
  t.define(reduction(OpKind::sum, reduce_type, vjp_sum, eval_sum, Domain::Real,
                     "sum over one axis or all of them"));
  OpInfo mean = reduction(OpKind::mean, reduce_type, nullptr, nullptr, Domain::Real,
                          "arithmetic mean over one axis or all of them (sum / count)");
  mean.expand = expand_mean;
  t.define(std::move(mean));
  t.define(reduction(OpKind::max, reduce_type, vjp_max, eval_max, Domain::Distinct,
                     "maximum over one axis or all of them (gradient to the first maximum)"));
  t.define(reduction(OpKind::logsumexp, reduce_type, vjp_logsumexp, eval_logsumexp, Domain::Real,
                     "log of the sum of exponentials, computed stably"));

  OpInfo mask = reduction(OpKind::argmax_mask, reduce_operand_type, zero_vjp, eval_argmax_mask,
                          Domain::Distinct, "1 at the first maximum along an axis, 0 elsewhere");
  mask.builtin = false;
  mask.signature.clear();
  std::erase_if(mask.checks, [](const CheckCase& c) { return c.attrs.has("keepdims"); });
  t.define(std::move(mask));

  t.define({.kind = OpKind::broadcast_to,
            .arity = 1,
            .infer = broadcast_to_type,
            .vjp = vjp_broadcast_to,
            .eval = eval_broadcast_to,
            .checks = broadcast_checks(false),
            .doc = "broadcasts to a given shape (NumPy rules)"});
  t.define({.kind = OpKind::sum_to,
            .arity = 1,
            .infer = sum_to_type,
            .vjp = vjp_sum_to,
            .eval = eval_sum_to,
            .checks = broadcast_checks(true),
            .doc = "sums down to a shape that broadcasts back (adjoint of broadcast_to)"});

  t.define(normalisation(OpKind::softmax, vjp_softmax, eval_normalise<false>,
                         "exp(x) / sum(exp(x)) along an axis, computed stably"));
  t.define(normalisation(OpKind::log_softmax, vjp_log_softmax, eval_normalise<true>,
                         "x - logsumexp(x) along an axis, computed stably"));
}

}  // namespace adjoint
