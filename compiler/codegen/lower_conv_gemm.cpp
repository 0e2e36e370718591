// Convolutions as matrix products (im2col). The taps (c, r, s) of every
// output pixel of an image become a column of col_n [C*R*S, Ho*Wo] (zero where
// the tap falls in the padding), so that
//   conv2d:             y_n [K, HoWo]  = w [K, CRS] @ col_n
//   conv2d_bwd_data:    dcol [CRS, HoWo] = w^T @ dy_n, added back into dx_n (col2im)
//   conv2d_bwd_filter:  dw [K, CRS]    = sum over n of dy_n @ col_n^T
// and the products run on the generated GEMM (codegen/gemm.hpp).
//
// Images go in blocks of a fixed size (block_images): the block's columns
// lie side by side, col [CRS, nb*HoWo], so that a product over small images
// is still wide enough for the GEMM's tiles and its thread pool; y and dy are
// copied between their [N,K,HoWo] layout and the block's [K, nb*HoWo]. The
// block size depends on the shapes alone, and the GEMM sums every element
// in one order for any thread count, so the results are the same bits for
// every number of threads.
#include <algorithm>
#include <functional>

#include "codegen/gemm.hpp"
#include "codegen/lower_conv.hpp"
#include "codegen/task_capture.hpp"
#include "ops/op_table.hpp"

namespace adjoint::codegen {

using V = llvm::Value*;

namespace {

// Columns a block of images aims for: enough for the GEMM's 32-wide tiles
// and its thread pool, while col [CRS, columns] stays near the L2 cache.
constexpr int64_t kBlockColumns = 1024;

int64_t block_images(const ConvGeometry& g) {
  return std::max<int64_t>(1, kBlockColumns / g.pixels());
}

// Lanes over which conv2d and conv2d_bwd_data spread their blocks of
// images, each with a scratch of its own (see blocks_on_lanes): as many
// blocks at once as threads, up to this many.
constexpr int64_t kLanes = 4;

// --- Size arithmetic ---

V min(Emitter& e, V a, V b) { return e.b().CreateSelect(e.b().CreateICmpSLT(a, b), a, b); }
V max(Emitter& e, V a, V b) { return e.b().CreateSelect(e.b().CreateICmpSGT(a, b), a, b); }
V ceil_div(Emitter& e, V a, int64_t b) {
  return e.b().CreateSDiv(e.add(a, e.i64(b - 1)), e.i64(b));
}
V align64(Emitter& e, V bytes) { return e.b().CreateAnd(e.add(bytes, e.i64(63)), e.i64(~63)); }

// Signed arithmetic on offsets that may be negative (a tap in the padding):
// e.add/e.sub/e.mul also promise no unsigned wrap, which these would break.
V sadd(Emitter& e, V a, V b) { return e.b().CreateNSWAdd(a, b); }
V ssub(Emitter& e, V a, V b) { return e.b().CreateNSWSub(a, b); }
V smul(Emitter& e, V a, V b) { return e.b().CreateNSWMul(a, b); }

// A run of float elements at `data` (a part of the scratch, or an image).
TensorRef buffer(Emitter& e, V data) {
  TensorRef t;
  t.dtype = e.float_type();
  t.data = data;
  return t;
}

V element_ptr(Emitter& e, V data, V index) {
  return e.b().CreateInBoundsGEP(e.float_ty(), data, index);
}

// The output columns [lo, hi) of a row of col that read inside the image.
struct Span {
  V lo, hi;
};

// dst[0, n) = src[0, n), or dst[0, n) += src[0, n) when `add`, for n known
// here: whole 32-byte vectors, then single elements, with no loop. Rows of
// im2col are a few elements long (10 for a 10x10 output), too short for
// LLVM's vectoriser, which left them as scalar loops.
void fixed_run(Emitter& e, V dst, V src, int64_t n, bool add) {
  auto& b = e.b();
  const int64_t lanes = 32 / static_cast<int64_t>(Emitter::elem_bytes(e.float_type()));
  llvm::Type* vec = llvm::FixedVectorType::get(e.float_ty(), static_cast<unsigned>(lanes));
  llvm::Align align(Emitter::elem_bytes(e.float_type()));
  auto step = [&](llvm::Type* t, int64_t at) {
    V from = element_ptr(e, src, e.i64(at)), to = element_ptr(e, dst, e.i64(at));
    V v = b.CreateAlignedLoad(t, from, align);
    if (add) v = b.CreateFAdd(b.CreateAlignedLoad(t, to, align), v);
    b.CreateAlignedStore(v, to, align);
  };
  int64_t at = 0;
  for (; at + lanes <= n; at += lanes) step(vec, at);
  for (; at < n; ++at) step(e.float_ty(), at);
}

// Rows longer than this stay loops (LLVM vectorises those itself), so the
// straight-line copies stay small.
constexpr int64_t kFixedRunMax = 64;

// Runs `whole` when a row's span covers every output column and the stride
// is 1 (the row is one contiguous run of x), else `part`.
void by_span(Emitter& e, const ConvGeometry& g, const Span& span,
             const std::function<void()>& whole, const std::function<void()>& part) {
  if (g.stride != 1 || g.wo > kFixedRunMax) {
    part();
    return;
  }
  auto& b = e.b();
  V all = b.CreateAnd(b.CreateICmpEQ(span.lo, e.i64(0)), b.CreateICmpEQ(span.hi, e.i64(g.wo)));
  e.if_else(all, whole, part);
}

// --- Scratch ---

// The GEMM's sizes (m, n, k) for a block of `cols` columns.
struct GemmSizes {
  V m, n, k;
};

GemmSizes gemm_sizes(Emitter& e, OpKind op, const ConvGeometry& g, V k, V cols) {
  V taps = e.i64(g.taps());
  switch (op) {
    case OpKind::conv2d:
      return {k, cols, taps};  // w @ col
    case OpKind::conv2d_bwd_data:
      return {taps, cols, k};  // w^T @ dy
    default:
      return {k, taps, cols};  // dy @ col^T
  }
}

// Byte offsets of the scratch's parts, each 64-byte aligned: col (the im2col
// block), mat (y or dy in block layout, when blocks hold several images),
// sum (a block's share of dw) and the GEMM's packing buffers.
struct ScratchLayout {
  V col, mat, sum, gemm, total;
};

ScratchLayout scratch_layout(Emitter& e, OpKind op, const ConvGeometry& g, V n, V k) {
  int64_t nb = block_images(g);
  V cols = e.mul(min(e, n, e.i64(nb)), e.i64(g.pixels()));
  V elem = e.i64(Emitter::elem_bytes(e.float_type()));
  V col = align64(e, e.mul(e.mul(e.i64(g.taps()), cols), elem));
  V mat = nb > 1 ? align64(e, e.mul(e.mul(k, cols), elem)) : e.i64(0);
  V sum = op == OpKind::conv2d_bwd_filter ? align64(e, e.mul(e.mul(k, e.i64(g.taps())), elem))
                                          : e.i64(0);
  GemmSizes s = gemm_sizes(e, op, g, k, cols);
  V gemm = gemm_scratch_bytes(e, s.m, s.n, s.k);
  V at_mat = col, at_sum = e.add(at_mat, mat), at_gemm = e.add(at_sum, sum);
  return {e.i64(0), at_mat, at_sum, at_gemm, e.add(at_gemm, gemm)};
}

// The parts of the scratch as pointers.
struct Scratch {
  V col, mat, sum, gemm;
};

Scratch scratch_parts(Emitter& e, OpKind op, const ConvGeometry& g, V n, V k, V base) {
  ScratchLayout l = scratch_layout(e, op, g, n, k);
  auto at = [&](V offset) { return e.b().CreateInBoundsGEP(e.b().getInt8Ty(), base, offset); };
  return {at(l.col), at(l.mat), at(l.sum), at(l.gemm)};
}

// --- Blocks of images ---

// body(first, count) for each block of at most nb images, in order.
void for_each_block(Emitter& e, int64_t nb, V n, const std::function<void(V, V)>& body) {
  e.loop(ceil_div(e, n, nb), [&](V b) {
    V first = e.mul(b, e.i64(nb));
    body(first, min(e, e.i64(nb), e.sub(n, first)));
  });
}

// body(block_index, tensor_index) for every element (k, i, p) of images
// [first, first + count) of a [N, K, P] tensor: the block holds it at
// k * cols + i * P + p, the tensor at ((first + i) * K + k) * P + p.
void for_each_block_element(Emitter& e, V k, int64_t p, V first, V count, V cols,
                            const std::function<void(V, V)>& body) {
  e.loop(count, [&](V i) {
    e.loop(k, [&](V kk) {
      V in_tensor = e.mul(e.add(e.mul(e.add(first, i), k), kk), e.i64(p));
      V in_block = e.add(e.mul(kk, cols), e.mul(i, e.i64(p)));
      e.loop(e.i64(p), [&](V q) { body(e.add(in_block, q), e.add(in_tensor, q)); });
    });
  });
}

// The block [K, cols] of images [first, first + count) of t [N, K, HoWo]:
// a pointer into t for one-image blocks (the layouts agree), else a copy
// into `mat`.
V gather_block(Emitter& e, const ConvGeometry& g, const TensorRef& t, V k, V first, V count, V cols,
               V mat) {
  if (block_images(g) == 1)
    return element_ptr(e, t.data, e.mul(e.mul(first, k), e.i64(g.pixels())));
  TensorRef m = buffer(e, mat);
  for_each_block_element(e, k, g.pixels(), first, count, cols,
                         [&](V bi, V ti) { e.store(m, bi, e.load(t, ti)); });
  return mat;
}

// Where the GEMM writes y's block: straight into y for one-image blocks.
V block_target(Emitter& e, const ConvGeometry& g, const TensorRef& y, V k, V first, V mat) {
  if (block_images(g) == 1)
    return element_ptr(e, y.data, e.mul(e.mul(first, k), e.i64(g.pixels())));
  return mat;
}

// Copies the block written at `mat` into y (when it was not written there).
void scatter_block(Emitter& e, const ConvGeometry& g, const TensorRef& y, V k, V first, V count,
                   V cols, V mat) {
  if (block_images(g) == 1) return;
  TensorRef m = buffer(e, mat);
  for_each_block_element(e, k, g.pixels(), first, count, cols,
                         [&](V bi, V ti) { e.store(y, ti, e.load(m, bi)); });
}

// --- im2col and col2im ---

// The output columns [lo, hi) whose tap s reads an input column inside the
// image: 0 <= ow * stride + s - pad < W.

Span inside_columns(Emitter& e, const ConvGeometry& g, V s) {
  // The least ow in [0, Wo] with ow * stride >= x. SDiv truncates toward
  // zero, so for x <= 0 the quotient is <= 0 and the clamp makes it 0.
  auto least = [&](V x) {
    V q = e.b().CreateSDiv(sadd(e, x, e.i64(g.stride - 1)), e.i64(g.stride));
    return min(e, max(e, q, e.i64(0)), e.i64(g.wo));
  };
  V lo = least(ssub(e, e.i64(g.pad), s));
  V hi = least(ssub(e, e.i64(g.w + g.pad), s));
  return {lo, max(e, lo, hi)};
}

// body(col_row, x_row, span) for each tap row (c, r, s), image i of the
// block and output row oh: col_row is the offset of col's element
// (tap, i * HoWo + oh * Wo), x_row that of x's element (first + i, c, ih,
// s - pad), so output column ow reads x at x_row + ow * stride; span holds
// the columns inside the image (none when row ih is in the padding).
void for_each_col_row(Emitter& e, const ConvGeometry& g, V first, V count, V cols,
                      const std::function<void(V, V, const Span&)>& body) {
  auto& b = e.b();
  V c_ = e.i64(g.c), h = e.i64(g.h), w = e.i64(g.w), wo = e.i64(g.wo);
  e.loop(c_, [&](V c) {
    e.loop(e.i64(g.r), [&](V r) {
      e.loop(e.i64(g.s), [&](V s) {
        V tap = e.add(e.mul(e.add(e.mul(c, e.i64(g.r)), r), e.i64(g.s)), s);
        Span cols_in = inside_columns(e, g, s);
        e.loop(count, [&](V i) {
          V plane = e.mul(e.add(e.mul(e.add(first, i), c_), c), e.mul(h, w));
          V col_image = e.add(e.mul(tap, cols), e.mul(i, e.i64(g.pixels())));
          e.loop(e.i64(g.ho), [&](V oh) {
            V ih = ssub(e, sadd(e, e.mul(oh, e.i64(g.stride)), r), e.i64(g.pad));
            V row_in = b.CreateICmpULT(ih, h);  // 0 <= ih < H
            Span span{b.CreateSelect(row_in, cols_in.lo, wo),
                      b.CreateSelect(row_in, cols_in.hi, wo)};
            V x_row = sadd(e, plane, ssub(e, sadd(e, smul(e, ih, w), s), e.i64(g.pad)));
            body(e.add(col_image, e.mul(oh, wo)), x_row, span);
          });
        });
      });
    });
  });
}

// col [CRS, cols] of images [first, first + count) of x: each row of
// output columns is zeros, then the taps inside the image, then zeros.
void im2col(Emitter& e, const ConvGeometry& g, const TensorRef& x, V first, V count, V cols,
            V col) {
  TensorRef out = buffer(e, col);
  V zero = e.fconst(0);
  for_each_col_row(e, g, first, count, cols, [&](V col_row, V x_row, const Span& in) {
    auto whole = [&] {
      fixed_run(e, element_ptr(e, col, col_row), element_ptr(e, x.data, x_row), g.wo, false);
    };
    auto part = [&] {
      e.loop(in.lo, [&](V ow) { e.store(out, e.add(col_row, ow), zero); });
      e.loop(e.sub(in.hi, in.lo), [&](V j) {
        V ow = e.add(in.lo, j);
        V xi = sadd(e, x_row, e.mul(ow, e.i64(g.stride)));
        e.store(out, e.add(col_row, ow), e.load(x, xi));
      });
      V tail = e.add(col_row, in.hi);
      e.loop(e.sub(e.i64(g.wo), in.hi), [&](V j) { e.store(out, e.add(tail, j), zero); });
    };
    by_span(e, g, in, whole, part);
  });
}

// dx[taps inside the image] += dcol, in the fixed order of for_each_col_row.
void col2im_add(Emitter& e, const ConvGeometry& g, const TensorRef& dx, V first, V count, V cols,
                V col) {
  TensorRef in = buffer(e, col);
  // Each element of a row is a different element of dx, so adding a whole
  // row at once keeps every element's order of additions.
  for_each_col_row(e, g, first, count, cols, [&](V col_row, V x_row, const Span& span) {
    auto whole = [&] {
      fixed_run(e, element_ptr(e, dx.data, x_row), element_ptr(e, col, col_row), g.wo, true);
    };
    auto part = [&] {
      e.loop(e.sub(span.hi, span.lo), [&](V j) {
        V ow = e.add(span.lo, j);
        V xi = sadd(e, x_row, e.mul(ow, e.i64(g.stride)));
        e.store(dx, xi, e.fadd(e.load(dx, xi), e.load(in, e.add(col_row, ow))));
      });
    };
    by_span(e, g, span, whole, part);
  });
}

// One block of images for a lane: `t` holds the node's result and operands
// as seen in the lane's task, `sc` the lane's scratch.
using BlockFn = std::function<void(Emitter& e, const std::vector<TensorRef>& t, V first, V count,
                                   const Scratch& sc)>;

// Runs `block` on each block of images of a conv2d or conv2d_bwd_data: the
// blocks are split into up to kLanes runs of consecutive blocks, one task
// each, with a scratch region each, run on the thread pool when there are
// two or more (each block's GEMM then runs on the task's thread). A block
// writes only its own images of the result, and the blocks are those of one
// loop, so the bits are the same for every thread count. With one lane the
// task runs here, its GEMMs on the pool.
void blocks_on_lanes(NodeCx& cx, const ConvGeometry& g, const BlockFn& block) {
  Emitter& e = cx.e;
  OpKind op = cx.node.op;
  int64_t nb = block_images(g);
  V n = cx.out.dims[0];
  V blocks = ceil_div(e, n, nb);
  // At least one lane: with no images (N = 0) it gets no blocks.
  V lanes = max(e, min(e, blocks, e.i64(kLanes)), e.i64(1));
  V per_lane = e.b().CreateSDiv(e.add(blocks, e.sub(lanes, e.i64(1))), lanes);
  TaskCapture capture;
  capture.add(cx.out);
  for (const TensorRef& a : cx.args) capture.add(a);
  capture.add(cx.scratch);
  capture.add(per_lane);
  llvm::Function* task = capture.task(e, std::string(op_name(op)) + ".lane");
  {
    Emitter te(e.module(), task, e.float_type());
    V tcx = task->getArg(0), lane = task->getArg(1);
    std::vector<TensorRef> t{capture.take(te, tcx, cx.out)};
    for (const TensorRef& a : cx.args) t.push_back(capture.take(te, tcx, a));
    V scratch = capture.take(te, tcx, cx.scratch);
    V per = capture.take(te, tcx, per_lane);
    V tn = t[0].dims[0];
    V k = op == OpKind::conv2d ? t[2].dims[0] : t[1].dims[1];
    V lane_bytes = align64(te, scratch_layout(te, op, g, tn, k).total);
    Scratch sc = scratch_parts(
        te, op, g, tn, k,
        te.b().CreateInBoundsGEP(te.b().getInt8Ty(), scratch, te.mul(lane, lane_bytes)));
    V first_block = te.mul(lane, per);
    V end = min(te, ceil_div(te, tn, nb), te.add(first_block, per));
    V count = te.b().CreateSelect(te.b().CreateICmpSGT(end, first_block), te.sub(end, first_block),
                                  te.i64(0));
    te.loop(count, [&](V i) {
      V first = te.mul(te.add(first_block, i), te.i64(nb));
      block(te, t, first, min(te, te.i64(nb), te.sub(tn, first)), sc);
    });
    te.b().CreateRetVoid();
  }
  e.run_tasks(task, capture.fill(e), lanes, e.b().CreateICmpSGE(lanes, e.i64(2)));
}

StridedMatrix rows(V data, V row_stride, Emitter& e) { return {data, row_stride, e.i64(1)}; }
StridedMatrix transposed(V data, V row_stride, Emitter& e) { return {data, e.i64(1), row_stride}; }

}  // namespace

// y_block [K, cols] = w [K, CRS] @ col [CRS, cols]
void lower_conv2d_gemm(NodeCx& cx, const ConvGeometry& g) {
  blocks_on_lanes(
      cx, g, [&](Emitter& e, const std::vector<TensorRef>& t, V first, V count, const Scratch& sc) {
        const TensorRef &y = t[0], &x = t[1], &w = t[2];
        V k = w.dims[0], taps = e.i64(g.taps());
        V cols = e.mul(count, e.i64(g.pixels()));
        im2col(e, g, x, first, count, cols, sc.col);
        V target = block_target(e, g, y, k, first, sc.mat);
        emit_gemm(e, k, cols, taps, rows(w.data, taps, e), rows(sc.col, cols, e), target, sc.gemm);
        scatter_block(e, g, y, k, first, count, cols, sc.mat);
      });
}

// dcol [CRS, cols] = w^T @ dy_block [K, cols]; the block's images of dx = 0,
// then col2im adds dcol.
void lower_conv2d_bwd_data_gemm(NodeCx& cx, const ConvGeometry& g) {
  blocks_on_lanes(
      cx, g, [&](Emitter& e, const std::vector<TensorRef>& t, V first, V count, const Scratch& sc) {
        const TensorRef &dx = t[0], &dy = t[1], &w = t[2];
        V k = dy.dims[1], taps = e.i64(g.taps());
        V cols = e.mul(count, e.i64(g.pixels()));
        int64_t image = g.c * g.h * g.w;
        TensorRef images = buffer(e, element_ptr(e, dx.data, e.mul(first, e.i64(image))));
        images.dims = {e.mul(count, e.i64(image))};
        e.fill(images, e.fconst(0));
        V dy_block = gather_block(e, g, dy, k, first, count, cols, sc.mat);
        emit_gemm(e, taps, cols, k, transposed(w.data, taps, e), rows(dy_block, cols, e), sc.col,
                  sc.gemm);
        col2im_add(e, g, dx, first, count, cols, sc.col);
      });
}

// dw = 0, then for each block in order dw += dy_block [K, cols] @ col^T.
void lower_conv2d_bwd_filter_gemm(NodeCx& cx, const ConvGeometry& g) {
  Emitter& e = cx.e;
  const TensorRef& x = cx.args[0];
  const TensorRef& dy = cx.args[1];
  V n = x.dims[0], k = dy.dims[1], taps = e.i64(g.taps());
  Scratch sc = scratch_parts(e, OpKind::conv2d_bwd_filter, g, n, k, cx.scratch);
  TensorRef sum = buffer(e, sc.sum);
  e.fill(cx.out, e.fconst(0));
  for_each_block(e, block_images(g), n, [&](V first, V count) {
    V cols = e.mul(count, e.i64(g.pixels()));
    im2col(e, g, x, first, count, cols, sc.col);
    V dy_block = gather_block(e, g, dy, k, first, count, cols, sc.mat);
    emit_gemm(e, k, taps, cols, rows(dy_block, cols, e), transposed(sc.col, cols, e), sc.sum,
              sc.gemm);
    e.loop(e.numel(cx.out),
           [&](V i) { e.store(cx.out, i, e.fadd(e.load(cx.out, i), e.load(sum, i))); });
  });
}

V conv_gemm_scratch_bytes(Emitter& e, OpKind op, const ConvGeometry& g, V n, V k) {
  V one = scratch_layout(e, op, g, n, k).total;
  if (op == OpKind::conv2d_bwd_filter) return one;
  return e.mul(align64(e, one), e.i64(kLanes));  // a region per lane (blocks_on_lanes)
}

}  // namespace adjoint::codegen
