// The optimiser half of m_train_step (see runtime/include/adjoint/abi.h):
// in-place SGD-with-momentum and Adam updates of one param from its gradient,
// with hyperparameters read from the caller's adj_optimizer at run time.
//
// Internal to compiler/codegen (it includes LLVM headers).
#pragma once

#include <string>

#include "codegen/emitter.hpp"

namespace adjoint::codegen {

// Emits, into `m`, the internal function
//   void name(int64_t n, const T* grad, T* param, T* s1, T* s2, const adj_optimizer* opt)
// that updates the n elements of param in place from grad, with the two
// state buffers updated as opt->kind says. m_train_step calls it once per
// param, so the update loops are compiled once per model. A param of at
// least two chunks (8192 elements each) is updated chunk by chunk on the
// thread pool; the update is elementwise, so the bits are the same for
// every thread count.
llvm::Function* emit_param_update(llvm::Module& m, DType float_type, const std::string& name);

}  // namespace adjoint::codegen
