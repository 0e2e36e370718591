// matmul (with operands read transposed through the `ta`/`tb` flags, never
// copied) through the generated GEMM, and transpose.
#include "codegen/gemm.hpp"
#include "codegen/lower_ops.hpp"

namespace adjoint::codegen {

using V = llvm::Value*;

namespace {

// C[m,n] = A B with A = ta ? a^T : a ([m,k]) and B = tb ? b^T : b ([k,n]):
//   C[i,j] = sum over p of A(i,p) * B(p,j), p ascending from 0, as plain
// loops: for an operand with no storage (a uniform value).
void lower_matmul_loops(NodeCx& cx) {
  Emitter& e = cx.e;
  const TensorRef& a = cx.args[0];
  const TensorRef& b = cx.args[1];
  bool ta = cx.attrs().get_bool("ta"), tb = cx.attrs().get_bool("tb");
  V m = cx.out.dims[0], n = cx.out.dims[1];
  V k = a.dims[ta ? 0 : 1];
  // Element (i, p) of the logical operand, whichever way it is stored.
  auto at_a = [&](V i, V p) { return ta ? e.add(e.mul(p, m), i) : e.add(e.mul(i, k), p); };
  auto at_b = [&](V p, V j) { return tb ? e.add(e.mul(j, k), p) : e.add(e.mul(p, n), j); };
  e.loop(m, [&](V i) {
    e.loop(n, [&](V j) {
      V acc = e.local(e.float_ty(), e.fconst(0), "acc");
      e.loop(k, [&](V p) {
        V term = e.fmul(e.load(a, at_a(i, p)), e.load(b, at_b(p, j)));
        e.set(acc, e.fadd(e.get(acc, e.float_ty()), term));
      });
      e.store(cx.out, e.add(e.mul(i, n), j), e.get(acc, e.float_ty()));
    });
  });
}

// The operand as a strided matrix: element (i, p) of op(t), t stored [r, c].
StridedMatrix strided(Emitter& e, const TensorRef& t, bool transposed) {
  llvm::Value* cols = t.dims[1];
  return transposed ? StridedMatrix{t.data, e.i64(1), cols} : StridedMatrix{t.data, cols, e.i64(1)};
}

}  // namespace

// Products this small (m*n*k multiply-adds) cost less as inline loops than
// the call, checks and packing of the GEMM routine.
constexpr int64_t kInlineWork = 512;

void lower_matmul(NodeCx& cx) {
  const TensorRef& a = cx.args[0];
  const TensorRef& b = cx.args[1];
  if (a.uniform || b.uniform) {
    lower_matmul_loops(cx);
    return apply_epilogue(cx.e, cx.epilogue, cx.out.dims[0], cx.out.dims[1]);
  }
  Emitter& e = cx.e;
  auto& ir = e.b();
  bool ta = cx.attrs().get_bool("ta"), tb = cx.attrs().get_bool("tb");
  llvm::Value* m = cx.out.dims[0];
  llvm::Value* n = cx.out.dims[1];
  llvm::Value* k = a.dims[ta ? 0 : 1];
  // Sizes are at least their constant factor (a symbol is >= 1, or the
  // product is empty): above the bound, the inline loops would be dead code.
  const Shape& as = *a.shape;
  int64_t least =
      cx.node.type.shape[0].coeff() * cx.node.type.shape[1].coeff() * as[ta ? 0 : 1].coeff();
  if (least > kInlineWork) {
    emit_gemm(e, m, n, k, strided(e, a, ta), strided(e, b, tb), cx.out.data, cx.scratch,
              cx.epilogue);
    return;
  }
  llvm::Function* f = ir.GetInsertBlock()->getParent();
  llvm::BasicBlock* small = llvm::BasicBlock::Create(e.ctx(), "matmul_inline", f);
  llvm::BasicBlock* large = llvm::BasicBlock::Create(e.ctx(), "matmul_gemm", f);
  llvm::BasicBlock* done = llvm::BasicBlock::Create(e.ctx(), "matmul_done", f);
  ir.CreateCondBr(ir.CreateICmpSLE(e.mul(e.mul(m, n), k), e.i64(kInlineWork)), small, large);
  ir.SetInsertPoint(small);
  lower_matmul_loops(cx);
  apply_epilogue(e, cx.epilogue, m, n);
  ir.CreateBr(done);
  ir.SetInsertPoint(large);
  emit_gemm(e, m, n, k, strided(e, a, ta), strided(e, b, tb), cx.out.data, cx.scratch, cx.epilogue);
  ir.CreateBr(done);
  ir.SetInsertPoint(done);
}

llvm::Value* matmul_scratch_bytes(Emitter& e, const Graph& g, const Node& n) {
  const Shape& a = g.node(n.args[0]).type.shape;
  bool ta = n.attrs.get_bool("ta");
  return gemm_scratch_bytes(e, e.dim(n.type.shape[0]), e.dim(n.type.shape[1]),
                            e.dim(a[ta ? 0 : 1]));
}

// y[j, i] = x[i, j]
void lower_transpose(NodeCx& cx) {
  Emitter& e = cx.e;
  const TensorRef& x = cx.args[0];
  V rows = x.dims[0], cols = x.dims[1];
  e.loop(rows, [&](V i) {
    e.loop(cols, [&](V j) {
      e.store(cx.out, e.add(e.mul(j, rows), i), e.load(x, e.add(e.mul(i, cols), j)));
    });
  });
}

}  // namespace adjoint::codegen
