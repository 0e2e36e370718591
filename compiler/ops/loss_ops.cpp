// Losses: softmax cross-entropy on integer labels (with one_hot, its
// adjoint's helper), mean squared error, and binary cross-entropy on logits.
#include <cmath>

#include "ops/rules.hpp"

namespace adjoint {
namespace {

using V = std::vector<ValueId>;

// --- softmax_cross_entropy(logits [N,C], labels i32[N]) -> [N] ---

TypeResult sce_type(const std::vector<Type>& args, const Attrs&, const TypeContext& cx) {
  const Type& logits = args[0];
  const Type& labels = args[1];
  if (!is_float(logits.dtype)) return TypeResult::fail("needs float logits, got " + logits.str());
  if (std::string e = rules::expect_float(args, 0, cx); !e.empty()) return TypeResult::fail(e);
  if (logits.rank() != 2)
    return TypeResult::fail("needs logits of shape [N,C], got " + logits.str());
  if (labels.dtype != DType::i32)
    return TypeResult::fail("needs i32 class labels, got " + labels.str());
  if (labels.rank() != 1) return TypeResult::fail("needs labels of shape [N], got " + labels.str());
  if (labels.shape[0] != logits.shape[0])
    return TypeResult::fail("needs one label per row of logits: " + logits.str() + " and " +
                            labels.str() + " (" + logits.shape[0].str() +
                            " != " + labels.shape[0].str() + ")");
  // The gradient builds one_hot(labels, depth=C), whose depth is a number.
  if (!logits.shape[1].is_const())
    return TypeResult::fail("needs a fixed number of classes, got " + logits.str());
  return {Type{logits.dtype, {logits.shape[0]}}, ""};
}

// The class of row i as an index, or an Error naming the bad label.
int64_t checked_label(const char* op, double label, int64_t row, int64_t classes) {
  if (!(label >= 0 && label < static_cast<double>(classes)) || label != std::floor(label))
    throw Error(std::string(op) + ": label " + std::to_string(static_cast<int64_t>(label)) +
                " at index " + std::to_string(row) + " is out of range [0, " +
                std::to_string(classes) + ")");
  return static_cast<int64_t>(label);
}

// loss_i = logsumexp(logits_i) - logits_i[label_i], computed as
// (max - logits_i[label_i]) + log(sum(exp(logits_i - max))).
DTensor eval_sce(const std::vector<const DTensor*>& args, const Attrs&, const Dims& out_shape) {
  const DTensor& z = *args[0];
  const DTensor& labels = *args[1];
  int64_t n = z.shape[0], classes = z.shape[1];
  DTensor out(out_shape);
  for (int64_t i = 0; i < n; ++i) {
    int64_t label = checked_label("softmax_cross_entropy", labels[i], i, classes);
    const double* row = z.data.data() + i * classes;
    double m = -HUGE_VAL;
    for (int64_t j = 0; j < classes; ++j) m = std::max(m, row[j]);
    double s = 0;
    for (int64_t j = 0; j < classes; ++j) s += std::exp(row[j] - m);
    out[i] = (m - row[label]) + std::log(s);  // the max first: see eval_normalise
  }
  return out;
}

// loss = logsumexp(z_i) - z_i[l_i]  =>
//   dz = reshape(dy, [N,1]) * (softmax(z, axis=-1) - one_hot(l, depth=C))   [N,C]
//   labels: none (integers)
V vjp_sce(VjpContext& c) {
  if (!c.needs[0]) return {kNoValue, kNoValue};
  Builder& b = c.b;
  const Shape zs = b.shape(c.arg(0));  // [N,C]; a copy, as making nodes moves the graph
  ValueId p = b.make(OpKind::softmax, {c.arg(0)}, Attrs{{"axis", int64_t{-1}}});
  ValueId hot = b.make(OpKind::one_hot, {c.arg(1)}, Attrs{{"depth", zs[1].value()}});
  ValueId dy = b.reshape(c.dy, {zs[0], 1});
  return {b.mul(dy, b.sub(p, hot)), kNoValue};
}

// --- one_hot(labels i32[N]){depth} -> float [N, depth] ---

TypeResult one_hot_type(const std::vector<Type>& args, const Attrs& attrs, const TypeContext& cx) {
  const AttrValue* depth = attrs.find("depth");
  if (!depth || !std::holds_alternative<int64_t>(*depth) || std::get<int64_t>(*depth) <= 0)
    return TypeResult::fail("needs a positive integer 'depth'");
  if (args[0].dtype != DType::i32 || args[0].rank() != 1)
    return TypeResult::fail("needs i32 labels of shape [N], got " + args[0].str());
  return {Type{cx.float_type, {args[0].shape[0], std::get<int64_t>(*depth)}}, ""};
}

DTensor eval_one_hot(const std::vector<const DTensor*>& args, const Attrs& attrs,
                     const Dims& out_shape) {
  const DTensor& labels = *args[0];
  int64_t depth = attrs.get_int("depth");
  DTensor out(out_shape);
  for (int64_t i = 0; i < out_shape[0]; ++i)
    out[i * depth + checked_label("one_hot", labels[i], i, depth)] = 1;
  return out;
}

// --- mse(pred, target) = mean((pred - target)^2), a composite ---

TypeResult mse_type(const std::vector<Type>& args, const Attrs& attrs, const TypeContext& cx) {
  TypeResult r = rules::broadcast_float(args, attrs, cx);
  if (!r.ok()) return r;
  return {Type{r.type.dtype, {}}, ""};
}

ValueId expand_mse(Builder& b, const std::vector<ValueId>& args, const Attrs&) {
  ValueId d = b.sub(args[0], args[1]);
  return b.make(OpKind::mean, {b.mul(d, d)});
}

// --- bce_with_logits(z, t) = max(z,0) - z*t + log1p(exp(-|z|)), elementwise ---

double d_bce(double z, double t) {
  return std::max(z, 0.0) - z * t + std::log1p(std::exp(-std::fabs(z)));
}

// dz = dy * (sigmoid(z) - t) ; dt = dy * (-z), each summed back to its operand's shape.
V vjp_bce(VjpContext& c) {
  Builder& b = c.b;
  ValueId z = c.arg(0), t = c.arg(1);
  // Copies: a shape reference into the graph dangles once nodes are added.
  const Shape zs = b.shape(z), ts = b.shape(t);
  ValueId dz = kNoValue, dt = kNoValue;
  if (c.needs[0]) dz = b.sum_to(b.mul(c.dy, b.sub(b.unary(OpKind::sigmoid, z), t)), zs);
  if (c.needs[1]) dt = b.sum_to(b.mul(c.dy, b.neg(z)), ts);
  return {dz, dt};
}

std::vector<CheckCase> sce_checks() {
  auto labels = [](int64_t n, int64_t classes) {
    return CheckArg{.shape = {n}, .domain = Domain::Index, .bound = classes};
  };
  return {{.args = {{.shape = {4, 3}}, labels(4, 3)}},
          {.args = {{.shape = {1, 5}}, labels(1, 5)}},
          {.args = {{.shape = {6, 2}}, labels(6, 2)}}};
}

// Equal shapes, a broadcast row, an outer product, a scalar against a matrix.
std::vector<CheckCase> broadcast_pair_checks(Domain second) {
  auto pair = [second](Dims a, Dims b) {
    return CheckCase{.args = {{.shape = std::move(a)}, {.shape = std::move(b), .domain = second}}};
  };
  return {pair({3, 4}, {3, 4}), pair({3, 4}, {4}), pair({3, 1}, {1, 4}), pair({}, {2, 3}),
          pair({2, 3}, {})};
}

}  // namespace

void define_loss_ops(OpTableBuilder& t) {
  t.define({.kind = OpKind::softmax_cross_entropy,
            .arity = 2,
            .builtin = true,
            .signature = {{"logits"}, {"labels"}},
            .infer = sce_type,
            .vjp = vjp_sce,
            .eval = eval_sce,
            .checks = sce_checks(),
            .doc = "per-row cross-entropy of softmax(logits) [N,C] against i32 labels [N]"});
  t.define({.kind = OpKind::one_hot,
            .arity = 1,
            .infer = one_hot_type,
            .vjp = zero_vjp,
            .eval = eval_one_hot,
            .checks = {{.args = {{.shape = {4}, .domain = Domain::Index, .bound = 3}},
                        .attrs = {{"depth", int64_t{3}}}}},
            .doc = "i32 labels [N] to rows of a float identity [N, depth]"});
  t.define({.kind = OpKind::mse,
            .arity = 2,
            .builtin = true,
            .signature = {{"pred"}, {"target"}},
            .infer = mse_type,
            .expand = expand_mse,
            .checks = broadcast_pair_checks(Domain::Real),
            .doc = "mean of squared differences, with broadcasting; a scalar"});
  t.define({.kind = OpKind::bce_with_logits,
            .arity = 2,
            .builtin = true,
            .signature = {{"logits"}, {"targets"}},
            .infer = rules::broadcast_float,
            .vjp = vjp_bce,
            .eval = rules::eval_binary<d_bce>,
            .checks = broadcast_pair_checks(Domain::Positive),
            .doc = "binary cross-entropy of sigmoid(logits) against targets, stable, elementwise"});
}

}  // namespace adjoint
