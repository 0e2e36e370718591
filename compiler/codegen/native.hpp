// Native code for a graph, without LLVM in sight: compile a Graph into the
// C ABI functions of runtime/include/adjoint/abi.h (JIT, in process), call
// them directly, or run them on the reference evaluator's tensors to compare
// the two.
//
// Out-of-range labels and indices do not throw in native code (it cannot):
// softmax_cross_entropy gives a NaN loss for that row, one_hot and gather a
// NaN row, scatter_add skips the row (see codegen/lower_index.cpp). Callers
// that want an error (the C++ API) validate labels before the call.
#pragma once

#include <adjoint/abi.h>

#include <cstdint>
#include <memory>
#include <string>
#include <vector>

#include "eval/evaluator.hpp"
#include "ir/graph.hpp"

namespace adjoint {

class Jit;

class NativeModel {
 public:
  // Lowers `g` (an optimised graph, typically) and JIT-compiles it in a JIT
  // of its own. Throws Error for a graph native code cannot run and
  // std::logic_error for a malformed one.
  static NativeModel compile(const Graph& g);
  // The same in a shared JIT, which must outlive the model. Each model has
  // its own symbols there, so two models may have the same name.
  static NativeModel compile(const Graph& g, std::shared_ptr<Jit> jit);

  NativeModel(NativeModel&&) noexcept;
  NativeModel& operator=(NativeModel&&) noexcept;
  ~NativeModel();

  const Graph& graph() const;
  bool has_grad() const { return grad_fn() != nullptr; }

  // The compiled functions (m_grad is null for a graph without a loss).
  adj_workspace_size_fn workspace_size_fn() const;
  adj_grad_fn grad_fn() const;
  adj_forward_fn forward_fn() const;
  // m_train_step (null without a loss): see runtime/include/adjoint/abi.h.
  adj_train_step_fn train_step_fn() const;

  // Sizes in Graph::size_symbols() order for the given leaves (checked like
  // the reference evaluator checks them; Error on a mismatch).
  std::vector<int64_t> dims_for(const TensorMap& leaves) const;

  // Calls on the reference evaluator's tensors (doubles), converted to and
  // from the model's f32/f64/i32 buffers:
  //   grad:    "loss" and "grad.NAME" for each gradient (needs a loss);
  //   forward: each output by name, and "loss" if the graph has one.
  TensorMap grad(const TensorMap& leaves) const;
  TensorMap forward(const TensorMap& leaves) const;

 private:
  struct Impl;
  explicit NativeModel(std::unique_ptr<Impl> impl);
  std::unique_ptr<Impl> impl_;
};

// What evaluate_results gives, computed natively: "loss" and "grad.NAME"
// from m_grad (when there is a loss), each output from m_forward.
TensorMap run_native(const NativeModel& m, const TensorMap& leaves);

// The LLVM IR of `g`'s module as text (for `adjc emit --stage=llvm`), before
// or after the O3 pipeline for the host.
std::string emit_llvm_ir(const Graph& g, bool optimized = false);

// The host assembly of `g`'s module after the O3 pipeline (for `adjc emit
// --stage=asm`). The GEMM routines it calls are a module of their own.
std::string emit_native_asm(const Graph& g);

// Ahead-of-time compilation (`adjc compile`): a relocatable object for the
// host CPU with `g`'s entry points (the C ABI of adjoint/abi.h) and the GEMM
// routines they call, linked in and internal. It needs adj_parallel_for and
// adj_parallel_width (libadjoint_runtime) and libm (with libmvec) at link time.
std::string compile_object(const Graph& g);

// The prefix of `g`'s entry points: `<prefix>_grad`, `<prefix>_forward`, ...
std::string entry_prefix(const Graph& g);

// LLVM's verifier on `g`'s module: "" when it is well formed, else the problems.
std::string verify_llvm(const Graph& g);

}  // namespace adjoint
