#include "api/raw_call.hpp"

#include <algorithm>

#include "api/call_check.hpp"
#include "api/model_data.hpp"

namespace adjoint::api {

RawGradCall::RawGradCall(const Model& m, const Inputs& inputs, const Params& params, Grads& grads) {
  const ModelData& d = ModelAccess::data(m);
  if (!d.native->has_grad())
    throw Error("model '" + d.ir.model + "' has no loss (no 'minimize'), so no gradient to time");
  BoundCall call = bind_call(d, inputs, params);
  grads_ = bind_grads(d, call.env, grads);
  inputs_ = std::move(call.inputs);
  params_ = std::move(call.params);
  dims_ = std::move(call.dims);
  fn_ = d.native->grad_fn();
  adj_dims dims{dims_.data(), static_cast<int32_t>(dims_.size())};
  workspace_bytes_ = d.native->workspace_size_fn()(&dims);
  workspace_ = allocate_workspace(d, workspace_bytes_);
}

}  // namespace adjoint::api
