// Reductions along one axis or all of them, the normalisations built on them
// (softmax, log_softmax) and the two broadcasting adjoints (broadcast_to,
// sum_to). Semantics follow compiler/ops/reduce_ops.cpp exactly: sums run
// from 0 in index order, max keeps the first maximal element or the first
// NaN, an empty lane's max is -inf, and logsumexp of a lane whose max is
// infinite is that max.
#include <cmath>
#include <optional>

#include "codegen/lower_ops.hpp"

namespace adjoint::codegen {

namespace {

using V = llvm::Value*;

// x seen as [outer, n, inner] around the reduced axis ([1, size, 1] for every
// axis). Lane (o, i) is number o * inner + i, which is also where its result
// goes; its element j is at (o * n + j) * inner + i.
struct Lanes {
  V outer, n, inner;
};

std::optional<int64_t> axis_of(const Attrs& attrs, size_t rank, std::optional<int64_t> dflt) {
  if (!attrs.has("axis")) return dflt ? normalize_axis(*dflt, rank) : std::nullopt;
  return normalize_axis(attrs.get_int("axis"), rank);
}

Lanes lanes_of(Emitter& e, const TensorRef& x, std::optional<int64_t> axis) {
  if (!axis) return {e.i64(1), e.numel(x), e.i64(1)};
  size_t a = static_cast<size_t>(*axis);
  return {e.product(x.dims, 0, a), x.dims[a], e.product(x.dims, a + 1, x.rank())};
}

// Calls body(lane, at) for every lane, where at(j) is the flat offset of the
// lane's element j.
void for_each_lane(Emitter& e, const Lanes& l,
                   const std::function<void(V lane, const std::function<V(V)>& at)>& body) {
  e.loop(l.outer, [&](V o) {
    e.loop(l.inner, [&](V i) {
      V lane = e.add(e.mul(o, l.inner), i);
      auto at = [&, o, i](V j) { return e.add(e.mul(e.add(e.mul(o, l.n), j), l.inner), i); };
      body(lane, at);
    });
  });
}

// Sums accumulate in f64 whatever the model's type: an f32 accumulator
// loses digits as the count grows (a mean over a million elements was off by
// 1e-4), an f64 one not before 2^29 or so; the order stays fixed.
llvm::Type* acc_ty(Emitter& e) { return e.b().getDoubleTy(); }
V widen(Emitter& e, V v) { return e.b().CreateFPExt(v, acc_ty(e)); }
V narrow(Emitter& e, V v) { return e.b().CreateFPTrunc(v, e.float_ty()); }

V lane_sum(Emitter& e, const TensorRef& x, const Lanes& l, const std::function<V(V)>& at) {
  V acc = e.local(acc_ty(e), llvm::ConstantFP::get(acc_ty(e), 0.0), "sum");
  e.loop(l.n, [&](V j) { e.set(acc, e.fadd(e.get(acc, acc_ty(e)), widen(e, e.load(x, at(j))))); });
  return narrow(e, e.get(acc, acc_ty(e)));
}

struct ArgMax {
  V value, index;  // locals: the lane's first maximum and its position
};

// The first maximal element of a lane: -inf (and index 0) for an empty lane.
ArgMax lane_argmax(Emitter& e, const TensorRef& x, const Lanes& l, const std::function<V(V)>& at) {
  ArgMax best{e.local(e.float_ty(), e.fconst(-HUGE_VAL), "max"),
              e.local(e.b().getInt64Ty(), e.i64(0), "argmax")};
  e.if_then(e.b().CreateICmpSGT(l.n, e.i64(0)), [&] {
    e.set(best.value, e.load(x, at(e.i64(0))));
    e.loop(e.sub(l.n, e.i64(1)), [&](V j0) {
      V j = e.add(j0, e.i64(1));
      V v = e.load(x, at(j));
      V better = beats_max(e, v, e.get(best.value, e.float_ty()));
      e.set(best.value, e.select(better, v, e.get(best.value, e.float_ty())));
      e.set(best.index, e.select(better, j, e.get(best.index, e.b().getInt64Ty())));
    });
  });
  return best;
}

// A lane's max m and log(sum(exp(x - m))), that log 0 when m is infinite.
struct ShiftedLse {
  V max, log_sum;
};

ShiftedLse lane_shifted_lse(Emitter& e, const TensorRef& x, const Lanes& l,
                            const std::function<V(V)>& at) {
  V m = e.get(lane_argmax(e, x, l, at).value, e.float_ty());
  V acc = e.local(e.float_ty(), e.fconst(0), "sumexp");
  e.loop(l.n, [&](V j) {
    V t = e.intrinsic(llvm::Intrinsic::exp, e.fsub(e.load(x, at(j)), m));
    e.set(acc, e.fadd(e.get(acc, e.float_ty()), t));
  });
  V log_sum = e.intrinsic(llvm::Intrinsic::log, e.get(acc, e.float_ty()));
  V inf = e.b().CreateFCmpOEQ(e.intrinsic(llvm::Intrinsic::fabs, m), e.fconst(HUGE_VAL));
  return {m, e.select(inf, e.fconst(0), log_sum)};
}

// max + log(sum(exp(x - max))), or the max itself when it is infinite.
V lane_logsumexp(Emitter& e, const TensorRef& x, const Lanes& l, const std::function<V(V)>& at) {
  ShiftedLse s = lane_shifted_lse(e, x, l, at);
  return e.fadd(s.max, s.log_sum);
}

// A reduction writing one value per lane.
template <typename F>
void reduce(NodeCx& cx, F lane_value) {
  Emitter& e = cx.e;
  const TensorRef& x = cx.args[0];
  Lanes l = lanes_of(e, x, axis_of(cx.attrs(), x.rank(), std::nullopt));
  for_each_lane(e, l, [&](V lane, const std::function<V(V)>& at) {
    e.store(cx.out, lane, lane_value(e, x, l, at));
  });
}

// softmax (kLog false) or log_softmax along the axis (default -1), from
// (x - max) - log(sum(exp(x - max))), as the reference computes it.
template <bool kLog>
void normalise(NodeCx& cx) {
  Emitter& e = cx.e;
  const TensorRef& x = cx.args[0];
  Lanes l = lanes_of(e, x, axis_of(cx.attrs(), x.rank(), -1));
  for_each_lane(e, l, [&](V, const std::function<V(V)>& at) {
    ShiftedLse s = lane_shifted_lse(e, x, l, at);
    e.loop(l.n, [&](V j) {
      V k = at(j);
      V shifted = e.fsub(e.fsub(e.load(x, k), s.max), s.log_sum);
      e.store(cx.out, k, kLog ? shifted : e.intrinsic(llvm::Intrinsic::exp, shifted));
    });
  });
}

// The most elements of y that sum_to keeps in registers (see few_sums).
constexpr int64_t kRegisterSums = 16;

// sum_to into few elements, each of a fixed place in x's inner axes
// ([B,C,H,W] -> [C,1,1], a conv's bias gradient): the loops run over the
// summed axes only, and each iteration adds one term to every element's
// accumulator, held in a register. Each element still adds its terms in
// row-major order (the same bits as the general loop), but its additions
// no longer wait on one another: the general loop, in x's order, made a
// chain of H*W dependent additions per plane. False when y has more than
// kRegisterSums elements or its sizes are not known here.
bool few_sums(Emitter& e, const TensorRef& x, const TensorRef& out) {
  size_t rank = x.rank(), lead = rank - out.rank();
  std::vector<size_t> summed, kept;
  int64_t count = 1;
  for (size_t i = 0; i < rank; ++i) {
    bool keep = i >= lead && !(*out.shape)[i - lead].is_one();
    (keep ? kept : summed).push_back(i);
    const Dim& d = (*x.shape)[i];
    if (keep && (!d.is_const() || (count *= d.coeff()) > kRegisterSums)) return false;
  }
  if (kept.empty()) return false;
  std::vector<V> x_strides = e.strides(x), y_strides = e.broadcast_strides(out, rank);
  // Element k of y: its offset in x's kept axes and in y.
  std::vector<V> x_at, y_at, acc;
  for (int64_t k = 0; k < count; ++k) {
    V xo = e.i64(0), yo = e.i64(0);
    int64_t rest = k;
    for (size_t j = kept.size(); j-- > 0;) {
      int64_t size = (*x.shape)[kept[j]].coeff(), idx = rest % size;
      rest /= size;
      xo = e.add(xo, e.mul(e.i64(idx), x_strides[kept[j]]));
      yo = e.add(yo, e.mul(e.i64(idx), y_strides[kept[j]]));
    }
    x_at.push_back(xo);
    y_at.push_back(yo);
    acc.push_back(e.local(acc_ty(e), llvm::ConstantFP::get(acc_ty(e), 0.0), "sum"));
  }
  std::vector<V> extents, xs;
  for (size_t i : summed) {
    extents.push_back(x.dims[i]);
    xs.push_back(x_strides[i]);
  }
  e.strided_nest(extents, {xs}, [&](const std::vector<V>& at) {
    for (int64_t k = 0; k < count; ++k) {
      V term = widen(e, e.load(x, e.add(at[0], x_at[static_cast<size_t>(k)])));
      e.set(acc[static_cast<size_t>(k)],
            e.fadd(e.get(acc[static_cast<size_t>(k)], acc_ty(e)), term));
    }
  });
  for (int64_t k = 0; k < count; ++k)
    e.store(out, y_at[static_cast<size_t>(k)],
            narrow(e, e.get(acc[static_cast<size_t>(k)], acc_ty(e))));
  return true;
}

}  // namespace

V beats_max(Emitter& e, V v, V best) {
  V best_is_number = e.b().CreateFCmpORD(best, best);
  return e.b().CreateAnd(best_is_number, e.b().CreateFCmpUGT(v, best));
}

void lower_sum(NodeCx& cx) { reduce(cx, lane_sum); }

void lower_max(NodeCx& cx) {
  reduce(cx, [](Emitter& e, const TensorRef& x, const Lanes& l, const std::function<V(V)>& at) {
    return e.get(lane_argmax(e, x, l, at).value, e.float_ty());
  });
}

void lower_logsumexp(NodeCx& cx) { reduce(cx, lane_logsumexp); }

// 1 at each lane's first maximum, 0 elsewhere (nothing for empty lanes).
void lower_argmax_mask(NodeCx& cx) {
  Emitter& e = cx.e;
  const TensorRef& x = cx.args[0];
  e.fill(cx.out, e.fconst(0));
  Lanes l = lanes_of(e, x, axis_of(cx.attrs(), x.rank(), std::nullopt));
  for_each_lane(e, l, [&](V, const std::function<V(V)>& at) {
    ArgMax best = lane_argmax(e, x, l, at);
    e.if_then(e.b().CreateICmpSGT(l.n, e.i64(0)),
              [&] { e.store(cx.out, at(e.get(best.index, e.b().getInt64Ty())), e.fconst(1)); });
  });
}

void lower_softmax(NodeCx& cx) { normalise<false>(cx); }
void lower_log_softmax(NodeCx& cx) { normalise<true>(cx); }

// y[idx] = x[broadcast idx]
void lower_broadcast_to(NodeCx& cx) {
  Emitter& e = cx.e;
  const TensorRef& x = cx.args[0];
  const TensorRef& out = cx.out;
  e.strided_nest(out.dims, {e.strides(out), e.broadcast_strides(x, out.rank())},
                 [&](const std::vector<V>& at) { e.store(out, at[0], e.load(x, at[1])); });
}

// Each element of x, in row-major order, adds into the element of y it would
// be broadcast from; in f64 (see lane_sum): for an f32 model, into
// accumulators in the scratch, then rounded into y.
void lower_sum_to(NodeCx& cx) {
  Emitter& e = cx.e;
  const TensorRef& x = cx.args[0];
  const TensorRef& out = cx.out;
  if (few_sums(e, x, out)) return;
  TensorRef acc = out;
  if (e.float_type() != DType::f64) {
    acc.dtype = DType::f64;
    acc.data = cx.scratch;
  }
  auto load_acc = [&](V i) { return e.b().CreateLoad(acc_ty(e), e.element_ptr(acc, i)); };
  e.loop(e.numel(acc), [&](V i) { e.store(acc, i, llvm::ConstantFP::get(acc_ty(e), 0.0)); });
  e.strided_nest(x.dims, {e.strides(x), e.broadcast_strides(out, x.rank())},
                 [&](const std::vector<V>& at) {
                   e.store(acc, at[1], e.fadd(load_acc(at[1]), widen(e, e.load(x, at[0]))));
                 });
  if (acc.data != out.data)
    e.loop(e.numel(out), [&](V i) { e.store(out, i, narrow(e, load_acc(i))); });
}

V sum_to_scratch_bytes(Emitter& e, const Graph&, const Node& n) {
  if (e.float_type() == DType::f64) return e.i64(0);
  return e.mul(e.product(e.dims(n.type.shape), 0, n.type.shape.size()), e.i64(8));
}

}  // namespace adjoint::codegen
