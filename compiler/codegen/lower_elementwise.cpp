// Elementwise ops: each op's scalar formula, written in the same order of
// operations as its reference rule (compiler/ops/elementwise_ops.cpp), and the
// loop that applies a tree of them (a node and those fused into it, see
// fusion.hpp): one flat loop when no leaf broadcasts, else a loop nest over
// the result with stride 0 along broadcast dims.
//
// Comparisons are ordered fcmp + select rather than llvm.maxnum & co., to
// match the reference's `a >= b ? a : b > a ? b : a + b` exactly, NaN and
// -0.0 included (a NaN operand gives NaN, as in PyTorch).
#include <algorithm>
#include <functional>

#include "codegen/fusion.hpp"
#include "codegen/lower_ops.hpp"

namespace adjoint::codegen {

namespace {

using llvm::Intrinsic::ID;
using V = llvm::Value*;

constexpr double kSqrt2 = 1.4142135623730951;

// Whether t can be read at the result's flat index (same shape, or uniform).
bool reads_flat(const TensorRef& t, const TensorRef& out) {
  return t.uniform || *t.shape == *out.shape;
}

}  // namespace

std::vector<TensorRef> pointwise_leaves(Emitter& e, const PointwiseTree& t) {
  std::vector<TensorRef> in;
  for (ValueId l : fused_leaves(t.g, t.loop_of, t.root, t.loop_owner())) {
    TensorRef x = t.refs[static_cast<size_t>(l)];
    // A one-element leaf (a [1] bias, a [1,1] scale) is read once, before
    // the loop, as a uniform value: the tree then reads flat.
    bool one = std::all_of(x.shape->begin(), x.shape->end(),
                           [](const Dim& d) { return d.is_const() && d.value() == 1; });
    if (!x.uniform && one) x.uniform = e.load(x, e.i64(0));
    in.push_back(x);
  }
  return in;
}

V pointwise_value(Emitter& e, const PointwiseTree& t, const std::vector<V>& at) {
  std::vector<ValueId> leaves = fused_leaves(t.g, t.loop_of, t.root, t.loop_owner());
  std::function<V(ValueId)> eval = [&](ValueId v) -> V {
    if (v != t.root && t.loop_of[static_cast<size_t>(v)] != t.loop_owner()) {
      size_t k = static_cast<size_t>(std::find(leaves.begin(), leaves.end(), v) - leaves.begin());
      return at[k];
    }
    const Node& n = t.g.node(v);
    OpLowering l = lowering_of(n.op);
    if (l.unary) return l.unary(e, n.attrs, eval(n.args[0]));
    return l.binary(e, n.attrs, eval(n.args[0]), eval(n.args[1]));
  };
  return eval(t.root);
}

namespace {

void lower_pointwise_loops(Emitter& e, const PointwiseTree& t, const TensorRef& out) {
  std::vector<TensorRef> in = pointwise_leaves(e, t);
  auto value = [&](const std::vector<V>& at) { return pointwise_value(e, t, at); };
  bool flat =
      std::all_of(in.begin(), in.end(), [&](const TensorRef& x) { return reads_flat(x, out); });
  if (flat) {
    e.loop(e.numel(out), [&](V i) {
      std::vector<V> at;
      for (const TensorRef& x : in) at.push_back(e.load(x, i));
      e.store(out, i, value(at));
    });
    return;
  }
  std::vector<std::vector<V>> strides{e.strides(out)};
  for (const TensorRef& x : in) strides.push_back(e.broadcast_strides(x, out.rank()));
  e.strided_nest(out.dims, strides, [&](const std::vector<V>& offsets) {
    std::vector<V> at;
    for (size_t k = 0; k < in.size(); ++k) at.push_back(e.load(in[k], offsets[k + 1]));
    e.store(out, offsets[0], value(at));
  });
}

}  // namespace

void lower_pointwise(Emitter& e, const PointwiseTree& t, const TensorRef& out) {
  e.with_parallel_loops([&] { lower_pointwise_loops(e, t, out); });
}

TensorRef computed_operand(Emitter& e, const PointwiseTree& t) {
  const Node& n = t.g.node(t.root);
  TensorRef out{n.type.dtype, &n.type.shape, e.dims(n.type.shape), nullptr, nullptr, {}};
  std::vector<TensorRef> in = pointwise_leaves(e, t);
  // The tree reads flat (fusion.hpp): every leaf at the element's own index.
  out.compute = [&e, t, in](V i) {
    std::vector<V> at;
    for (const TensorRef& x : in) at.push_back(e.load(x, i));
    return pointwise_value(e, t, at);
  };
  return out;
}

void lower_constant(NodeCx& cx) { cx.out.uniform = cx.e.fconst(cx.attrs().get_f64("value")); }

// numel(x[, axis]) as a float, from x's sizes at call time.
void lower_numel(NodeCx& cx) {
  Emitter& e = cx.e;
  const TensorRef& x = cx.args[0];
  V n = e.numel(x);
  if (cx.attrs().has("axis"))
    n = x.dims[static_cast<size_t>(*normalize_axis(cx.attrs().get_int("axis"), x.rank()))];
  cx.out.uniform = e.to_float(n);
}

// --- One operand ---

V scalar_neg(Emitter& e, const Attrs&, V x) { return e.fneg(x); }
V scalar_exp(Emitter& e, const Attrs&, V x) { return e.intrinsic(llvm::Intrinsic::exp, x); }
V scalar_log(Emitter& e, const Attrs&, V x) { return e.intrinsic(llvm::Intrinsic::log, x); }
V scalar_sqrt(Emitter& e, const Attrs&, V x) { return e.intrinsic(llvm::Intrinsic::sqrt, x); }
V scalar_abs(Emitter& e, const Attrs&, V x) { return e.intrinsic(llvm::Intrinsic::fabs, x); }
// f64: libm's tanh. f32: from exp, which the loop vectoriser turns into the
// vector math library's calls (libm's tanhf has no vector form it knows):
//   |x| < 0.4: the odd series to x^11;  else sign(x) (1 - 2 / (e^(2|x|) + 1))
// (within 2e-7 relative of tanh over all floats; e^(2|x|) = inf gives +-1).
V scalar_tanh(Emitter& e, const Attrs&, V x) {
  if (e.float_type() == DType::f64) return e.libm("tanh", x);
  V ax = e.intrinsic(llvm::Intrinsic::fabs, x);
  V ex = e.intrinsic(llvm::Intrinsic::exp, e.fmul(e.fconst(2), ax));
  V big = e.fsub(e.fconst(1), e.fdiv(e.fconst(2), e.fadd(ex, e.fconst(1))));
  big = e.b().CreateBinaryIntrinsic(llvm::Intrinsic::copysign, big, x);
  V x2 = e.fmul(x, x);
  V poly = e.fconst(-1382.0 / 155925);
  for (double c : {62.0 / 2835, -17.0 / 315, 2.0 / 15, -1.0 / 3, 1.0})
    poly = e.fadd(e.fconst(c), e.fmul(x2, poly));
  return e.select(e.lt(ax, e.fconst(0.4)), e.fmul(x, poly), big);
}
V scalar_sin(Emitter& e, const Attrs&, V x) { return e.intrinsic(llvm::Intrinsic::sin, x); }
V scalar_cos(Emitter& e, const Attrs&, V x) { return e.intrinsic(llvm::Intrinsic::cos, x); }
V scalar_erf(Emitter& e, const Attrs&, V x) { return e.libm("erf", x); }

// x >= 0 ? 1 / (1 + e^-x) : e^x / (1 + e^x), with t = e^-|x| serving both arms.
V scalar_sigmoid(Emitter& e, const Attrs&, V x) {
  V t = e.intrinsic(llvm::Intrinsic::exp, e.fneg(e.intrinsic(llvm::Intrinsic::fabs, x)));
  V den = e.fadd(e.fconst(1), t);
  return e.select(e.ge(x, e.fconst(0)), e.fdiv(e.fconst(1), den), e.fdiv(t, den));
}

// x <= 0 ? 0 : x (NaN stays NaN, as in PyTorch and the reference)
V scalar_relu(Emitter& e, const Attrs&, V x) {
  return e.select(e.b().CreateFCmpOLE(x, e.fconst(0)), e.fconst(0), x);
}

// std::max(x, 0) + log1p(e^-|x|), where std::max(x, 0) is (x < 0 ? 0 : x)
V scalar_softplus(Emitter& e, const Attrs&, V x) {
  V pos = e.select(e.lt(x, e.fconst(0)), e.fconst(0), x);
  V t = e.intrinsic(llvm::Intrinsic::exp, e.fneg(e.intrinsic(llvm::Intrinsic::fabs, x)));
  return e.fadd(pos, e.libm("log1p", t));
}

// 0.5 * x * (1 + erf(x / sqrt 2))
V scalar_gelu(Emitter& e, const Attrs&, V x) {
  V cdf2 = e.fadd(e.fconst(1), e.libm("erf", e.fdiv(x, e.fconst(kSqrt2))));
  return e.fmul(e.fmul(e.fconst(0.5), x), cdf2);
}

// x > 0 ? x : alpha * x
V scalar_leaky_relu(Emitter& e, const Attrs& a, V x) {
  V alpha = e.fconst(a.get_f64("alpha", 0.01));
  return e.select(e.gt(x, e.fconst(0)), x, e.fmul(alpha, x));
}

V scalar_pow(Emitter& e, const Attrs& a, V x) { return e.pow(x, e.fconst(a.get_f64("c"))); }

// [x > 0]
V scalar_step(Emitter& e, const Attrs&, V x) {
  return e.select(e.gt(x, e.fconst(0)), e.fconst(1), e.fconst(0));
}

// x > 0 ? 1 : x < 0 ? -1 : 0 (0 for 0 and NaN)
V scalar_sign(Emitter& e, const Attrs&, V x) {
  V neg = e.select(e.lt(x, e.fconst(0)), e.fconst(-1), e.fconst(0));
  return e.select(e.gt(x, e.fconst(0)), e.fconst(1), neg);
}

// --- Two operands ---

V scalar_add(Emitter& e, const Attrs&, V a, V b) { return e.fadd(a, b); }
V scalar_sub(Emitter& e, const Attrs&, V a, V b) { return e.fsub(a, b); }
V scalar_mul(Emitter& e, const Attrs&, V a, V b) { return e.fmul(a, b); }
V scalar_div(Emitter& e, const Attrs&, V a, V b) { return e.fdiv(a, b); }

// a >= b ? a : b > a ? b : a + b (ties: the first; a NaN operand: NaN)
V scalar_maximum(Emitter& e, const Attrs&, V a, V b) {
  return e.select(e.ge(a, b), a, e.select(e.gt(b, a), b, e.fadd(a, b)));
}

// a <= b ? a : b < a ? b : a + b (ties: the first; a NaN operand: NaN)
V scalar_minimum(Emitter& e, const Attrs&, V a, V b) {
  return e.select(e.b().CreateFCmpOLE(a, b), a, e.select(e.lt(b, a), b, e.fadd(a, b)));
}

V scalar_greater_equal(Emitter& e, const Attrs&, V a, V b) {
  return e.select(e.ge(a, b), e.fconst(1), e.fconst(0));
}

// std::max(z, 0) - z * t + log1p(e^-|z|)
V scalar_bce_with_logits(Emitter& e, const Attrs&, V z, V t) {
  V pos = e.select(e.lt(z, e.fconst(0)), e.fconst(0), z);
  V soft = e.libm("log1p",
                  e.intrinsic(llvm::Intrinsic::exp, e.fneg(e.intrinsic(llvm::Intrinsic::fabs, z))));
  return e.fadd(e.fsub(pos, e.fmul(z, t)), soft);
}

}  // namespace adjoint::codegen
