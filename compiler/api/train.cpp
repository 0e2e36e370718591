// Model::train_step: the fused gradient-and-update call, after the same
// checks as grad() plus the optimiser's state and hyperparameters.
#include <adjoint/adjoint.hpp>
#include <cmath>
#include <mutex>

#include "api/call_check.hpp"
#include "api/model_data.hpp"

namespace adjoint {

using api::ModelData;

struct Model::Impl : ModelData {};

namespace {

std::string state_name(const char* which, const std::string& param) {
  return std::string("opt.") + which + "." + param;
}

void check_number(const char* what, double v, double lo, double hi) {
  if (!std::isfinite(v) || v < lo || v > hi)
    throw Error(std::string("optimizer ") + what + " must be a finite number in [" +
                std::to_string(lo) + ", " + std::to_string(hi) + "], not " + std::to_string(v));
}

void check_config(const OptimizerConfig& c) {
  check_number("learning rate", c.lr, 0.0, 1e6);
  check_number("momentum", c.momentum, 0.0, 1.0);
  check_number("beta1", c.beta1, 0.0, 1.0 - 1e-12);
  check_number("beta2", c.beta2, 0.0, 1.0 - 1e-12);
  check_number("eps", c.eps, 0.0, 1.0);
}

// The ABI views of the state in abi.h's order (two per param), after
// checking each buffer against its param.
std::vector<adj_tensor> bind_state(const Model& m, const Params& params, OptimizerState& state) {
  std::vector<adj_tensor> out;
  for (const TensorInfo& p : m.params()) {
    const Tensor& param = params[p.name];
    for (const char* which : {"m", "v"}) {
      std::string name = state_name(which, p.name);
      Tensor* t = state.buffers.find(name);
      if (!t) throw Error("optimizer state has no buffer '" + name + "'");
      if (t->dtype() != param.dtype() || t->shape() != param.shape())
        throw Error("optimizer state buffer '" + name + "' is " + t->describe() + ", but param '" +
                    p.name + "' is " + param.describe());
      out.push_back(t->abi());
    }
  }
  return out;
}

}  // namespace

OptimizerState Model::make_optimizer_state() const {
  OptimizerState s;
  for (const TensorInfo& p : params()) {
    if (!p.is_fixed())
      throw Error("param '" + p.name + "' is " + p.type +
                  ", a symbolic size: make the state with make_optimizer_state(params)");
    for (const char* which : {"m", "v"})
      s.buffers.set(state_name(which, p.name), Tensor::zeros(p.dtype, p.fixed_shape()));
  }
  return s;
}

OptimizerState Model::make_optimizer_state(const Params& params) const {
  OptimizerState s;
  for (const TensorInfo& p : this->params()) {
    const Tensor* t = params.find(p.name);
    if (!t)
      throw Error("missing param '" + p.name + "' (" + p.type + ") of model '" + name() + "'");
    for (const char* which : {"m", "v"})
      s.buffers.set(state_name(which, p.name),
                    api::allocate(p.dtype, t->shape(), "optimizer state of '" + p.name + "'"));
  }
  return s;
}

double Model::train_step(const Inputs& inputs, Params& params, OptimizerState& state,
                         const OptimizerConfig& config) const {
  const ModelData& d = *impl_;
  if (!d.native->has_grad())
    throw Error("model '" + d.ir.model + "' has no loss (no 'minimize'), so it cannot be trained");
  check_config(config);
  if (state.step < 0) throw Error("optimizer state has a negative step count");
  // Everything is checked before anything is written.
  api::BoundCall call = api::bind_call(d, inputs, params);
  if (state.buffers.empty()) state.buffers = make_optimizer_state(params).buffers;
  std::vector<adj_tensor> buffers = bind_state(*this, params, state);
  adj_optimizer opt{};
  opt.kind = config.kind == OptimizerConfig::Kind::sgd ? ADJ_SGD : ADJ_ADAM;
  opt.lr = config.lr;
  opt.momentum = config.momentum;
  opt.beta1 = config.beta1;
  opt.beta2 = config.beta2;
  opt.eps = config.eps;
  opt.step = state.step + 1;
  adj_dims dims{call.dims.data(), static_cast<int32_t>(call.dims.size())};
  std::lock_guard<std::mutex> lock(d.mu);
  int64_t need = d.native->workspace_size_fn()(&dims);
  if (static_cast<int64_t>(d.workspace.bytes()) < need)
    d.workspace = api::allocate_workspace(d, need);
  double loss = d.native->train_step_fn()(call.inputs.data(), call.params.data(), buffers.data(),
                                          &dims, d.workspace.raw(), &opt);
  state.step = opt.step;
  return loss;
}

}  // namespace adjoint
