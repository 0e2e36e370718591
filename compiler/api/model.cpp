// adjoint::Compiler and adjoint::Model: compiling .adj text into native code
// and calling it on the user's tensors, after checking them (call_check).
#include <adjoint/adjoint.hpp>
#include <adjoint/rng.hpp>
#include <cerrno>
#include <cstring>
#include <fstream>
#include <sstream>

#include "api/call_check.hpp"
#include "api/model_data.hpp"
#include "frontend/frontend.hpp"
#include "jit/jit.hpp"
#include "jit/object_cache.hpp"
#include "stages.hpp"
#include "support/diagnostics.hpp"
#include "support/source_file.hpp"

namespace adjoint {

using api::ModelData;

struct Model::Impl : ModelData {};

namespace {

// The index of `name` among the declared tensors, or Error.
size_t index_of(const std::vector<TensorInfo>& infos, const std::string& name, const char* kind,
                const std::string& model) {
  for (size_t i = 0; i < infos.size(); ++i)
    if (infos[i].name == name) return i;
  throw Error("model '" + model + "' has no " + kind + " '" + name + "'");
}

std::vector<std::string> names_of(const std::vector<TensorInfo>& infos) {
  std::vector<std::string> out;
  for (const TensorInfo& i : infos) out.push_back(i.name);
  return out;
}

// The shared workspace, grown to what `dims` needs; the caller holds d.mu.
void* workspace_for(const ModelData& d, const adj_dims& dims) {
  int64_t need = d.native->workspace_size_fn()(&dims);
  if (static_cast<int64_t>(d.workspace.bytes()) < need)
    d.workspace = api::allocate_workspace(d, need);
  return d.workspace.raw();
}

adj_dims abi_dims(const std::vector<int64_t>& dims) {
  return {dims.data(), static_cast<int32_t>(dims.size())};
}

}  // namespace

// ---------------------------------------------------------------- Model

Model::Model(std::unique_ptr<Impl> impl) : impl_(std::move(impl)) {}
Model::Model(Model&&) noexcept = default;
Model& Model::operator=(Model&&) noexcept = default;
Model::~Model() = default;

const std::string& Model::name() const { return impl_->ir.model; }
ElemType Model::float_type() const { return api::elem_type(impl_->ir.float_type); }
bool Model::has_loss() const { return impl_->native->has_grad(); }
const std::vector<TensorInfo>& Model::inputs() const { return impl_->inputs; }
const std::vector<TensorInfo>& Model::params() const { return impl_->params; }
const std::vector<TensorInfo>& Model::outputs() const { return impl_->outputs; }
const std::vector<std::string>& Model::wrt() const { return impl_->wrt; }
std::vector<std::string> Model::input_names() const { return names_of(impl_->inputs); }
std::vector<std::string> Model::param_names() const { return names_of(impl_->params); }
std::vector<std::string> Model::output_names() const { return names_of(impl_->outputs); }
std::vector<std::string> Model::size_symbols() const { return impl_->ir.size_symbols(); }

const TensorInfo& Model::info(const std::string& name) const {
  for (const auto* list : {&impl_->inputs, &impl_->params})
    for (const TensorInfo& i : *list)
      if (i.name == name) return i;
  throw Error("model '" + impl_->ir.model + "' has no input or param '" + name + "'");
}

std::string Model::init_description(const std::string& param) const {
  return impl_->inits[index_of(impl_->params, param, "param", name())].describe();
}

Params Model::init_params(uint64_t seed) const { return init_params(seed, {}); }

Params Model::init_params(uint64_t seed, const Sizes& sizes) const {
  if (std::string why = unknown_size(name(), size_symbols(), sizes); !why.empty()) throw Error(why);
  for (const auto& [name, value] : sizes)
    if (value <= 0)
      throw Error("size '" + name + "' must be positive to make params, got " +
                  std::to_string(value));
  Params p;
  for (size_t i = 0; i < impl_->params.size(); ++i) {
    const TensorInfo& info = impl_->params[i];
    const Type& type = impl_->ir.type(*impl_->ir.leaf(info.name));
    for (const Dim& d : type.shape)
      for (const std::string& s : d.symbols())
        if (!sizes.count(s))
          throw Error("param '" + info.name + "' is " + info.type + ": give the size '" + s +
                      "' to make it (adjc init --dim " + s + "=N; in C++, init_params(seed, {{\"" +
                      s + "\", N}}))");
    Tensor t =
        api::allocate(info.dtype, eval_shape(type.shape, sizes), "param '" + info.name + "'");
    init_tensor(t, impl_->inits[i].resolved(sizes), seed, stream_of(info.name));
    p.set(info.name, std::move(t));
  }
  return p;
}

// Zeros of each wrt tensor's shape under `env` (Error for an unbound size).
static Grads zeros_of_wrt(const ModelData& d, const DimEnv& env) {
  Grads g;
  for (const std::string& name : d.wrt) {
    const Type& t = d.ir.type(*d.ir.leaf(name));
    for (const Dim& dim : t.shape)
      for (const std::string& s : dim.symbols())
        if (!env.count(s))
          throw Error("the gradient of '" + name + "' (" + t.str() + ") has the symbolic size '" +
                      s + "': make it with make_grads(inputs)");
    g.set(name, api::allocate(api::elem_type(d.ir.float_type), eval_shape(t.shape, env),
                              "the gradient of '" + name + "'"));
  }
  return g;
}

Grads Model::make_grads() const { return zeros_of_wrt(*impl_, {}); }

Grads Model::make_grads(const Inputs& inputs) const {
  return zeros_of_wrt(*impl_, api::bind_inputs(*impl_, inputs));
}

double Model::grad(const Inputs& inputs, const Params& params, Grads& grads) const {
  const ModelData& d = *impl_;
  if (!d.native->has_grad())
    throw Error("model '" + d.ir.model +
                "' has no loss (no 'minimize'), so no gradient; call forward");
  // Everything is checked before anything is written.
  api::BoundCall call = api::bind_call(d, inputs, params);
  std::vector<adj_tensor> out = api::bind_grads(d, call.env, grads);
  adj_dims dims = abi_dims(call.dims);
  std::lock_guard<std::mutex> lock(d.mu);
  void* ws = workspace_for(d, dims);
  return d.native->grad_fn()(call.inputs.data(), call.params.data(), out.data(), &dims, ws);
}

Outputs Model::forward(const Inputs& inputs, const Params& params) const {
  const ModelData& d = *impl_;
  api::BoundCall call = api::bind_call(d, inputs, params);
  // m_forward writes each output, then the loss.
  const Graph& g = d.graph();
  std::vector<NamedValue> results = g.outputs;
  if (g.loss) results.push_back({"loss", *g.loss});
  std::vector<Tensor> values;
  std::vector<adj_tensor> out;
  values.reserve(results.size());  // abi() points into each tensor: no reallocation
  for (const NamedValue& r : results) {
    const Type& t = g.type(r.value);
    values.push_back(api::allocate(api::elem_type(t.dtype), eval_shape(t.shape, call.env),
                                   "output '" + r.name + "'"));
    out.push_back(values.back().abi());
  }
  adj_dims dims = abi_dims(call.dims);
  {
    std::lock_guard<std::mutex> lock(d.mu);
    void* ws = workspace_for(d, dims);
    d.native->forward_fn()(call.inputs.data(), call.params.data(), out.data(), &dims, ws);
  }
  Outputs o;
  for (size_t i = 0; i < results.size(); ++i) o.set(results[i].name, std::move(values[i]));
  return o;
}

int64_t Model::workspace_bytes(const Inputs& inputs) const {
  const ModelData& d = *impl_;
  DimEnv env = api::bind_inputs(d, inputs);
  std::vector<int64_t> values;
  for (const std::string& s : d.graph().size_symbols()) values.push_back(env.at(s));
  adj_dims dims = abi_dims(values);
  return d.native->workspace_size_fn()(&dims);
}

const ModelData& api::ModelAccess::data(const Model& m) { return *m.impl_; }

// ---------------------------------------------------------------- Compiler

// The JIT keeps an object cache unless the options or ADJOINT_NO_CACHE say
// otherwise (jit/object_cache.hpp picks the directory).
static std::shared_ptr<Jit> make_jit(const CompileOptions& options) {
  std::optional<std::string> dir;
  if (options.cache) dir = resolve_cache_dir(options.cache_dir);
  return std::make_shared<Jit>(dir.value_or(""));
}

struct Compiler::Impl {
  CompileOptions options;
  std::shared_ptr<Jit> jit;
};

Compiler::Compiler() : Compiler(CompileOptions{}) {}
Compiler::Compiler(const CompileOptions& options) : impl_(std::make_unique<Impl>()) {
  impl_->options = options;
  impl_->jit = make_jit(options);
}
Compiler::Compiler(Compiler&&) noexcept = default;
Compiler& Compiler::operator=(Compiler&&) noexcept = default;
Compiler::~Compiler() = default;

Model Compiler::compile_file(const std::string& path) {
  return compile_string(read_source_file(path), path);
}

Model Compiler::compile_string(const std::string& text, const std::string& name) {
  SourceManager sm;
  uint32_t file = sm.add(name, text);
  Diagnostics diags(sm);
  std::optional<Graph> ir = compile_source(sm, file, diags);
  if (!ir || diags.has_errors()) {
    std::string msg = diags.text();
    while (!msg.empty() && msg.back() == '\n') msg.pop_back();
    throw CompileError(msg.empty() ? "'" + name + "' does not compile" : msg);
  }
  auto impl = std::make_unique<Model::Impl>();
  api::build_model_data(*impl, std::move(*ir), impl_->jit, sm);
  return Model(std::move(impl));
}

}  // namespace adjoint
