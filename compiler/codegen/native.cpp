#include "codegen/native.hpp"

#include <llvm/IR/LLVMContext.h>
#include <llvm/IR/Module.h>
#include <llvm/IR/Verifier.h>
#include <llvm/Support/raw_ostream.h>

#include <cstring>
#include <exception>
#include <functional>
#include <future>
#include <stdexcept>

#include "codegen/gemm.hpp"
#include "codegen/lower_graph.hpp"
#include "jit/jit.hpp"
#include "support/diagnostics.hpp"

namespace adjoint {

namespace {

// A tensor in the layout the generated code reads and writes.
struct HostTensor {
  DType dtype = DType::f64;
  Dims shape;
  std::vector<std::byte> bytes;

  HostTensor(DType t, Dims s) : dtype(t), shape(std::move(s)) {
    bytes.resize(static_cast<size_t>(product(shape)) * (t == DType::f64 ? 8 : 4));
  }
  size_t size() const { return static_cast<size_t>(product(shape)); }
  adj_tensor abi() {
    adj_dtype t = dtype == DType::f32 ? ADJ_F32 : dtype == DType::f64 ? ADJ_F64 : ADJ_I32;
    return {bytes.data(), shape.data(), static_cast<int32_t>(shape.size()), t};
  }
};

template <typename T>
void put(HostTensor& h, const DTensor& t) {
  for (size_t i = 0; i < t.size(); ++i) {
    T v = static_cast<T>(t[i]);
    std::memcpy(h.bytes.data() + i * sizeof(T), &v, sizeof(T));
  }
}

template <typename T>
DTensor get(const HostTensor& h) {
  DTensor t(h.shape);
  for (size_t i = 0; i < t.size(); ++i) {
    T v;
    std::memcpy(&v, h.bytes.data() + i * sizeof(T), sizeof(T));
    t[i] = static_cast<double>(v);
  }
  return t;
}

HostTensor to_host(DType dtype, const DTensor& t) {
  HostTensor h(dtype, t.shape);
  switch (dtype) {
    case DType::f32:
      put<float>(h, t);
      break;
    case DType::f64:
      put<double>(h, t);
      break;
    case DType::i32:
      put<int32_t>(h, t);
      break;
  }
  return h;
}

DTensor from_host(const HostTensor& h) {
  switch (h.dtype) {
    case DType::f32:
      return get<float>(h);
    case DType::f64:
      return get<double>(h);
    case DType::i32:
      return get<int32_t>(h);
  }
  throw std::logic_error("unknown dtype");
}

// The leaves of `ids` (inputs or params) as host tensors, in order.
std::vector<HostTensor> leaves_to_host(const Graph& g, const std::vector<ValueId>& ids,
                                       const TensorMap& leaves) {
  std::vector<HostTensor> out;
  for (ValueId v : ids)
    out.push_back(to_host(g.type(v).dtype, leaves.at(g.node(v).attrs.get_str("name"))));
  return out;
}

std::vector<adj_tensor> abi_of(std::vector<HostTensor>& ts) {
  std::vector<adj_tensor> out;
  for (HostTensor& t : ts) out.push_back(t.abi());
  return out;
}

// A workspace of `bytes`, 64-byte aligned.
struct Workspace {
  std::vector<std::byte> raw;
  void* data = nullptr;
  explicit Workspace(int64_t bytes) : raw(static_cast<size_t>(bytes) + 64) {
    auto at = reinterpret_cast<uintptr_t>(raw.data());
    data = raw.data() + ((64 - at % 64) % 64);
  }
};

std::unique_ptr<llvm::Module> lower_verified(const Graph& g, llvm::LLVMContext& ctx,
                                             codegen::Entries entries = codegen::Entries::all) {
  std::unique_ptr<llvm::Module> m = codegen::lower_graph(g, ctx, entries);
  verify_module_or_throw(*m);
  return m;
}

}  // namespace

struct NativeModel::Impl {
  std::shared_ptr<Jit> jit;
  std::vector<Jit::ModuleKey> keys;  // the modules added (see compile)
  Graph graph;
  adj_workspace_size_fn workspace_size = nullptr;
  adj_grad_fn grad = nullptr;
  adj_forward_fn forward = nullptr;
  adj_train_step_fn train_step = nullptr;

  ~Impl() {
    try {
      if (jit)
        for (Jit::ModuleKey key : keys) jit->remove(key);
    } catch (const std::exception&) {
      // Nothing useful to do when freeing JIT memory fails while tearing down.
    }
  }

  // Inputs and params as host tensors, the dims and a workspace, for one call.
  struct Call {
    std::vector<HostTensor> inputs, params;
    std::vector<adj_tensor> input_abi, param_abi;
    std::vector<int64_t> dim_values;
    adj_dims dims{};
    DimEnv env;
    std::unique_ptr<Workspace> workspace;
  };

  Call prepare(const TensorMap& leaves) const {
    Call c;
    c.env = bind_sizes(graph, leaves);
    for (const std::string& s : graph.size_symbols()) c.dim_values.push_back(c.env.at(s));
    c.dims = {c.dim_values.data(), static_cast<int32_t>(c.dim_values.size())};
    c.inputs = leaves_to_host(graph, graph.inputs(), leaves);
    c.params = leaves_to_host(graph, graph.params(), leaves);
    c.input_abi = abi_of(c.inputs);
    c.param_abi = abi_of(c.params);
    c.workspace = std::make_unique<Workspace>(workspace_size(&c.dims));
    return c;
  }

  HostTensor result_buffer(ValueId v, const DimEnv& env) const {
    return HostTensor(graph.type(v).dtype, eval_shape(graph.type(v).shape, env));
  }
};

NativeModel::NativeModel(std::unique_ptr<Impl> impl) : impl_(std::move(impl)) {}
NativeModel::NativeModel(NativeModel&&) noexcept = default;
NativeModel& NativeModel::operator=(NativeModel&&) noexcept = default;
NativeModel::~NativeModel() = default;

NativeModel NativeModel::compile(const Graph& g) { return compile(g, std::make_shared<Jit>()); }

namespace {

bool uses_gemm(const Graph& g) {
  for (const Node& n : g.nodes)
    if (n.op == OpKind::matmul || n.op == OpKind::conv2d || n.op == OpKind::conv2d_bwd_data ||
        n.op == OpKind::conv2d_bwd_filter)
      return true;
  return false;
}

std::unique_ptr<llvm::Module> make_gemm_library(llvm::LLVMContext& ctx, int dtype) {
  return codegen::build_gemm_library(ctx, static_cast<DType>(dtype));
}

}  // namespace

namespace {

// Lowers and adds one module of `g` to the JIT; returns its key.
Jit::ModuleKey add_module(Jit& jit, const Graph& g, codegen::Entries entries) {
  auto ctx = std::make_unique<llvm::LLVMContext>();
  std::unique_ptr<llvm::Module> m = lower_verified(g, *ctx, entries);
  return jit.add(std::move(m), std::move(ctx));
}

}  // namespace

NativeModel NativeModel::compile(const Graph& g, std::shared_ptr<Jit> jit) {
  // Up to three compiles at once, each on a thread of its own:
  // - the GEMM routines, compiled once per JIT, not into every model (the
  //   model's calls into them are linked at the first lookup, after all are in);
  // - for a model with a loss, m_forward apart from the training entry points
  //   (about a quarter of the model's code; the two halves share nothing).
  std::future<void> library;
  if (uses_gemm(g))
    library = std::async(std::launch::async, [&jit, t = g.float_type] {
      jit->ensure_library(codegen::gemm_symbol(t), make_gemm_library, static_cast<int>(t));
    });
  std::future<Jit::ModuleKey> forward;
  if (g.loss)
    forward = std::async(std::launch::async,
                         [&jit, &g] { return add_module(*jit, g, codegen::Entries::inference); });
  auto impl = std::make_unique<Impl>();
  impl->graph = g;
  impl->jit = jit;  // from here on the destructor frees the modules in `keys`
  // Every thread is joined before an error leaves (a future's get rethrows).
  std::exception_ptr failed;
  auto keep = [&](const std::function<void()>& step) {
    try {
      step();
    } catch (...) {
      if (!failed) failed = std::current_exception();
    }
  };
  keep([&] {
    impl->keys.push_back(
        add_module(*jit, g, g.loss ? codegen::Entries::training : codegen::Entries::all));
  });
  if (forward.valid()) keep([&] { impl->keys.push_back(forward.get()); });
  if (library.valid()) keep([&] { library.get(); });
  if (failed) std::rethrow_exception(failed);
  std::string prefix = codegen::symbol_prefix(g);
  Jit& j = *impl->jit;
  Jit::ModuleKey main = impl->keys.front(), fwd = impl->keys.back();
  impl->workspace_size =
      reinterpret_cast<adj_workspace_size_fn>(j.lookup(main, prefix + "_workspace_size"));
  impl->forward = reinterpret_cast<adj_forward_fn>(j.lookup(fwd, prefix + "_forward"));
  if (g.loss) impl->grad = reinterpret_cast<adj_grad_fn>(j.lookup(main, prefix + "_grad"));
  if (g.loss)
    impl->train_step = reinterpret_cast<adj_train_step_fn>(j.lookup(main, prefix + "_train_step"));
  return NativeModel(std::move(impl));
}

const Graph& NativeModel::graph() const { return impl_->graph; }
adj_workspace_size_fn NativeModel::workspace_size_fn() const { return impl_->workspace_size; }
adj_grad_fn NativeModel::grad_fn() const { return impl_->grad; }
adj_forward_fn NativeModel::forward_fn() const { return impl_->forward; }
adj_train_step_fn NativeModel::train_step_fn() const { return impl_->train_step; }

std::vector<int64_t> NativeModel::dims_for(const TensorMap& leaves) const {
  return impl_->prepare(leaves).dim_values;
}

TensorMap NativeModel::grad(const TensorMap& leaves) const {
  const Graph& g = impl_->graph;
  if (!impl_->grad) throw Error("model '" + g.model + "' has no loss, so no gradient");
  Impl::Call c = impl_->prepare(leaves);
  std::vector<HostTensor> grads;
  for (const NamedValue& gr : g.grads) grads.push_back(impl_->result_buffer(gr.value, c.env));
  std::vector<adj_tensor> grad_abi = abi_of(grads);
  double loss = impl_->grad(c.input_abi.data(), c.param_abi.data(), grad_abi.data(), &c.dims,
                            c.workspace->data);
  TensorMap out;
  out["loss"] = DTensor({}, loss);
  for (size_t i = 0; i < grads.size(); ++i) out["grad." + g.grads[i].name] = from_host(grads[i]);
  return out;
}

TensorMap NativeModel::forward(const TensorMap& leaves) const {
  const Graph& g = impl_->graph;
  Impl::Call c = impl_->prepare(leaves);
  std::vector<NamedValue> results = g.outputs;
  if (g.loss) results.push_back({"loss", *g.loss});
  std::vector<HostTensor> outs;
  for (const NamedValue& r : results) outs.push_back(impl_->result_buffer(r.value, c.env));
  std::vector<adj_tensor> out_abi = abi_of(outs);
  impl_->forward(c.input_abi.data(), c.param_abi.data(), out_abi.data(), &c.dims,
                 c.workspace->data);
  TensorMap out;
  for (size_t i = 0; i < outs.size(); ++i) out[results[i].name] = from_host(outs[i]);
  return out;
}

TensorMap run_native(const NativeModel& m, const TensorMap& leaves) {
  TensorMap out;
  if (m.has_grad()) out = m.grad(leaves);
  TensorMap fwd = m.forward(leaves);
  for (const NamedValue& o : m.graph().outputs) out[o.name] = fwd.at(o.name);
  return out;
}

std::string emit_llvm_ir(const Graph& g, bool optimized) {
  llvm::LLVMContext ctx;
  std::unique_ptr<llvm::Module> m = lower_verified(g, ctx);
  if (optimized) Jit().optimize(*m);
  std::string text;
  llvm::raw_string_ostream os(text);
  m->print(os, nullptr);
  return os.str();
}

std::string emit_native_asm(const Graph& g) {
  llvm::LLVMContext ctx;
  std::unique_ptr<llvm::Module> m = lower_verified(g, ctx);
  return Jit().assembly(*m);
}

std::string entry_prefix(const Graph& g) { return codegen::symbol_prefix(g); }

std::string compile_object(const Graph& g) {
  llvm::LLVMContext ctx;
  std::unique_ptr<llvm::Module> m = lower_verified(g, ctx);
  std::unique_ptr<llvm::Module> library;
  if (uses_gemm(g)) library = codegen::build_gemm_library(ctx, g.float_type);
  return Jit().object_file(std::move(m), std::move(library));
}

std::string verify_llvm(const Graph& g) {
  llvm::LLVMContext ctx;
  std::unique_ptr<llvm::Module> m = codegen::lower_graph(g, ctx);
  std::string problems;
  llvm::raw_string_ostream os(problems);
  llvm::verifyModule(*m, &os);
  return os.str();
}

}  // namespace adjoint
