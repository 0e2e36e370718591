// Shape ops. reshape is free (it aliases its operand's storage); concat,
// slice and pad copy runs of elements along one axis. Offsets that are
// symbolic sizes (a slice starting at B) are evaluated from the call's dims.
#include "codegen/lower_ops.hpp"

namespace adjoint::codegen {

namespace {

using V = llvm::Value*;

size_t axis_attr(const NodeCx& cx, size_t rank) {
  return static_cast<size_t>(*normalize_axis(cx.attrs().get_int("axis", 0), rank));
}

// The single Dim of a one-element shape attribute (slice's begin, pad's before).
V dim_attr(NodeCx& cx, const std::string& name) {
  return cx.e.dim(cx.attrs().get_shape(name).at(0));
}

// Tensors seen as [outer, n, inner] around `axis`: copies `count` slabs along
// the axis from src (starting at src_begin) to dst (starting at dst_begin).
// Each slab row is count * inner contiguous elements.
void copy_slabs(Emitter& e, size_t axis, const TensorRef& src, V src_begin, const TensorRef& dst,
                V dst_begin, V count) {
  V outer = e.product(dst.dims, 0, axis);
  V inner = e.product(dst.dims, axis + 1, dst.rank());
  V src_n = src.dims[axis], dst_n = dst.dims[axis];
  e.loop(outer, [&](V o) {
    V from = e.mul(e.add(e.mul(o, src_n), src_begin), inner);
    V to = e.mul(e.add(e.mul(o, dst_n), dst_begin), inner);
    e.loop(e.mul(count, inner),
           [&](V t) { e.store(dst, e.add(to, t), e.load(src, e.add(from, t))); });
  });
}

}  // namespace

// Same elements, new shape: the result is the operand's storage.
void lower_reshape(NodeCx& cx) {
  cx.out.data = cx.args[0].data;
  cx.out.uniform = cx.args[0].uniform;
}

// a then b along the axis.
void lower_concat(NodeCx& cx) {
  Emitter& e = cx.e;
  const TensorRef& a = cx.args[0];
  const TensorRef& b = cx.args[1];
  size_t axis = axis_attr(cx, a.rank());
  copy_slabs(e, axis, a, e.i64(0), cx.out, e.i64(0), a.dims[axis]);
  copy_slabs(e, axis, b, e.i64(0), cx.out, a.dims[axis], b.dims[axis]);
}

// x[.., begin:begin+size, ..]
void lower_slice(NodeCx& cx) {
  Emitter& e = cx.e;
  const TensorRef& x = cx.args[0];
  size_t axis = axis_attr(cx, x.rank());
  copy_slabs(e, axis, x, dim_attr(cx, "begin"), cx.out, e.i64(0), cx.out.dims[axis]);
}

// Zeros, with x placed `before` elements in along the axis.
void lower_pad(NodeCx& cx) {
  Emitter& e = cx.e;
  const TensorRef& x = cx.args[0];
  size_t axis = axis_attr(cx, x.rank());
  e.fill(cx.out, e.fconst(0));
  copy_slabs(e, axis, x, e.i64(0), cx.out, dim_attr(cx, "before"), x.dims[axis]);
}

}  // namespace adjoint::codegen
