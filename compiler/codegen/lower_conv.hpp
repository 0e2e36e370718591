// The convolution lowerings' shared view of a conv op: its sizes, and the
// im2col + GEMM path (lower_conv_gemm.cpp) that lower_conv.cpp dispatches to
// when a convolution is large enough to pay for the GEMM's call and packing.
//
// Internal to compiler/codegen (it includes LLVM headers).
#pragma once

#include "codegen/lower_ops.hpp"

namespace adjoint::codegen {

// One convolution: x [N,C,H,W], w [K,C,R,S], y [N,K,Ho,Wo], whichever of the
// three conv ops (conv2d, conv2d_bwd_data, conv2d_bwd_filter) it is. The type
// rules fix C, H, W, R, S, Ho and Wo as numbers; N and K may be symbolic.
struct ConvGeometry {
  int64_t c, h, w, r, s, ho, wo, stride, pad;
  int64_t least_n, least_k;                   // N and K are at least their constant factors
  int64_t taps() const { return c * r * s; }  // rows of the im2col matrix
  int64_t pixels() const { return ho * wo; }  // its columns per image
};

// The geometry of conv op `op` from its operand and result shapes.
ConvGeometry conv_geometry(OpKind op, const std::vector<const Shape*>& args, const Shape& out,
                           const Attrs& attrs);

// The im2col + GEMM lowerings; every operand has storage (none is uniform).
void lower_conv2d_gemm(NodeCx& cx, const ConvGeometry& g);
void lower_conv2d_bwd_data_gemm(NodeCx& cx, const ConvGeometry& g);
void lower_conv2d_bwd_filter_gemm(NodeCx& cx, const ConvGeometry& g);

// Bytes of NodeCx::scratch the GEMM path of conv op `op` needs for batch `n`
// and output channels `k` (run-time values).
llvm::Value* conv_gemm_scratch_bytes(Emitter& e, OpKind op, const ConvGeometry& g, llvm::Value* n,
                                     llvm::Value* k);

}  // namespace adjoint::codegen
