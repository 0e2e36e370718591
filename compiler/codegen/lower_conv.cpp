// Convolution and pooling over NCHW tensors, with their adjoints.
//
// A convolution of any size goes through the generated GEMM (im2col, in
// lower_conv_gemm.cpp); a tiny one, or one with a uniform operand (no
// storage to pack), runs as direct loops in the order of
// compiler/ops/conv_ops.cpp's reference: outputs (n, k, oh, ow) in row-major
// order, taps (c, r, s) within, input pixels outside the image read as zero
// (skipped). The loop adjoints scatter-add in that same order, so every
// element is summed exactly as the reference sums it. Pooling is loops only.
#include "codegen/lower_conv.hpp"

#include <functional>

namespace adjoint::codegen {

namespace {

using V = llvm::Value*;

// --- Convolution ---

struct ConvDims {
  V n, c, h, w;  // x
  V k, r, s;     // w (its c is x's)
  V ho, wo;      // g, the output
  int64_t stride, pad;
};

ConvDims conv_dims(const TensorRef& x, const TensorRef& w, const TensorRef& g, const Attrs& a) {
  return {x.dims[0],          x.dims[1], x.dims[2], x.dims[3], w.dims[0],
          w.dims[2],          w.dims[3], g.dims[2], g.dims[3], a.get_int("stride", 1),
          a.get_int("pad", 0)};
}

// body(gi, n, k, oh, ow) for every output element, gi its flat offset.
void for_each_output(Emitter& e, const ConvDims& d,
                     const std::function<void(V gi, V n, V k, V oh, V ow)>& body) {
  e.loop(d.n, [&](V n) {
    e.loop(d.k, [&](V k) {
      e.loop(d.ho, [&](V oh) {
        e.loop(d.wo, [&](V ow) {
          V gi = e.add(e.mul(e.add(e.mul(e.add(e.mul(n, d.k), k), d.ho), oh), d.wo), ow);
          body(gi, n, k, oh, ow);
        });
      });
    });
  });
}

// body(xi, wi) for every tap (c, r, s) of output (n, k, oh, ow) inside the image.
void for_each_tap(Emitter& e, const ConvDims& d, V n, V k, V oh, V ow,
                  const std::function<void(V xi, V wi)>& body) {
  auto& b = e.b();
  e.loop(d.c, [&](V c) {
    e.loop(d.r, [&](V r) {
      // ih and iw may be negative (a tap in the padding): signed-only arithmetic.
      V ih = b.CreateNSWSub(e.add(e.mul(oh, e.i64(d.stride)), r), e.i64(d.pad));
      e.loop(d.s, [&](V s) {
        V iw = b.CreateNSWSub(e.add(e.mul(ow, e.i64(d.stride)), s), e.i64(d.pad));
        // 0 <= ih < h and 0 <= iw < w, each as one unsigned compare.
        V inside = b.CreateAnd(b.CreateICmpULT(ih, d.h), b.CreateICmpULT(iw, d.w));
        e.if_then(inside, [&] {
          V xi = e.add(e.mul(e.add(e.mul(e.add(e.mul(n, d.c), c), d.h), ih), d.w), iw);
          V wi = e.add(e.mul(e.add(e.mul(e.add(e.mul(k, d.c), c), d.r), r), d.s), s);
          body(xi, wi);
        });
      });
    });
  });
}

// --- Pooling ---

struct PoolDims {
  V n, c, h, w, ho, wo;
  int64_t size, stride;
};

PoolDims pool_dims(const TensorRef& x, const TensorRef& y, const Attrs& a) {
  return {x.dims[0],
          x.dims[1],
          x.dims[2],
          x.dims[3],
          y.dims[2],
          y.dims[3],
          a.get_int("size", 2),
          a.get_int("stride", 2)};
}

// body(yi, element) for every window (row-major); element(i, j) is the flat
// offset in x of the window's element (i, j).
void for_each_window(Emitter& e, const PoolDims& d,
                     const std::function<void(V yi, const std::function<V(V, V)>& element)>& body) {
  e.loop(d.n, [&](V n) {
    e.loop(d.c, [&](V c) {
      V plane = e.add(e.mul(n, d.c), c);
      e.loop(d.ho, [&](V oh) {
        e.loop(d.wo, [&](V ow) {
          V yi = e.add(e.mul(e.add(e.mul(plane, d.ho), oh), d.wo), ow);
          auto element = [&](V i, V j) {
            V ih = e.add(e.mul(oh, e.i64(d.stride)), i);
            V iw = e.add(e.mul(ow, e.i64(d.stride)), j);
            return e.add(e.mul(e.add(e.mul(plane, d.h), ih), d.w), iw);
          };
          body(yi, element);
        });
      });
    });
  });
}

// body(xi) for each element of a window, row-major (small windows unrolled,
// see Emitter::loop).
void for_each_element(Emitter& e, const PoolDims& d, const std::function<V(V, V)>& element,
                      const std::function<void(V xi)>& body) {
  e.loop(e.i64(d.size), [&](V i) { e.loop(e.i64(d.size), [&](V j) { body(element(i, j)); }); });
}

// A select that codegen must not turn into a branch: the condition depends
// on the data, and a branch on it mispredicts.
V unpredictable_select(Emitter& e, V c, V a, V b) {
  V s = e.select(c, a, b);
  if (auto* i = llvm::dyn_cast<llvm::Instruction>(s))
    i->setMetadata(llvm::LLVMContext::MD_unpredictable, llvm::MDNode::get(e.ctx(), {}));
  return s;
}

// Flat offset in x of the window's first maximum.
V window_argmax(Emitter& e, const TensorRef& x, const PoolDims& d,
                const std::function<V(V, V)>& element) {
  V first = element(e.i64(0), e.i64(0));
  V best = e.local(e.float_ty(), e.load(x, first), "max");
  V where = e.local(e.b().getInt64Ty(), first, "argmax");
  for_each_element(e, d, element, [&](V xi) {
    V v = e.load(x, xi);
    V better = e.gt(v, e.get(best, e.float_ty()));
    e.set(best, unpredictable_select(e, better, v, e.get(best, e.float_ty())));
    e.set(where, unpredictable_select(e, better, xi, e.get(where, e.b().getInt64Ty())));
  });
  return e.get(where, e.b().getInt64Ty());
}

// The window's first maximum as a value: the first element, replaced by each
// later one that is greater (so a NaN first element stays and later NaNs are
// skipped), which is x at window_argmax. No index is tracked, so the loop over
// windows is a chain of max operations with no branch or gather.
V window_max(Emitter& e, const TensorRef& x, const PoolDims& d,
             const std::function<V(V, V)>& element) {
  V best = e.local(e.float_ty(), e.load(x, element(e.i64(0), e.i64(0))), "max");
  for_each_element(e, d, element, [&](V xi) {
    V v = e.load(x, xi), old = e.get(best, e.float_ty());
    e.set(best, e.select(e.gt(v, old), v, old));
  });
  return e.get(best, e.float_ty());
}

// t[i] += v
void add_to(Emitter& e, const TensorRef& t, V i, V v) { e.store(t, i, e.fadd(e.load(t, i), v)); }

// y[n,k,oh,ow] = sum over taps of x[...] * w[...]
void conv2d_loops(NodeCx& cx) {
  Emitter& e = cx.e;
  const TensorRef& x = cx.args[0];
  const TensorRef& w = cx.args[1];
  ConvDims d = conv_dims(x, w, cx.out, cx.attrs());
  for_each_output(e, d, [&](V gi, V n, V k, V oh, V ow) {
    V acc = e.local(e.float_ty(), e.fconst(0), "acc");
    for_each_tap(e, d, n, k, oh, ow, [&](V xi, V wi) {
      e.set(acc, e.fadd(e.get(acc, e.float_ty()), e.fmul(e.load(x, xi), e.load(w, wi))));
    });
    e.store(cx.out, gi, e.get(acc, e.float_ty()));
  });
}

// dx[xi] += g[gi] * w[wi] over every term.
void conv2d_bwd_data_loops(NodeCx& cx) {
  Emitter& e = cx.e;
  const TensorRef& g = cx.args[0];
  const TensorRef& w = cx.args[1];
  ConvDims d = conv_dims(cx.out, w, g, cx.attrs());
  e.fill(cx.out, e.fconst(0));
  for_each_output(e, d, [&](V gi, V n, V k, V oh, V ow) {
    V gv = e.load(g, gi);
    for_each_tap(e, d, n, k, oh, ow,
                 [&](V xi, V wi) { add_to(e, cx.out, xi, e.fmul(gv, e.load(w, wi))); });
  });
}

// dw[wi] += x[xi] * g[gi] over every term.
void conv2d_bwd_filter_loops(NodeCx& cx) {
  Emitter& e = cx.e;
  const TensorRef& x = cx.args[0];
  const TensorRef& g = cx.args[1];
  ConvDims d = conv_dims(x, cx.out, g, cx.attrs());
  e.fill(cx.out, e.fconst(0));
  for_each_output(e, d, [&](V gi, V n, V k, V oh, V ow) {
    V gv = e.load(g, gi);
    for_each_tap(e, d, n, k, oh, ow,
                 [&](V xi, V wi) { add_to(e, cx.out, wi, e.fmul(e.load(x, xi), gv)); });
  });
}

// Below this many multiply-adds (N*K*Ho*Wo * C*R*S) the direct loops cost
// less than the im2col copies, call and packing of the GEMM (the bound
// matmul uses, lower_linalg.cpp).
constexpr int64_t kInlineWork = 512;

using GemmLowering = void (*)(NodeCx& cx, const ConvGeometry& g);

// The op's [N,K,Ho,Wo] tensor: conv2d's result, the adjoints' dy.
const TensorRef& conv_output(const NodeCx& cx) {
  switch (cx.node.op) {
    case OpKind::conv2d:
      return cx.out;
    case OpKind::conv2d_bwd_data:
      return cx.args[0];
    default:
      return cx.args[1];
  }
}

// The GEMM path, or the loops where they are cheaper or the GEMM cannot
// read an operand (a uniform one has no storage); decided while compiling
// where the sizes' constant factors settle it, else at run time.
void lower_conv(NodeCx& cx, LowerFn loops, GemmLowering gemm) {
  for (const TensorRef& a : cx.args)
    if (a.uniform) return loops(cx);
  ConvGeometry g =
      conv_geometry(cx.node.op, {cx.args[0].shape, cx.args[1].shape}, *cx.out.shape, cx.attrs());
  int64_t per_image_channel = g.pixels() * g.taps();
  if (g.least_n * g.least_k * per_image_channel > kInlineWork) return gemm(cx, g);
  Emitter& e = cx.e;
  auto& ir = e.b();
  const TensorRef& y = conv_output(cx);
  V work = e.mul(e.mul(y.dims[0], y.dims[1]), e.i64(per_image_channel));
  llvm::Function* f = ir.GetInsertBlock()->getParent();
  llvm::BasicBlock* small = llvm::BasicBlock::Create(e.ctx(), "conv_loops", f);
  llvm::BasicBlock* large = llvm::BasicBlock::Create(e.ctx(), "conv_gemm", f);
  llvm::BasicBlock* done = llvm::BasicBlock::Create(e.ctx(), "conv_done", f);
  ir.CreateCondBr(ir.CreateICmpSLE(work, e.i64(kInlineWork)), small, large);
  ir.SetInsertPoint(small);
  loops(cx);
  ir.CreateBr(done);
  ir.SetInsertPoint(large);
  gemm(cx, g);
  ir.CreateBr(done);
  ir.SetInsertPoint(done);
}

}  // namespace

void lower_conv2d(NodeCx& cx) { lower_conv(cx, conv2d_loops, lower_conv2d_gemm); }
void lower_conv2d_bwd_data(NodeCx& cx) {
  lower_conv(cx, conv2d_bwd_data_loops, lower_conv2d_bwd_data_gemm);
}
void lower_conv2d_bwd_filter(NodeCx& cx) {
  lower_conv(cx, conv2d_bwd_filter_loops, lower_conv2d_bwd_filter_gemm);
}

ConvGeometry conv_geometry(OpKind op, const std::vector<const Shape*>& args, const Shape& out,
                           const Attrs& attrs) {
  // Which of the operands and result are x [N,C,H,W], w [K,C,R,S], y [N,K,Ho,Wo].
  const Shape* x = op == OpKind::conv2d_bwd_data ? &out : args[0];
  const Shape* w = op == OpKind::conv2d_bwd_filter ? &out : args[1];
  const Shape* y = op == OpKind::conv2d ? &out : op == OpKind::conv2d_bwd_data ? args[0] : args[1];
  auto num = [](const Shape& s, size_t i) { return s[i].value(); };
  return {.c = num(*x, 1),
          .h = num(*x, 2),
          .w = num(*x, 3),
          .r = num(*w, 2),
          .s = num(*w, 3),
          .ho = num(*y, 2),
          .wo = num(*y, 3),
          .stride = attrs.get_int("stride", 1),
          .pad = attrs.get_int("pad", 0),
          .least_n = (*y)[0].coeff(),
          .least_k = (*y)[1].coeff()};
}

void lower_maxpool2d(NodeCx& cx) {
  Emitter& e = cx.e;
  const TensorRef& x = cx.args[0];
  PoolDims d = pool_dims(x, cx.out, cx.attrs());
  for_each_window(e, d, [&](V yi, const std::function<V(V, V)>& element) {
    e.store(cx.out, yi, window_max(e, x, d, element));
  });
}

// dx = 0, then dx[argmax of window] += g[window] for each window in order.
void lower_maxpool2d_bwd(NodeCx& cx) {
  Emitter& e = cx.e;
  const TensorRef& x = cx.args[0];
  const TensorRef& g = cx.args[1];
  PoolDims d = pool_dims(x, g, cx.attrs());
  e.fill(cx.out, e.fconst(0));
  for_each_window(e, d, [&](V yi, const std::function<V(V, V)>& element) {
    add_to(e, cx.out, window_argmax(e, x, d, element), e.load(g, yi));
  });
}

// y[window] = g[argmax of window]
void lower_maxpool2d_select(NodeCx& cx) {
  Emitter& e = cx.e;
  const TensorRef& x = cx.args[0];
  const TensorRef& g = cx.args[1];
  PoolDims d = pool_dims(x, cx.out, cx.attrs());
  for_each_window(e, d, [&](V yi, const std::function<V(V, V)>& element) {
    e.store(cx.out, yi, e.load(g, window_argmax(e, x, d, element)));
  });
}

// y[window] = sum of x * (1 / size^2) over the window, from 0.
void lower_avgpool2d(NodeCx& cx) {
  Emitter& e = cx.e;
  const TensorRef& x = cx.args[0];
  PoolDims d = pool_dims(x, cx.out, cx.attrs());
  V scale = e.fconst(1.0 / static_cast<double>(d.size * d.size));
  for_each_window(e, d, [&](V yi, const std::function<V(V, V)>& element) {
    V acc = e.local(e.float_ty(), e.fconst(0), "acc");
    for_each_element(e, d, element, [&](V xi) {
      e.set(acc, e.fadd(e.get(acc, e.float_ty()), e.fmul(e.load(x, xi), scale)));
    });
    e.store(cx.out, yi, e.get(acc, e.float_ty()));
  });
}

// dx = 0, then dx[xi] += g[window] * (1 / size^2) for every window element.
void lower_avgpool2d_bwd(NodeCx& cx) {
  Emitter& e = cx.e;
  const TensorRef& g = cx.args[0];
  PoolDims d = pool_dims(cx.out, g, cx.attrs());
  V scale = e.fconst(1.0 / static_cast<double>(d.size * d.size));
  e.fill(cx.out, e.fconst(0));
  for_each_window(e, d, [&](V yi, const std::function<V(V, V)>& element) {
    V share = e.fmul(e.load(g, yi), scale);
    for_each_element(e, d, element, [&](V xi) { add_to(e, cx.out, xi, share); });
  });
}

// The GEMM path's scratch (the loops need none).
llvm::Value* conv_scratch_bytes(Emitter& e, const Graph& g, const Node& n) {
  const Shape& a0 = g.node(n.args[0]).type.shape;
  const Shape& a1 = g.node(n.args[1]).type.shape;
  ConvGeometry geo = conv_geometry(n.op, {&a0, &a1}, n.type.shape, n.attrs);
  const Shape& y = n.op == OpKind::conv2d            ? n.type.shape
                   : n.op == OpKind::conv2d_bwd_data ? a0
                                                     : a1;
  return conv_gemm_scratch_bytes(e, n.op, geo, e.dim(y[0]), e.dim(y[1]));
}

}  // namespace adjoint::codegen
