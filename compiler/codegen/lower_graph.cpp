#include "codegen/lower_graph.hpp"

#include <algorithm>
#include <map>
#include <stdexcept>

#include "codegen/lower_ops.hpp"
#include "codegen/lower_optimizer.hpp"
#include "codegen/memory_plan.hpp"
#include "ir/verifier.hpp"
#include "support/diagnostics.hpp"

namespace adjoint::codegen {

namespace {

using V = llvm::Value*;

constexpr int64_t kAlign = 64;  // workspace regions start on cache lines (and AVX-512 vectors)

// Nodes that `roots` depend on (the roots included).
std::vector<bool> needed_for(const Graph& g, const std::vector<ValueId>& roots) {
  std::vector<bool> need(g.nodes.size(), false);
  for (ValueId r : roots) need[static_cast<size_t>(r)] = true;
  for (ValueId v = g.size(); v-- > 0;)
    if (need[static_cast<size_t>(v)])
      for (ValueId a : g.node(v).args) need[static_cast<size_t>(a)] = true;
  return need;
}

// Every size symbol a node's type uses must be bound by an input's shape.
void check_symbols_bound(const Graph& g) {
  std::vector<std::string> bound = g.size_symbols();
  for (const Node& n : g.nodes)
    for (const Dim& d : n.type.shape)
      for (const std::string& s : d.symbols())
        if (std::find(bound.begin(), bound.end(), s) == bound.end())
          throw Error("size '" + s + "' of " + n.type.str() +
                      " is not bound by the shape of any input");
}

class GraphLowering {
 public:
  GraphLowering(const Graph& g, llvm::Module& m)
      : g_(g), m_(m), ctx_(m.getContext()), plan_(plan_memory(g)) {
    ptr_ = llvm::PointerType::getUnqual(ctx_);
    auto* i32 = llvm::Type::getInt32Ty(ctx_);
    // adj_tensor { void* data; const int64_t* shape; int32_t rank; adj_dtype dtype; }
    tensor_ = llvm::StructType::create(ctx_, {ptr_, ptr_, i32, i32}, "adj_tensor");
    // adj_dims { const int64_t* values; int32_t count; }
    dims_ = llvm::StructType::create(ctx_, {ptr_, i32}, "adj_dims");
    unsigned i = 0, p = 0;
    for (ValueId v : g.inputs()) leaf_index_[v] = i++;
    for (ValueId v : g.params()) leaf_index_[v] = p++;
  }

  void emit_workspace_size() {
    auto* i64 = llvm::Type::getInt64Ty(ctx_);
    llvm::Function* f = function(prefix() + "_workspace_size", i64, {ptr_});
    Emitter e(m_, f, g_.float_type);
    bind_symbols(e, f->getArg(0));
    e.b().CreateRet(layout(e).total);
  }

  // m_grad(inputs, params, grads, dims, workspace) -> loss
  void emit_grad() {
    llvm::Function* f =
        function(prefix() + "_grad", llvm::Type::getDoubleTy(ctx_), {ptr_, ptr_, ptr_, ptr_, ptr_});
    std::vector<ValueId> roots{*g_.loss};
    for (const NamedValue& gr : g_.grads) roots.push_back(gr.value);
    Emitter e(m_, f, g_.float_type);
    std::vector<ValueId> results;
    for (const NamedValue& gr : g_.grads) results.push_back(gr.value);
    Direct direct = direct_results(e, results, f->getArg(2));
    std::vector<TensorRef> refs = compute(e, f, roots, direct.at);
    for (size_t i = 0; i < results.size(); ++i)
      if (!direct.written[i])
        write_result(e, refs[static_cast<size_t>(results[i])], f->getArg(2), i);
    V loss = e.load(refs[static_cast<size_t>(*g_.loss)], e.i64(0));
    e.b().CreateRet(e.b().CreateFPExt(loss, llvm::Type::getDoubleTy(ctx_)));
  }

  // m_train_step(inputs, params, state, dims, workspace, opt) -> loss: the
  // gradients as in m_grad, then an in-place update of each wrt param (all
  // gradients are computed before any param changes).
  void emit_train_step() {
    llvm::Function* f = function(prefix() + "_train_step", llvm::Type::getDoubleTy(ctx_),
                                 {ptr_, ptr_, ptr_, ptr_, ptr_, ptr_});
    std::vector<ValueId> roots{*g_.loss};
    for (const NamedValue& gr : g_.grads) roots.push_back(gr.value);
    Emitter e(m_, f, g_.float_type);
    OptimizerScalars opt = load_optimizer(e, f->getArg(5));
    std::vector<TensorRef> refs = compute(e, f, roots);
    V loss = e.load(refs[static_cast<size_t>(*g_.loss)], e.i64(0));
    std::vector<ParamGrad> updates = param_grads(g_);
    Layout l = layout(e);
    // A gradient stored in a leaf (or aliasing one) may be a param that an
    // earlier update changes: snapshot those first.
    std::vector<TensorRef> grads;
    for (const ParamGrad& u : updates) {
      TensorRef gr = refs[static_cast<size_t>(u.grad)];
      if (l.grad_copies[u.slot]) {
        TensorRef copy = gr;
        copy.data = e.b().CreateInBoundsGEP(e.b().getInt8Ty(), f->getArg(4), l.grad_copies[u.slot]);
        e.copy(gr, copy);
        gr = copy;
      }
      grads.push_back(gr);
    }
    for (size_t k = 0; k < updates.size(); ++k) {
      const Node& p = g_.node(updates[k].param);
      TensorRef param{p.type.dtype, &p.type.shape, e.dims(p.type.shape), nullptr, nullptr};
      unsigned pi = leaf_index_.at(updates[k].param);
      param.data = tensor_data(e, f->getArg(1), pi);
      TensorRef s1 = param, s2 = param;
      s1.data = tensor_data(e, f->getArg(2), 2 * pi);
      s2.data = tensor_data(e, f->getArg(2), 2 * pi + 1);
      lower_param_update(e, opt, grads[k], param, s1, s2);
    }
    e.b().CreateRet(e.b().CreateFPExt(loss, llvm::Type::getDoubleTy(ctx_)));
  }

  // m_forward(inputs, params, outputs, dims, workspace)
  void emit_forward() {
    llvm::Function* f = function(prefix() + "_forward", llvm::Type::getVoidTy(ctx_),
                                 {ptr_, ptr_, ptr_, ptr_, ptr_});
    std::vector<ValueId> roots;
    for (const NamedValue& o : g_.outputs) roots.push_back(o.value);
    if (g_.loss) roots.push_back(*g_.loss);
    Emitter e(m_, f, g_.float_type);
    Direct direct = direct_results(e, roots, f->getArg(2));
    std::vector<TensorRef> refs = compute(e, f, roots, direct.at);
    for (size_t i = 0; i < roots.size(); ++i)
      if (!direct.written[i])
        write_result(e, refs[static_cast<size_t>(roots[i])], f->getArg(2), i);
    e.b().CreateRetVoid();
  }

 private:
  std::string prefix() const { return symbol_prefix(g_); }

  llvm::Function* function(const std::string& name, llvm::Type* ret,
                           std::vector<llvm::Type*> args) {
    auto* type = llvm::FunctionType::get(ret, args, false);
    auto* f = llvm::Function::Create(type, llvm::Function::ExternalLinkage, name, m_);
    f->setDoesNotThrow();
    return f;
  }

  // Loads dims->values[k] for the k-th size symbol (a model without symbols
  // never reads `dims`, so callers may pass null).
  void bind_symbols(Emitter& e, V dims) {
    auto& b = e.b();
    std::vector<std::string> syms = g_.size_symbols();
    if (syms.empty()) return;
    V values = b.CreateLoad(ptr_, b.CreateStructGEP(dims_, dims, 0), "dim_values");
    for (size_t k = 0; k < syms.size(); ++k) {
      V at = b.CreateInBoundsGEP(b.getInt64Ty(), values, e.i64(static_cast<int64_t>(k)));
      e.bind_symbol(syms[k], b.CreateLoad(b.getInt64Ty(), at, syms[k]));
    }
  }

  struct Layout {
    std::vector<V> offsets;      // bytes into the workspace; null for nodes with no region
    std::vector<V> grad_copies;  // per param_grads() slot: m_train_step's snapshot, or null
    V scratch = nullptr;         // the nodes' shared scratch (see NodeCx::scratch)
    V total = nullptr;
  };

  // Byte offsets from the memory plan (see memory_plan.hpp), evaluated from
  // the dims; then one scratch region after the plan's total. Every
  // function uses this layout, so one m_workspace_size serves them all.
  Layout layout(Emitter& e) {
    Layout l;
    l.offsets.assign(g_.nodes.size(), nullptr);
    for (ValueId v = 0; v < g_.size(); ++v)
      if (const Region* r = plan_.region_of(v))
        l.offsets[static_cast<size_t>(v)] = evaluate(e, plan_.offset(*r));
    l.grad_copies.assign(plan_.snapshots.size(), nullptr);
    for (size_t k = 0; k < plan_.snapshots.size(); ++k)
      if (int i = plan_.snapshots[k]; i >= 0)
        l.grad_copies[k] = evaluate(e, plan_.offset(plan_.regions[static_cast<size_t>(i)]));
    V total = evaluate(e, plan_.total());
    // One scratch region, as large as the largest any node needs.
    V scratch = e.i64(0);
    for (const Node& n : g_.nodes) {
      V bytes = scratch_bytes(e, g_, n);
      scratch = e.b().CreateSelect(e.b().CreateICmpUGT(bytes, scratch), bytes, scratch);
    }
    l.scratch = total;
    total = e.add(total, e.b().CreateAnd(e.add(scratch, e.i64(kAlign - 1)), e.i64(~(kAlign - 1))));
    l.total = total;
    return l;
  }

  // A polynomial in the size symbols, as an i64.
  V evaluate(Emitter& e, const SizePoly& p) {
    V sum = e.i64(0);
    for (const Dim& term : p.terms) sum = e.add(sum, e.dim(term));
    return sum;
  }

  // The data pointer of the i-th adj_tensor of `array`.
  V tensor_data(Emitter& e, V array, size_t i) {
    auto& b = e.b();
    V t = b.CreateInBoundsGEP(tensor_, array, e.i64(static_cast<int64_t>(i)));
    return b.CreateLoad(ptr_, b.CreateStructGEP(tensor_, t, 0));
  }

  // Emits every node `roots` need, in order; returns each node's tensor.
  // Results computed straight into the caller's buffers: a result with a
  // buffer of its own is stored there instead of the workspace (no copy at
  // the end). `written[i]`: result i needs no copy. A node that is several
  // results is computed into the first and copied to the others.
  struct Direct {
    std::map<ValueId, V> at;
    std::vector<bool> written;
  };
  Direct direct_results(Emitter& e, const std::vector<ValueId>& results, V array) {
    Direct d;
    for (size_t i = 0; i < results.size(); ++i) {
      ValueId v = results[i];
      bool own = lowering_of(g_.node(v).op).storage == Storage::Buffer && !d.at.count(v);
      if (own) d.at[v] = tensor_data(e, array, i);
      d.written.push_back(own);
    }
    return d;
  }

  std::vector<TensorRef> compute(Emitter& e, llvm::Function* f, const std::vector<ValueId>& roots,
                                 const std::map<ValueId, V>& direct = {}) {
    V inputs = f->getArg(0), params = f->getArg(1), workspace = f->getArg(4);
    bind_symbols(e, f->getArg(3));
    Layout l = layout(e);
    std::vector<bool> need = needed_for(g_, roots);
    std::vector<TensorRef> refs(g_.nodes.size());
    for (size_t v = 0; v < g_.nodes.size(); ++v) {
      if (!need[v]) continue;
      const Node& n = g_.nodes[v];
      TensorRef out{n.type.dtype, &n.type.shape, e.dims(n.type.shape), nullptr, nullptr};
      switch (lowering_of(n.op).storage) {
        case Storage::Leaf:
          out.data = tensor_data(e, n.op == OpKind::input ? inputs : params,
                                 leaf_index_.at(static_cast<ValueId>(v)));
          refs[v] = out;
          continue;
        case Storage::Buffer: {
          auto it = direct.find(static_cast<ValueId>(v));
          out.data = it != direct.end()
                         ? it->second
                         : e.b().CreateInBoundsGEP(e.b().getInt8Ty(), workspace, l.offsets[v]);
          break;
        }
        case Storage::Uniform:
        case Storage::Alias:
          break;
      }
      NodeCx cx{e, n, {}, out};
      cx.scratch = e.b().CreateInBoundsGEP(e.b().getInt8Ty(), workspace, l.scratch);
      for (ValueId a : n.args) cx.args.push_back(refs[static_cast<size_t>(a)]);
      lower_node(cx);
      refs[v] = cx.out;
    }
    return refs;
  }

  // Copies a result into the caller's buffer array[i].
  void write_result(Emitter& e, const TensorRef& value, V array, size_t i) {
    TensorRef dst = value;
    dst.uniform = nullptr;
    dst.data = tensor_data(e, array, i);
    e.copy(value, dst);
  }

  const Graph& g_;
  llvm::Module& m_;
  llvm::LLVMContext& ctx_;
  llvm::PointerType* ptr_ = nullptr;
  llvm::StructType* tensor_ = nullptr;
  llvm::StructType* dims_ = nullptr;
  std::map<ValueId, unsigned> leaf_index_;  // position among inputs, or among params
  MemoryPlan plan_;
};

}  // namespace

std::string symbol_prefix(const Graph& g) { return g.model.empty() ? "model" : g.model; }

std::unique_ptr<llvm::Module> lower_graph(const Graph& g, llvm::LLVMContext& ctx) {
  // Loops trust the graph's shapes; a malformed graph would read out of bounds.
  verify_or_throw(g, "the input to code generation");
  check_symbols_bound(g);
  auto m = std::make_unique<llvm::Module>(symbol_prefix(g), ctx);
  GraphLowering lowering(g, *m);
  lowering.emit_workspace_size();
  if (g.loss) lowering.emit_grad();
  if (g.loss) lowering.emit_train_step();
  lowering.emit_forward();
  return m;
}

}  // namespace adjoint::codegen

namespace adjoint {

// The memory plan reads the lowering table (see memory_plan.hpp).
Placement placement_of(OpKind op) {
  switch (codegen::lowering_of(op).storage) {
    case codegen::Storage::Leaf: return Placement::Leaf;
    case codegen::Storage::Uniform: return Placement::Uniform;
    case codegen::Storage::Alias: return Placement::Alias;
    case codegen::Storage::Buffer: return Placement::Buffer;
  }
  throw std::logic_error("storage out of range");
}

// lower_unary and lower_binary (lower_elementwise.cpp) load element i of
// each operand, then store element i of the result, one index at a time; an
// operand of the result's shape is read at the result's own index, even in
// the broadcasting loop nest. A lowering that writes ahead of its reads
// (blocked, or fused with other nodes) must not be counted here.
bool writes_elementwise(OpKind op) {
  codegen::OpLowering l = codegen::lowering_of(op);
  return l.storage == codegen::Storage::Buffer && !l.lower && (l.unary || l.binary);
}

}  // namespace adjoint
