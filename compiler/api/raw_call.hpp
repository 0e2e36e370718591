// A fused grad call bound once and then repeated with no checks at all: what
// the benchmark times, so that it measures the native step and not the API's
// validation (which is per call and costs more than a tiny model's step).
#pragma once

#include <adjoint/abi.h>

#include <adjoint/adjoint.hpp>
#include <vector>

namespace adjoint::api {

class RawGradCall {
 public:
  // Checks everything Model::grad checks (adjoint::Error on a problem, also
  // for a model without a loss) and allocates a workspace of its own. The
  // tensors are referred to, not copied: they must outlive this object and
  // keep their storage.
  RawGradCall(const Model& m, const Inputs& inputs, const Params& params, Grads& grads);

  // One fused step: the loss, with every gradient written into the grads.
  double operator()() {
    adj_dims dims{dims_.data(), static_cast<int32_t>(dims_.size())};
    return fn_(inputs_.data(), params_.data(), grads_.data(), &dims, workspace_.raw());
  }

  int64_t workspace_bytes() const { return workspace_bytes_; }

 private:
  adj_grad_fn fn_ = nullptr;
  std::vector<adj_tensor> inputs_, params_, grads_;
  std::vector<int64_t> dims_;  // values of the symbolic sizes, in the graph's order
  int64_t workspace_bytes_ = 0;
  Tensor workspace_;           // owning, so 64-byte aligned
};

}  // namespace adjoint::api
