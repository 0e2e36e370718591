// Pointwise fusion: which elementwise nodes are computed inside another
// node's loop instead of into a buffer of their own.
//
// A pointwise node (an elementwise op given by its scalar formula, see
// lower_ops.hpp) whose only reader is another pointwise node of the same
// shape and type, and which is not a result of the graph, is fused into that
// reader: the reader's loop evaluates it element by element, from its own
// operands, and it gets no storage. Fusion is transitive, so a chain or tree
// of such nodes (relu(x @ W + b), dy * step(z)) becomes one loop, rooted at
// the one node of the tree that is stored. The operands of a tree that are
// not fused into it are its leaves; they may broadcast against the root.
// A leaf of one element is read once, before the loop. A tree with a leaf
// that really broadcasts runs as a loop nest, and is kept only when its
// rows are long (a last size of at least 64, or symbolic): the vectoriser's
// checks run once per row, and on short rows cost more than the buffers
// fusion saves.
//
// A tree read only by a reduction that reads each element once (sum,
// sum_to: OpLowering::reads_once) is computed inside the reduction's loop,
// element by element as the sum reads it, when it reads flat (every leaf of
// the root's shape, or one element): mean((y - t)^2) stores no square.
//
// A tree can also be the epilogue of a matrix product: when the product is
// read by nothing but the tree, has the root's shape and type, and every
// other leaf of the tree is computed before the product, the GEMM applies
// the tree to each block of its result as the block is finished, while it
// is in cache, and the root overwrites the product in place (bias and
// activation after x @ W; the activation's derivative mask after dy @ W^T).
//
// A node can also compute a later node's whole result in its own pass, as
// softmax_cross_entropy(z, y) does for the softmax(z) its gradient reads:
// the loss and its gradient's softmax share one row loop (the row's max and
// sum of exponentials are computed once). The later node keeps its storage,
// live from the earlier node on.
//
// Evaluation order and formulas do not change, so results are the same bits
// as without fusion. The memory plan (memory_plan.hpp) counts a read by a
// fused node as a read by its root, where it happens.
//
// No LLVM here: the plan and its printout use it.
#pragma once

#include <vector>

#include "ir/graph.hpp"

namespace adjoint {

// Whether the lowering of `op` is a pointwise formula (elementwise, one
// result element from the operands' elements at the same index). Defined by
// code generation, from its lowering table (lower_graph.cpp).
bool pointwise(OpKind op);

// Per node: the node whose loop computes it, that is itself unless it is
// fused into a reader (then that reader's own loop_of).
std::vector<ValueId> fuse_pointwise(const Graph& g);

// Whether the lowering of `op` reads each operand element once, at its flat
// index, so that a pointwise tree can be computed inside it. Defined by code
// generation (lower_graph.cpp).
bool reads_once(OpKind op);

// Whether node `earlier`'s lowering can also compute node `later` (see
// above). Defined by code generation, from its lowering table.
bool computes_alongside(const Graph& g, ValueId earlier, ValueId later);

// Per node: the earlier node whose lowering computes it too, or kNoValue.
std::vector<ValueId> alongside_of(const Graph& g, const std::vector<ValueId>& loop_of);

// Whether `op` can apply a pointwise tree to its result as an epilogue (a
// matrix product through the GEMM). Defined by code generation, from its
// lowering table (lower_graph.cpp).
bool takes_epilogue(OpKind op);

// Per node: for a product whose result a tree takes as its epilogue (see
// above), the tree's root; else kNoValue.
std::vector<ValueId> gemm_epilogues(const Graph& g, const std::vector<ValueId>& loop_of);

// The leaves of the tree rooted at `root` (see above), each once, in the
// order a depth-first walk of the operands meets them. The tree is the
// nodes computed in `owner`'s loop: the root's own, or for a tree fused into
// a reduction, the reduction's.
std::vector<ValueId> fused_leaves(const Graph& g, const std::vector<ValueId>& loop_of, ValueId root,
                                  ValueId owner = kNoValue);

}  // namespace adjoint
