// The memory plan: where each intermediate of a graph lives in the one
// workspace that generated code receives, laid out by liveness so that
// buffers whose lifetimes do not overlap share bytes.
//
// Lifetimes come from the node order, which is the order every generated
// function (m_grad, m_forward, m_train_step) executes its nodes in: a value
// is live from its definition to its last use by any node of the whole
// graph, and the graph's results (loss, grads, outputs) stay live to the end,
// because they are copied out after the last node. Each function runs a
// subset of the nodes in the same order, so a plan valid for the whole graph
// is valid for each of them and one m_workspace_size serves all.
//
// Pointwise nodes fused into a reader's loop (fusion.hpp) get no region;
// their reads happen in the loop of the node that computes them. The root of
// a tree that is a GEMM's epilogue takes over the product's region (it
// rewrites the product in place, block by block); its reads happen earlier
// than the plan counts them, inside the GEMM, which only shortens lifetimes.
// A node computed alongside an earlier one is live from that earlier node.
//
// An elementwise result may take over the region of an operand of its shape
// (or a leaf of its fused tree) that is read for the last time by it
// (relu(x) where x dies there): the lowering reads element i of the operand
// just before it writes element i of the result, so nothing is read after
// being overwritten. Such a chain of values shares one region.
//
// Sizes are symbolic. A tensor's byte size is a monomial (coefficient times a
// product of size symbols, `3136*B`), so buffers are grouped by that product
// of symbols: each group is an arena of "units" (1 unit = the product's value
// in bytes, B bytes for the `B` arena), and within an arena, buffers are
// packed as intervals of units, by best fit. Every size and offset in units is
// a multiple of 64, so every region starts 64-byte aligned whatever the
// symbols' values. The arenas follow each other; an arena's base is the sum
// of the arenas before it, a polynomial evaluated from the dims at run time.
//
// m_train_step has the gradients computed into the workspace, then updates
// the params from there. A gradient that is a Buffer is computed into its own
// region; one with no region of its own (a leaf, a reshape of a value, a
// uniform value) is copied, after the last node, into a snapshot region
// planned for it, live only after the last node, so that no param update can
// change a gradient before it is read. The scratch (NodeCx::scratch) is not
// part of the plan: code generation sizes it and puts it after the plan's
// total.
//
// No LLVM in this header: `adjc emit --stage=plan` and `adjc cost` print the
// plan.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include "codegen/fusion.hpp"
#include "ir/graph.hpp"

namespace adjoint {

// Where code generation keeps a node's value.
enum class Placement {
  Leaf,     // an input or param, read from the caller's buffer
  Uniform,  // all elements equal: a scalar in a register
  Alias,    // the storage of its first operand, under another shape (reshape)
  Buffer,   // a region of the workspace
};

// What the plan needs to know of the lowering of an op. Both are defined by
// code generation (lower_graph.cpp, from codegen::lowering_of), so the plan
// follows the lowering, with no LLVM in this header.
Placement placement_of(OpKind op);
// Whether the lowering of `op` reads element i of each operand of the
// result's shape just before writing element i of the result, and writes
// nothing else: then the result may overwrite such an operand in place.
bool writes_elementwise(OpKind op);

// A sum of monomials with distinct products of symbols (each term a Dim):
// arena bases and totals in bytes.
struct SizePoly {
  std::vector<Dim> terms;  // ascending degree, no zero terms
  void add(const Dim& d);
  int64_t eval(const DimEnv& env) const;
  std::string str() const;  // "3136*B + 4096", "0"
};

// A wrt param whose gradient m_train_step applies; `slot` is its position
// among them (the order of Graph::grads).
struct ParamGrad {
  ValueId param = kNoValue, grad = kNoValue;
  size_t slot = 0;
};
std::vector<ParamGrad> param_grads(const Graph& g);

struct Region {
  // The Buffer nodes whose elements live here, in node order: each after
  // the first overwrites the one before it in place. For a snapshot, the
  // gradient it copies.
  std::vector<ValueId> values;
  int snapshot = -1;  // for a train-step snapshot, its gradient's index in Graph::grads; else -1
  size_t arena = 0;
  int64_t offset = 0;  // in the arena's units; a multiple of 64
  int64_t units = 0;   // reserved, a multiple of 64
  int64_t bytes = 0;   // used: the byte size's coefficient (bytes = bytes x unit)
  ValueId first = 0;   // live range in node order, both ends included;
  ValueId last = 0;    // Graph::size() for "until the end"
};

struct Arena {
  std::vector<std::string> unit;  // the product of symbols (sorted, repeated for powers); {} = 1
  int64_t units = 0;              // its size; a multiple of 64
  Dim scaled(int64_t n) const;    // n x unit
  Dim bytes() const { return scaled(units); }
  std::string unit_str() const;  // "1", "B", "B*T"
};

struct MemoryPlan {
  // Per node: the node whose loop computes it (see fusion.hpp); a node fused
  // into another's loop has no storage.
  std::vector<ValueId> loop_of;
  // Per node: for a matrix product, the root of the tree its GEMM applies as
  // an epilogue (see fusion.hpp); else kNoValue.
  std::vector<ValueId> epilogue_of;
  // Per node: the earlier node whose lowering also computes it (see
  // fusion.hpp), whose position starts its region's live range; else kNoValue.
  std::vector<ValueId> alongside;
  std::vector<Arena> arenas;    // in layout order
  std::vector<Region> regions;  // by first value in node order, then the snapshots
  // Per node: the index in `regions` of the storage that holds its elements
  // (its own region, or for an alias the aliased buffer's); -1 for none.
  std::vector<int> storage;
  // Per node: the last node that reads its elements (directly or through an
  // alias), Graph::size() for a result, the node itself if none does.
  std::vector<ValueId> last_read;
  // Per entry of Graph::grads: the index in `regions` of its snapshot, or -1.
  std::vector<int> snapshots;

  SizePoly arena_base(size_t arena) const;
  SizePoly offset(const Region& r) const;  // bytes from the workspace start
  SizePoly total() const;                  // bytes of every arena
  // The bytes of one region per buffer and snapshot, one after another,
  // with no reuse: what the plan saves is unplanned() - total().
  SizePoly unplanned() const;
  // The region of a Buffer node (shared with the values it overwrites or
  // that overwrite it in place), or nullptr for other nodes.
  const Region* region_of(ValueId v) const;
};

// Plans every Placement::Buffer node of `g` and m_train_step's snapshots.
MemoryPlan plan_memory(const Graph& g);

// The plan as text (`adjc emit --stage=plan`): per arena, one line per
// buffer (and snapshot) by offset, then the total against the unplanned sum;
// with values for all the sizes in `env`, concrete bytes too.
std::string print_memory_plan(const Graph& g, const MemoryPlan& plan, const DimEnv& env);

}  // namespace adjoint
