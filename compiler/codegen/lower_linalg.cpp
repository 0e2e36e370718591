// matmul (with operands read transposed through the `ta`/`tb` flags, never
// copied) and transpose, as plain loops in the reference's summation order.
// The generated GEMM micro-kernels replace the matmul loops later.
#include "codegen/lower_ops.hpp"

namespace adjoint::codegen {

using V = llvm::Value*;

// C[m,n] = A B with A = ta ? a^T : a ([m,k]) and B = tb ? b^T : b ([k,n]):
//   C[i,j] = sum over p of A(i,p) * B(p,j), p ascending from 0.
void lower_matmul(NodeCx& cx) {
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

llvm::Value* matmul_scratch_bytes(Emitter& e, const Graph&, const Node&) { return e.i64(0); }

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
