// Batch-split lowerings (see lower_ops.hpp): a node's lowering emitted once,
// into a task function that computes a slice of the batch, and run over
// the whole batch by the thread pool (Emitter::run_tasks).
//
// The task receives each tensor's data pointer and sizes through a
// TaskCapture (constant sizes stay constants in the task). Slice
// [n0, n0 + rows) of a tensor is its data from element n0 times the size of
// one batch element, with dim 0 set to rows.
#include <algorithm>
#include <functional>
#include <stdexcept>
#include <string>

#include "codegen/fusion.hpp"
#include "codegen/lower_ops.hpp"
#include "codegen/task_capture.hpp"
#include "ops/op_table.hpp"

namespace adjoint::codegen {

namespace {

using V = llvm::Value*;

// Elements of the result from which the slices run on the pool: below, the
// pool's wake-up costs more than a second core saves.
constexpr int64_t kParallelElements = int64_t{1} << 15;

// Elements of the result each task aims to compute.
constexpr int64_t kTaskElements = int64_t{1} << 13;

// How the batch of a result `out` is cut: slices of `per_task` batch
// elements (about kTaskElements result elements), `tasks` of them, on the
// pool when `parallel`.
struct Slicing {
  V per_task, tasks, parallel;
};

Slicing slicing(Emitter& e, const TensorRef& out) {
  auto& b = e.b();
  V batch = out.dims[0];
  V row = e.product(out.dims, 1, out.rank());  // result elements per batch element
  V at_least_one = b.CreateSelect(b.CreateICmpSGT(row, e.i64(1)), row, e.i64(1));
  V per_task =
      b.CreateSDiv(e.add(e.i64(kTaskElements), e.sub(at_least_one, e.i64(1))), at_least_one);
  V tasks = b.CreateSDiv(e.add(batch, e.sub(per_task, e.i64(1))), per_task);
  return {per_task, tasks, b.CreateICmpSGE(e.mul(batch, row), e.i64(kParallelElements))};
}

// Batch elements [first, min(dim 0, first + per)) of t, in a task.
TensorRef slice_of(Emitter& te, TensorRef t, V first, V per) {
  V left = te.sub(t.dims[0], first);
  V rows = te.b().CreateSelect(te.b().CreateICmpSLT(left, per), left, per);
  V offset = te.mul(first, te.product(t.dims, 1, t.rank()));
  t.data = te.b().CreateInBoundsGEP(te.elem_ty(t.dtype), t.data, offset);
  t.dims[0] = rows;
  return t;
}

// How an operand reads the batch: sliced with the result
// (its dim 0 is the result's), whole (it broadcasts along dim 0: fewer
// axes, or a dim 0 of 1, or one value), or not at all (anything else).
enum class LeafSlice { kSliced, kWhole, kNo };

LeafSlice leaf_slice(const TensorRef& x, const TensorRef& out) {
  if (x.compute || !x.shape) return LeafSlice::kNo;
  if (x.uniform || x.rank() < out.rank()) return LeafSlice::kWhole;
  if (x.rank() > out.rank()) return LeafSlice::kNo;
  if ((*x.shape)[0].is_one()) return LeafSlice::kWhole;
  if (x.data && x.rank() == out.rank() && (*x.shape)[0] == (*out.shape)[0])
    return LeafSlice::kSliced;
  return LeafSlice::kNo;
}

// A slice of the batch: its result and operands (`in`, in order).
using SliceFn =
    std::function<void(Emitter& te, const TensorRef& out, const std::vector<TensorRef>& in)>;

// Emits `body` into a task `name` that computes a slice of the batch of
// `out`, and runs it over the batch: `out` and the operands marked kSliced
// are cut along dim 0, the others passed whole.
void run_in_slices(Emitter& e, const std::string& name, const TensorRef& out,
                   const std::vector<TensorRef>& in, const std::vector<LeafSlice>& how,
                   const SliceFn& body) {
  Slicing cut = slicing(e, out);
  TaskCapture capture;
  capture.add(cut.per_task);
  capture.add(out);
  for (const TensorRef& x : in) capture.add(x);
  llvm::Function* task = capture.task(e, name);
  {
    Emitter te(e.module(), task, e.float_type());
    V tcx = task->getArg(0);
    V per = capture.take(te, tcx, cut.per_task);
    V first = te.mul(task->getArg(1), per);
    TensorRef out_slice = slice_of(te, capture.take(te, tcx, out), first, per);
    std::vector<TensorRef> in_slices;
    for (size_t i = 0; i < in.size(); ++i) {
      TensorRef x = capture.take(te, tcx, in[i]);
      in_slices.push_back(how[i] == LeafSlice::kSliced ? slice_of(te, x, first, per) : x);
    }
    body(te, out_slice, in_slices);
    te.b().CreateRetVoid();
  }
  e.run_tasks(task, capture.fill(e), cut.tasks, cut.parallel);
}

// Whether the result can be sliced, and how each of `in` reads the batch
// (empty: not splittable).
std::vector<LeafSlice> slicing_of(const TensorRef& out, const std::vector<TensorRef>& in) {
  if (out.rank() == 0 || !out.shape || !out.data) return {};
  std::vector<LeafSlice> how;
  for (const TensorRef& x : in) {
    how.push_back(leaf_slice(x, out));
    if (how.back() == LeafSlice::kNo) return {};
  }
  return how;
}

}  // namespace

void lower_batch_split(NodeCx& cx, LowerFn lower) {
  // The task gets no scratch, epilogue or second result.
  if (lowering_of(cx.node.op).scratch || lowering_of(cx.node.op).epilogue ||
      lowering_of(cx.node.op).alongside)
    throw std::logic_error("batch_split: " + op_name(cx.node.op) + " needs more than its operands");
  std::vector<LeafSlice> how = slicing_of(cx.out, cx.args);
  // Every operand sliced with the result, or lowered as one.
  if (how.empty() ||
      std::any_of(how.begin(), how.end(), [](LeafSlice h) { return h != LeafSlice::kSliced; }))
    return lower(cx);
  run_in_slices(cx.e, op_name(cx.node.op) + ".slice", cx.out, cx.args, how,
                [&](Emitter& te, const TensorRef& out, const std::vector<TensorRef>& in) {
                  NodeCx slice{te, cx.node, in, out};
                  lower(slice);
                });
}

void lower_pointwise_split(Emitter& e, const PointwiseTree& t, const TensorRef& out) {
  std::vector<ValueId> leaves = fused_leaves(t.g, t.loop_of, t.root, t.loop_owner());
  std::vector<TensorRef> in;
  for (ValueId l : leaves) in.push_back(t.refs[static_cast<size_t>(l)]);
  std::vector<LeafSlice> how = slicing_of(out, in);
  if (how.empty()) return lower_pointwise(e, t, out);
  run_in_slices(
      e, op_name(t.g.node(t.root).op) + ".slice", out, in, how,
      [&](Emitter& te, const TensorRef& out_slice, const std::vector<TensorRef>& slices) {
        std::vector<TensorRef> refs = t.refs;
        for (size_t i = 0; i < leaves.size(); ++i) refs[static_cast<size_t>(leaves[i])] = slices[i];
        lower_pointwise(te, PointwiseTree{t.g, t.root, t.loop_of, refs, t.owner}, out_slice);
      });
}

}  // namespace adjoint::codegen
