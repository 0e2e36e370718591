// Lowering of single IR nodes to loops: what each op needs from the graph
// lowering (lower_graph.cpp) and the per-family lowerings (lower_*.cpp).
//
// lowering_of() is the one switch over every OpKind (lower_ops.cpp); a new op
// in ops.def fails the build there until its lowering is written.
//
// Internal to compiler/codegen (it includes LLVM headers).
#pragma once

#include <vector>

#include "codegen/emitter.hpp"
#include "codegen/gemm.hpp"

namespace adjoint::codegen {

// Where an op's result lives.
enum class Storage {
  Leaf,     // an input or param, read in place from the caller's buffer
  Uniform,  // all elements equal: a scalar in a register, no storage
  Alias,    // the operand's storage under another shape (reshape)
  Buffer,   // its own region of the workspace
};

// One node being lowered: operands and the result, whose `dims` are set and,
// for Storage::Buffer, its `data` too. Uniform and Alias lowerings set
// `out.uniform` / `out.data` themselves.
struct NodeCx {
  Emitter& e;
  const Node& node;
  std::vector<TensorRef> args;
  TensorRef out;
  // Per-call scratch shared by every node (nodes run one after another),
  // 64-byte aligned, at least scratch_bytes(node) long.
  llvm::Value* scratch = nullptr;
  // For an op that takes an epilogue (OpLowering::epilogue): the pointwise
  // pass to apply to blocks of `out` as they are finished, if any.
  GemmEpilogue epilogue;
  // For an op that computes a later node alongside (OpLowering::alongside):
  // that node's result, to be written too; no data if it is not needed.
  TensorRef also;
  const Attrs& attrs() const { return node.attrs; }
};

using LowerFn = void (*)(NodeCx& cx);
// Bytes of NodeCx::scratch a node's lowering needs, an i64 at run time.
using ScratchFn = llvm::Value* (*)(Emitter& e, const Graph& g, const Node& n);
// Whether node `self`'s lowering can also compute node `other` (fusion.hpp).
using AlongsideFn = bool (*)(const Graph& g, const Node& self, const Node& other);
// The scalar formula of an elementwise op, in the model's float type.
using UnaryFn = llvm::Value* (*)(Emitter& e, const Attrs& attrs, llvm::Value* x);
using BinaryFn = llvm::Value* (*)(Emitter& e, const Attrs& attrs, llvm::Value* a, llvm::Value* b);

struct OpLowering {
  Storage storage = Storage::Buffer;
  LowerFn lower = nullptr;    // a whole-tensor lowering, or
  UnaryFn unary = nullptr;    // an elementwise op by its scalar formula, or
  BinaryFn binary = nullptr;  // a broadcasting binary op by its scalar formula
  bool epilogue = false;      // `lower` applies NodeCx::epilogue (see fusion.hpp)
  // `lower` reads each element of its operand once, by Emitter::load at its
  // flat index, so a pointwise tree can be computed inside it (fusion.hpp).
  bool reads_once = false;
  AlongsideFn alongside = nullptr;
  ScratchFn scratch = nullptr;  // none: the lowering needs no scratch
};

// The lowering of `kind`; std::logic_error for composite ops, which never
// reach a graph (the builder expands them).
OpLowering lowering_of(OpKind kind);

// Emits the loops computing cx.out from cx.args (not for pointwise ops,
// which lower_pointwise lowers with the nodes fused into them).
void lower_node(NodeCx& cx);

// Lowers the node with `lower` into a task that computes a slice of the
// batch (dim 0 of the result and of every operand), run over the batch by
// the thread pool when the result is large (lower_batch_split.cpp). For ops
// that compute each batch element from the same batch element of their
// operands alone, so every slicing gives the same bits; a node whose
// operands do not all share the result's batch size is lowered as one.
void lower_batch_split(NodeCx& cx, LowerFn lower);
template <LowerFn kLower>
void batch_split(NodeCx& cx) {
  lower_batch_split(cx, kLower);
}

// Bytes of scratch (NodeCx::scratch) node `n` of `g` needs, an i64 at run
// time: the packing buffers of a matrix product; 0 for most ops.
llvm::Value* scratch_bytes(Emitter& e, const Graph& g, const Node& n);

// --- Elementwise (lower_elementwise.cpp) ---

// A pointwise node and the pointwise nodes fused into its loop (fusion.hpp).
// `owner` is the node whose loop computes them: the root itself, or the
// reduction the root is fused into.
struct PointwiseTree {
  const Graph& g;
  ValueId root;
  const std::vector<ValueId>& loop_of;  // fuse_pointwise(g)
  const std::vector<TensorRef>& refs;   // per node; set for the tree's leaves
  ValueId owner = kNoValue;             // kNoValue: the root
  ValueId loop_owner() const { return owner == kNoValue ? root : owner; }
};
// One loop (or nest) computing the tree into `out`: each element from the
// leaves' elements at that index, by the ops' scalar formulas.
void lower_pointwise(Emitter& e, const PointwiseTree& t, const TensorRef& out);
// The same in slices of the batch on the thread pool, as lower_batch_split
// (lower_batch_split.cpp): the result and the leaves whose dim 0 is the
// result's are sliced, leaves that broadcast along dim 0 are read whole.
// Each element is computed from its own, so the bits are the same.
void lower_pointwise_split(Emitter& e, const PointwiseTree& t, const TensorRef& out);
// The tree's leaves (fused_leaves order) as its loops read them: a leaf of
// one element loaded once, as a uniform value.
std::vector<TensorRef> pointwise_leaves(Emitter& e, const PointwiseTree& t);
// The tree's value at one element, from its leaves' elements `at`.
llvm::Value* pointwise_value(Emitter& e, const PointwiseTree& t,
                             const std::vector<llvm::Value*>& at);
// The tree as the epilogue of `product`, the one leaf that is a product of
// out's shape [m,n] (and shares out's storage): emits the block function
// (see GemmEpilogue) and, in e's function, its context of the leaves'
// pointers and sizes, valid until e's function returns.
GemmEpilogue emit_epilogue(Emitter& e, const PointwiseTree& t, ValueId product,
                           const TensorRef& out);
// The tree as a computed operand of the reduction that owns it (see
// TensorRef::compute): its one-element leaves are loaded here, once.
TensorRef computed_operand(Emitter& e, const PointwiseTree& t);
// Applies an epilogue to all of an [m,n] result at once.
void apply_epilogue(Emitter& e, const GemmEpilogue& epi, llvm::Value* m, llvm::Value* n);
void lower_constant(NodeCx& cx);
void lower_numel(NodeCx& cx);
llvm::Value* scalar_neg(Emitter& e, const Attrs& a, llvm::Value* x);
llvm::Value* scalar_exp(Emitter& e, const Attrs& a, llvm::Value* x);
llvm::Value* scalar_log(Emitter& e, const Attrs& a, llvm::Value* x);
llvm::Value* scalar_sqrt(Emitter& e, const Attrs& a, llvm::Value* x);
llvm::Value* scalar_abs(Emitter& e, const Attrs& a, llvm::Value* x);
llvm::Value* scalar_tanh(Emitter& e, const Attrs& a, llvm::Value* x);
llvm::Value* scalar_sigmoid(Emitter& e, const Attrs& a, llvm::Value* x);
llvm::Value* scalar_relu(Emitter& e, const Attrs& a, llvm::Value* x);
llvm::Value* scalar_softplus(Emitter& e, const Attrs& a, llvm::Value* x);
llvm::Value* scalar_gelu(Emitter& e, const Attrs& a, llvm::Value* x);
llvm::Value* scalar_sin(Emitter& e, const Attrs& a, llvm::Value* x);
llvm::Value* scalar_cos(Emitter& e, const Attrs& a, llvm::Value* x);
llvm::Value* scalar_erf(Emitter& e, const Attrs& a, llvm::Value* x);
llvm::Value* scalar_leaky_relu(Emitter& e, const Attrs& a, llvm::Value* x);
llvm::Value* scalar_pow(Emitter& e, const Attrs& a, llvm::Value* x);
llvm::Value* scalar_step(Emitter& e, const Attrs& a, llvm::Value* x);
llvm::Value* scalar_sign(Emitter& e, const Attrs& a, llvm::Value* x);
llvm::Value* scalar_add(Emitter& e, const Attrs& a, llvm::Value* x, llvm::Value* y);
llvm::Value* scalar_sub(Emitter& e, const Attrs& a, llvm::Value* x, llvm::Value* y);
llvm::Value* scalar_mul(Emitter& e, const Attrs& a, llvm::Value* x, llvm::Value* y);
llvm::Value* scalar_div(Emitter& e, const Attrs& a, llvm::Value* x, llvm::Value* y);
llvm::Value* scalar_maximum(Emitter& e, const Attrs& a, llvm::Value* x, llvm::Value* y);
llvm::Value* scalar_minimum(Emitter& e, const Attrs& a, llvm::Value* x, llvm::Value* y);
llvm::Value* scalar_greater_equal(Emitter& e, const Attrs& a, llvm::Value* x, llvm::Value* y);
llvm::Value* scalar_bce_with_logits(Emitter& e, const Attrs& a, llvm::Value* z, llvm::Value* t);

// --- Linear algebra (lower_linalg.cpp) ---
void lower_matmul(NodeCx& cx);
llvm::Value* matmul_scratch_bytes(Emitter& e, const Graph& g, const Node& n);
void lower_transpose(NodeCx& cx);

// --- Reductions and normalisations (lower_reduce.cpp) ---
// Whether v replaces `best` in a running max: larger, or the first NaN (a
// NaN then stays, as in PyTorch's max). Every max of the lowerings uses it.
llvm::Value* beats_max(Emitter& e, llvm::Value* v, llvm::Value* best);
void lower_sum(NodeCx& cx);
void lower_max(NodeCx& cx);
void lower_argmax_mask(NodeCx& cx);
void lower_logsumexp(NodeCx& cx);
void lower_broadcast_to(NodeCx& cx);
void lower_sum_to(NodeCx& cx);
// f32: one double per result element, the sums' accumulators.
llvm::Value* sum_to_scratch_bytes(Emitter& e, const Graph& g, const Node& n);
void lower_softmax(NodeCx& cx);
void lower_log_softmax(NodeCx& cx);

// --- Losses and indexing (lower_index.cpp) ---
void lower_softmax_cross_entropy(NodeCx& cx);
// The softmax of the same logits along the classes: computed in the loss's
// row loop (NodeCx::also).
bool sce_computes_softmax(const Graph& g, const Node& sce, const Node& other);
void lower_one_hot(NodeCx& cx);
void lower_gather(NodeCx& cx);
void lower_scatter_add(NodeCx& cx);

// --- Shape (lower_shape.cpp) ---
void lower_reshape(NodeCx& cx);
void lower_concat(NodeCx& cx);
void lower_slice(NodeCx& cx);
void lower_pad(NodeCx& cx);

// --- Convolution and pooling (lower_conv.cpp) ---
void lower_conv2d(NodeCx& cx);
void lower_conv2d_bwd_data(NodeCx& cx);
void lower_conv2d_bwd_filter(NodeCx& cx);
// Scratch (NodeCx::scratch) for the three conv ops.
llvm::Value* conv_scratch_bytes(Emitter& e, const Graph& g, const Node& n);
void lower_maxpool2d(NodeCx& cx);
void lower_maxpool2d_bwd(NodeCx& cx);
void lower_maxpool2d_select(NodeCx& cx);
void lower_avgpool2d(NodeCx& cx);
void lower_avgpool2d_bwd(NodeCx& cx);

}  // namespace adjoint::codegen
