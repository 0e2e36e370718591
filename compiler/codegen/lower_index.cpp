// Ops that read i32 labels or indices: softmax_cross_entropy, one_hot,
// gather and scatter_add.
//
// The reference evaluator throws for a label or index outside its range;
// native code cannot throw, and callers (the C++ API) validate labels before
// a call. What the generated code does instead, so that a bad label shows up
// rather than reading out of bounds:
//  - softmax_cross_entropy: the row's loss is NaN (so a mean loss is NaN);
//  - one_hot: the row is all NaN (so the loss gradient is NaN there);
//  - gather: the output row is all NaN;
//  - scatter_add: the source row is skipped (its gather row is NaN already).
#include <cmath>
#include <functional>
#include <limits>

#include "codegen/lower_ops.hpp"

namespace adjoint::codegen {

namespace {

using V = llvm::Value*;

V nan(Emitter& e) { return e.fconst(std::numeric_limits<double>::quiet_NaN()); }

// 0 <= i < bound, in one unsigned compare.
V in_range(Emitter& e, V i, V bound) { return e.b().CreateICmpULT(i, bound); }

}  // namespace

bool sce_computes_softmax(const Graph& g, const Node& sce, const Node& other) {
  if (other.op != OpKind::softmax || other.args.at(0) != sce.args.at(0)) return false;
  const Type& z = g.type(sce.args[0]);
  std::optional<int64_t> axis = normalize_axis(other.attrs.get_int("axis", -1), z.shape.size());
  return z.shape.size() == 2 && axis == 1 && other.type == z;
}

namespace {

// Row i of softmax(z) along the classes, as lower_softmax computes it: the
// row's first maximum m2 (its own rule: the first NaN wins), then
// exp((z - m2) - log(sum exp(z - m2))) (the log taken as 0 when m2 is
// infinite). The
// loss's max m and sum s are reused when m2 equals m, which it does
// whenever the row has no NaN (both take the first maximal element).
void softmax_row(Emitter& e, const TensorRef& z, const TensorRef& out, V classes,
                 const std::function<V(V)>& at, V m, V s) {
  llvm::Type* f = e.float_ty();
  V m2 = e.local(f, e.fconst(-HUGE_VAL), "softmax_max");
  e.loop(classes, [&](V j) {
    V zj = e.load(z, at(j));
    V first = e.b().CreateICmpEQ(j, e.i64(0));
    V better = beats_max(e, zj, e.get(m2, f));
    e.set(m2, e.select(first, zj, e.select(better, zj, e.get(m2, f))));
  });
  V best = e.get(m2, f);
  V s2 = e.local(f, s, "softmax_sum");
  e.if_then(e.b().CreateFCmpUNE(best, m), [&] {
    e.set(s2, e.fconst(0));
    e.loop(classes, [&](V j) {
      V t = e.intrinsic(llvm::Intrinsic::exp, e.fsub(e.load(z, at(j)), best));
      e.set(s2, e.fadd(e.get(s2, f), t));
    });
  });
  V log_sum = e.intrinsic(llvm::Intrinsic::log, e.get(s2, f));
  V inf = e.b().CreateFCmpOEQ(e.intrinsic(llvm::Intrinsic::fabs, best), e.fconst(HUGE_VAL));
  log_sum = e.select(inf, e.fconst(0), log_sum);
  e.loop(classes, [&](V j) {
    V shifted = e.fsub(e.fsub(e.load(z, at(j)), best), log_sum);
    e.store(out, at(j), e.intrinsic(llvm::Intrinsic::exp, shifted));
  });
}

}  // namespace

// loss_i = (m - z_i[label_i]) + log(sum_j exp(z_ij - m)), m the row max
// (subtracted first, so a large m does not round the log away); with
// NodeCx::also, the row's softmax too (see softmax_row).
void lower_softmax_cross_entropy(NodeCx& cx) {
  Emitter& e = cx.e;
  const TensorRef& z = cx.args[0];
  const TensorRef& labels = cx.args[1];
  V classes = z.dims[1];
  llvm::Type* f = e.float_ty();
  e.loop(z.dims[0], [&](V i) {
    V row = e.mul(i, classes);
    auto at = [&](V j) { return e.add(row, j); };
    V m = e.local(f, e.fconst(-HUGE_VAL), "rowmax");
    e.loop(classes, [&](V j) {  // std::max(m, z): m < z ? z : m
      V zj = e.load(z, at(j));
      e.set(m, e.select(e.lt(e.get(m, f), zj), zj, e.get(m, f)));
    });
    V s = e.local(f, e.fconst(0), "sumexp");
    e.loop(classes, [&](V j) {
      V t = e.intrinsic(llvm::Intrinsic::exp, e.fsub(e.load(z, at(j)), e.get(m, f)));
      e.set(s, e.fadd(e.get(s, f), t));
    });
    V log_sum = e.intrinsic(llvm::Intrinsic::log, e.get(s, f));
    V label = e.load_index(labels, i);
    V loss = e.local(f, nan(e), "loss");
    e.if_then(in_range(e, label, classes),
              [&] { e.set(loss, e.fadd(e.fsub(e.get(m, f), e.load(z, at(label))), log_sum)); });
    e.store(cx.out, i, e.get(loss, f));
    if (cx.also.data) softmax_row(e, z, cx.also, classes, at, e.get(m, f), e.get(s, f));
  });
}

// y[i, :] = 0 except y[i, label_i] = 1.
void lower_one_hot(NodeCx& cx) {
  Emitter& e = cx.e;
  const TensorRef& labels = cx.args[0];
  V depth = cx.out.dims[1];
  e.fill(cx.out, e.fconst(0));
  e.loop(cx.out.dims[0], [&](V i) {
    V label = e.load_index(labels, i);
    V row = e.mul(i, depth);
    V ok = in_range(e, label, depth);
    e.if_then(ok, [&] { e.store(cx.out, e.add(row, label), e.fconst(1)); });
    e.if_then(e.b().CreateNot(ok),
              [&] { e.loop(depth, [&](V j) { e.store(cx.out, e.add(row, j), nan(e)); }); });
  });
}

// y[p, :] = table[idx[p], :] for every index element p.
void lower_gather(NodeCx& cx) {
  Emitter& e = cx.e;
  const TensorRef& table = cx.args[0];
  const TensorRef& idx = cx.args[1];
  V rows = table.dims[0], d = table.dims[1];
  e.loop(e.numel(idx), [&](V p) {
    V r = e.load_index(idx, p);
    V ok = in_range(e, r, rows);
    e.if_then(ok, [&] {
      e.loop(d, [&](V j) {
        e.store(cx.out, e.add(e.mul(p, d), j), e.load(table, e.add(e.mul(r, d), j)));
      });
    });
    e.if_then(e.b().CreateNot(ok),
              [&] { e.loop(d, [&](V j) { e.store(cx.out, e.add(e.mul(p, d), j), nan(e)); }); });
  });
}

// y = 0, then y[idx[p], :] += src[p, :] for p in order.
void lower_scatter_add(NodeCx& cx) {
  Emitter& e = cx.e;
  const TensorRef& src = cx.args[0];
  const TensorRef& idx = cx.args[1];
  V rows = cx.out.dims[0], d = cx.out.dims[1];
  e.fill(cx.out, e.fconst(0));
  e.loop(e.numel(idx), [&](V p) {
    V r = e.load_index(idx, p);
    e.if_then(in_range(e, r, rows), [&] {
      e.loop(d, [&](V j) {
        V to = e.add(e.mul(r, d), j);
        e.store(cx.out, to, e.fadd(e.load(cx.out, to), e.load(src, e.add(e.mul(p, d), j))));
      });
    });
  });
}

}  // namespace adjoint::codegen
