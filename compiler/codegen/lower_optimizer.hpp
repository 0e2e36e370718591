// The optimiser half of m_train_step (see runtime/include/adjoint/abi.h):
// in-place SGD-with-momentum and Adam updates of one param from its gradient,
// with hyperparameters read from the caller's adj_optimizer at run time.
//
// Internal to compiler/codegen (it includes LLVM headers).
#pragma once

#include "codegen/emitter.hpp"

namespace adjoint::codegen {

// The hyperparameters of one call, loaded once in the function's prologue and
// already in the model's float type (bias corrections computed in double).
struct OptimizerScalars {
  llvm::Value* kind = nullptr;  // i32: ADJ_SGD or ADJ_ADAM
  llvm::Value* lr = nullptr;
  llvm::Value* momentum = nullptr;
  llvm::Value* beta1 = nullptr;
  llvm::Value* beta2 = nullptr;
  llvm::Value* eps = nullptr;
  llvm::Value* step_size = nullptr;     // lr / (1 - beta1^step)
  llvm::Value* bc2_sqrt = nullptr;      // sqrt(1 - beta2^step)
};

// Loads *opt (a const adj_optimizer*).
OptimizerScalars load_optimizer(Emitter& e, llvm::Value* opt);

// param -= update(grad), with the two state buffers updated as the kind
// says. `grad` may be uniform; param and the state buffers have storage.
void lower_param_update(Emitter& e, const OptimizerScalars& o, const TensorRef& grad,
                        const TensorRef& param, const TensorRef& s1, const TensorRef& s2);

}  // namespace adjoint::codegen
