// Lowering of a whole graph to an LLVM module with the C ABI of
// runtime/include/adjoint/abi.h. For model `m`:
//
//   int64_t m_workspace_size(const adj_dims*)
//   double  m_grad(inputs, params, grads, dims, workspace)     (graphs with a loss)
//   void    m_forward(inputs, params, outputs, dims, workspace)
//
// m_grad computes what the loss and the gradients need and writes
// grads[i].data in Graph::grads order; m_forward computes only what the
// outputs and the loss need and writes outputs[i].data in Graph::outputs
// order, then the loss. Sizes come from `dims` (Graph::size_symbols order),
// so one compiled model serves every batch size.
//
// Storage: inputs and params are read in place; constants and numel are
// scalars in registers; reshape aliases its operand; every other node gets a
// 64-byte-aligned region of the workspace, as the memory plan lays them out
// (memory_plan.hpp: by liveness, evaluated at call time from the dims).
// Gradients and outputs with a region of their own are computed straight
// into the caller's buffers; the others are copied there at the end.
//
// Internal to compiler/codegen (it includes LLVM headers).
#pragma once

#include <llvm/IR/LLVMContext.h>
#include <llvm/IR/Module.h>

#include <memory>
#include <string>

#include "ir/graph.hpp"

namespace adjoint::codegen {

// The prefix of the generated symbols: the model's name, or "model".
std::string symbol_prefix(const Graph& g);

// Which entry points a module holds: all of them, or one of two halves that
// compile in parallel (the forward half repeats the forward computation, so
// it is about a quarter to a third of the code).
enum class Entries {
  all,       // every entry point
  training,  // m_workspace_size, m_grad, m_train_step
  inference  // m_forward
};

// Throws Error for a graph the native code cannot run (a size symbol that no
// input binds) and std::logic_error for one the IR verifier rejects.
std::unique_ptr<llvm::Module> lower_graph(const Graph& g, llvm::LLVMContext& ctx,
                                          Entries entries = Entries::all);

}  // namespace adjoint::codegen
