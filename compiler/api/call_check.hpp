// Validating a call before it runs: native code trusts its arguments, so
// every user error is caught here and reported as an adjoint::Error that
// names the tensor, what was given and what the model declares. Nothing is
// written to any output before all checks have passed.
#pragma once

#include <adjoint/abi.h>

#include <adjoint/adjoint.hpp>
#include <vector>

#include "api/model_data.hpp"

namespace adjoint::api {

// The sizes bound by a call and the ABI view of its tensors.
struct BoundCall {
  DimEnv env;
  std::vector<int64_t> dims;               // in graph().size_symbols() order
  std::vector<adj_tensor> inputs, params;  // in declaration order
};

// Checks names, element types, ranks and sizes of the inputs and params, binds
// every symbolic size (one value per size across all tensors) and checks
// class labels and gather indices against their ranges.
BoundCall bind_call(const ModelData& d, const Inputs& inputs, const Params& params);

// The inputs' part of bind_call: the sizes they bind (for make_grads).
DimEnv bind_inputs(const ModelData& d, const Inputs& inputs);

// Checks that `grads` holds exactly the wrt tensors, each of the model's float
// type and its tensor's shape under `env`; returns their ABI views in wrt order.
std::vector<adj_tensor> bind_grads(const ModelData& d, const DimEnv& env, Grads& grads);

}  // namespace adjoint::api
