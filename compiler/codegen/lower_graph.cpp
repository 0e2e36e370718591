#include "codegen/lower_graph.hpp"

#include <llvm/Transforms/Utils/CodeExtractor.h>

#include <algorithm>
#include <functional>
#include <map>
#include <set>
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

// A function with many loops costs LLVM more than linearly (loop rotation,
// jump threading, strength reduction and the vectorisers walk the whole
// function for each loop: 100 elementwise layers took 9 s, 200 took 24 s).
// A function that would emit more than kSplitAbove nodes is emitted as parts
// of kPartNodes nodes each, every part outlined into a function of its own.
// (The benchmark workloads and examples emit at most 79: one function each.)
constexpr int kSplitAbove = 96;
constexpr int kPartNodes = 48;

// The nodes whose code compute() emits, for `roots`: the loop of each fused
// tree, each reduction and product, not the leaves.
int emitted_nodes(const Graph& g, const std::vector<bool>& need, const MemoryPlan& plan) {
  int n = 0;
  for (size_t v = 0; v < g.nodes.size(); ++v)
    if (need[v] && plan.loop_of[v] == static_cast<ValueId>(v) && g.nodes[v].op != OpKind::input &&
        g.nodes[v].op != OpKind::param)
      ++n;
  return n;
}

// The arguments of a function that compute() fills, (inputs, params, dst or
// outputs, dims, workspace): what a part may read again and what it may not.
struct CallArgs {
  const llvm::Value* results;    // dst / outputs: its pointers lead to memory the code writes
  const llvm::Value* workspace;  // written by the code
  explicit CallArgs(const llvm::Function& f) : results(f.getArg(2)), workspace(f.getArg(4)) {}
};

// Whether `ptr` addresses memory no code of the call writes: reached from an
// argument through offsets and loads, not inside the workspace, and not
// through a pointer read from the results array (the caller's buffers).
bool read_only(const llvm::Value* ptr, const CallArgs& call) {
  int loads = 0;
  while (true) {
    ptr = ptr->stripPointerCasts();
    if (auto* gep = llvm::dyn_cast<llvm::GetElementPtrInst>(ptr)) {
      ptr = gep->getPointerOperand();
    } else if (auto* load = llvm::dyn_cast<llvm::LoadInst>(ptr)) {
      ptr = load->getPointerOperand();
      ++loads;
    } else {
      return llvm::isa<llvm::Argument>(ptr) && ptr != call.workspace &&
             !(ptr == call.results && loads > 0);
    }
  }
}

// Pure instructions a part may compute again rather than take as an
// argument: arithmetic, comparisons, selects, addresses, and integer or
// pointer loads of read-only call data (sizes, tensor pointers).
bool recomputable(const llvm::Instruction& i, const CallArgs& call) {
  if (auto* load = llvm::dyn_cast<llvm::LoadInst>(&i))
    return !load->isVolatile() &&
           (load->getType()->isIntegerTy() || load->getType()->isPointerTy()) &&
           read_only(load->getPointerOperand(), call);
  return llvm::isa<llvm::GetElementPtrInst, llvm::BinaryOperator, llvm::UnaryOperator,
                   llvm::CastInst, llvm::CmpInst, llvm::SelectInst>(i);
}

// Recomputes, at the top of a part, the values from before it that it uses
// and that are pure (see recomputable): the addresses of the tensors it
// reads and writes are then expressions of the same arguments in one
// function, so LLVM sees that an in-place update reads what it writes
// (passed as two arguments, the vectoriser's overlap check would fail at
// run time and take the scalar loop).
void recompute_inputs(const std::vector<llvm::BasicBlock*>& blocks, const CallArgs& call) {
  std::set<llvm::BasicBlock*> inside(blocks.begin(), blocks.end());
  llvm::Instruction* anchor = &*blocks.front()->getFirstInsertionPt();
  std::map<llvm::Value*, llvm::Value*> copies;
  int budget = 4096;  // instructions copied into one part at most
  std::function<llvm::Value*(llvm::Value*)> local = [&](llvm::Value* v) -> llvm::Value* {
    auto* i = llvm::dyn_cast<llvm::Instruction>(v);
    if (!i || inside.count(i->getParent())) return v;
    if (auto it = copies.find(v); it != copies.end()) return it->second;
    if (budget <= 0 || !recomputable(*i, call)) return v;
    --budget;
    llvm::Instruction* copy = i->clone();
    for (unsigned k = 0; k < copy->getNumOperands(); ++k)
      copy->setOperand(k, local(copy->getOperand(k)));
    copy->insertBefore(anchor);
    copies[v] = copy;
    return copy;
  };
  for (llvm::BasicBlock* bb : blocks)
    for (llvm::Instruction& i : *bb) {
      // (Copies go in before the anchor, behind this walk.)
      for (unsigned k = 0; k < i.getNumOperands(); ++k)
        if (llvm::Value* now = local(i.getOperand(k)); now != i.getOperand(k)) i.setOperand(k, now);
    }
}

// Outlines each part (its blocks, in function order, from one part's first
// block up to the next one's) into an internal function that is never
// inlined back. A part LLVM cannot extract stays where it is.
void outline_parts(llvm::Function* f, const std::vector<llvm::BasicBlock*>& starts) {
  if (starts.size() < 2) return;
  std::set<const llvm::BasicBlock*> first(starts.begin(), starts.end() - 1);
  std::vector<std::vector<llvm::BasicBlock*>> parts;
  for (llvm::BasicBlock& bb : *f) {
    if (&bb == starts.back()) break;  // the last start is where the parts end
    if (first.count(&bb)) parts.emplace_back();
    if (!parts.empty()) parts.back().push_back(&bb);
  }
  CallArgs call(*f);
  for (const std::vector<llvm::BasicBlock*>& blocks : parts) recompute_inputs(blocks, call);
  llvm::CodeExtractorAnalysisCache cache(*f);
  for (const std::vector<llvm::BasicBlock*>& blocks : parts) {
    llvm::CodeExtractor extractor(blocks, nullptr, /*AggregateArgs=*/false, nullptr, nullptr,
                                  nullptr, false, /*AllowAlloca=*/true, nullptr, "part");
    if (!extractor.isEligible()) continue;
    if (llvm::Function* part = extractor.extractCodeRegion(cache)) {
      part->setLinkage(llvm::Function::InternalLinkage);
      part->addFnAttr(llvm::Attribute::NoInline);
    }
  }
}

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
    alongside_.assign(g.nodes.size(), kNoValue);
    for (ValueId v = 0; v < g.size(); ++v)
      if (ValueId with = plan_.alongside[static_cast<size_t>(v)]; with != kNoValue)
        alongside_[static_cast<size_t>(with)] = v;
    for (ValueId v : g.params()) leaf_index_[v] = p++;
  }

  void emit_workspace_size() {
    auto* i64 = llvm::Type::getInt64Ty(ctx_);
    llvm::Function* f = function(prefix() + "_workspace_size", i64, {ptr_});
    Emitter e(m_, f, g_.float_type);
    bind_symbols(e, f->getArg(0));
    e.b().CreateRet(layout(e).total);
  }

  // m_grad_core(inputs, params, dst, dims, workspace) -> loss: the loss and
  // every gradient, gradient i written to the buffer dst[i] (a `void*`
  // array). Internal; m_grad and m_train_step both call it, so the graph's
  // code is compiled once (noinline keeps it so).
  void emit_grad_core() {
    core_ = function(prefix() + "_grad_core", llvm::Type::getDoubleTy(ctx_),
                     {ptr_, ptr_, ptr_, ptr_, ptr_});
    core_->setLinkage(llvm::Function::InternalLinkage);
    core_->addFnAttr(llvm::Attribute::NoInline);
    std::vector<ValueId> roots{*g_.loss};
    for (const NamedValue& gr : g_.grads) roots.push_back(gr.value);
    Emitter e(m_, core_, g_.float_type);
    std::vector<ValueId> results;
    for (const NamedValue& gr : g_.grads) results.push_back(gr.value);
    V dst = core_->getArg(2);
    std::vector<TensorRef> refs =
        compute_into(e, core_, roots, results, [&](size_t i) { return pointer_at(e, dst, i); });
    V loss = e.load(refs[static_cast<size_t>(*g_.loss)], e.i64(0));
    e.b().CreateRet(e.b().CreateFPExt(loss, llvm::Type::getDoubleTy(ctx_)));
    outline_parts(core_, part_starts_);  // once the function is whole
  }

  // m_grad(inputs, params, grads, dims, workspace) -> loss
  void emit_grad() {
    llvm::Function* f =
        function(prefix() + "_grad", llvm::Type::getDoubleTy(ctx_), {ptr_, ptr_, ptr_, ptr_, ptr_});
    Emitter e(m_, f, g_.float_type);
    size_t n = g_.grads.size();
    V dst = pointer_array(e, n);
    for (size_t i = 0; i < n; ++i) set_pointer(e, dst, i, tensor_data(e, f->getArg(2), i));
    e.b().CreateRet(call_core(e, f, dst));
  }

  // m_train_step(inputs, params, state, dims, workspace, opt) -> loss: the
  // gradients as in m_grad, into the workspace (see memory_plan.hpp: a
  // gradient's own region, or its snapshot region), then an in-place update
  // of each wrt param. All gradients are computed before any param changes.
  void emit_train_step() {
    llvm::Function* f = function(prefix() + "_train_step", llvm::Type::getDoubleTy(ctx_),
                                 {ptr_, ptr_, ptr_, ptr_, ptr_, ptr_});
    Emitter e(m_, f, g_.float_type);
    bind_symbols(e, f->getArg(3));
    Layout l = layout(e);
    // Where gradient i lands: its own region, or its snapshot (see memory_plan.hpp).
    size_t n = g_.grads.size();
    V dst = pointer_array(e, n);
    std::vector<V> data(n);
    for (size_t i = 0; i < n; ++i) {
      V offset =
          l.grad_copies[i] ? l.grad_copies[i] : l.offsets[static_cast<size_t>(g_.grads[i].value)];
      data[i] = e.b().CreateInBoundsGEP(e.b().getInt8Ty(), f->getArg(4), offset);
      set_pointer(e, dst, i, data[i]);
    }
    V loss = call_core(e, f, dst);
    llvm::Function* update = emit_param_update(m_, g_.float_type, prefix() + "_update");
    for (const ParamGrad& u : param_grads(g_)) {
      unsigned pi = leaf_index_.at(u.param);
      V param = tensor_data(e, f->getArg(1), pi);
      V s1 = tensor_data(e, f->getArg(2), 2 * pi), s2 = tensor_data(e, f->getArg(2), 2 * pi + 1);
      V n = e.product(e.dims(g_.node(u.param).type.shape), 0, g_.node(u.param).type.shape.size());
      e.b().CreateCall(update, {n, data[u.slot], param, s1, s2, f->getArg(5)});
    }
    e.b().CreateRet(loss);
  }

  // m_forward(inputs, params, outputs, dims, workspace)
  void emit_forward() {
    llvm::Function* f = function(prefix() + "_forward", llvm::Type::getVoidTy(ctx_),
                                 {ptr_, ptr_, ptr_, ptr_, ptr_});
    std::vector<ValueId> roots;
    for (const NamedValue& o : g_.outputs) roots.push_back(o.value);
    if (g_.loss) roots.push_back(*g_.loss);
    Emitter e(m_, f, g_.float_type);
    V out = f->getArg(2);
    compute_into(e, f, roots, roots, [&](size_t i) { return tensor_data(e, out, i); });
    e.b().CreateRetVoid();
    outline_parts(f, part_starts_);
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
    std::vector<V> grad_copies;  // per entry of Graph::grads: its snapshot, or null
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

  // A `void*[n]` on the stack, and its elements.
  V pointer_array(Emitter& e, size_t n) {
    llvm::BasicBlock& entry = e.b().GetInsertBlock()->getParent()->getEntryBlock();
    llvm::IRBuilder<> at_entry(&entry, entry.begin());
    return at_entry.CreateAlloca(ptr_, e.i64(static_cast<int64_t>(std::max<size_t>(n, 1))), "dst");
  }
  void set_pointer(Emitter& e, V array, size_t i, V p) {
    e.b().CreateStore(p, e.b().CreateInBoundsGEP(ptr_, array, e.i64(static_cast<int64_t>(i))));
  }
  V pointer_at(Emitter& e, V array, size_t i) {
    auto& b = e.b();
    return b.CreateLoad(ptr_, b.CreateInBoundsGEP(ptr_, array, e.i64(static_cast<int64_t>(i))));
  }

  // core_(inputs, params, dst, dims, workspace) from f, whose arguments
  // start with inputs and params and have dims and workspace at 3 and 4.
  V call_core(Emitter& e, llvm::Function* f, V dst) {
    return e.b().CreateCall(core_, {f->getArg(0), f->getArg(1), dst, f->getArg(3), f->getArg(4)});
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
  Direct direct_results(const std::vector<ValueId>& results,
                        const std::function<V(size_t)>& buffer) {
    Direct d;
    for (size_t i = 0; i < results.size(); ++i) {
      ValueId v = results[i];
      bool own = lowering_of(g_.node(v).op).storage == Storage::Buffer && !d.at.count(v);
      if (own) d.at[v] = buffer(i);
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
    // Parts (see kPartNodes): a new block starts each one, and one more ends the last.
    part_starts_.clear();
    const int emitting = emitted_nodes(g_, need, plan_);
    const bool in_parts = emitting > kSplitAbove;
    int emitted = 0;
    auto start_part = [&] {
      llvm::BasicBlock* next = llvm::BasicBlock::Create(ctx_, "part", f);
      e.b().CreateBr(next);
      e.b().SetInsertPoint(next);
      part_starts_.push_back(next);
    };
    // A Buffer node's tensor: in the caller's buffer for a direct result,
    // else in its workspace region.
    auto buffer = [&](ValueId v) {
      const Node& n = g_.node(v);
      TensorRef t{n.type.dtype, &n.type.shape, e.dims(n.type.shape), nullptr, nullptr, {}};
      auto it = direct.find(v);
      t.data = it != direct.end() ? it->second
                                  : e.b().CreateInBoundsGEP(e.b().getInt8Ty(), workspace,
                                                            l.offsets[static_cast<size_t>(v)]);
      return t;
    };
    for (size_t v = 0; v < g_.nodes.size(); ++v) {
      // A fused node is computed in its root's loop (see fusion.hpp).
      if (!need[v] || plan_.loop_of[v] != static_cast<ValueId>(v)) continue;
      // Computed already: an epilogue's root by its product's GEMM, or a node
      // computed alongside an earlier one.
      if (refs[v].data) continue;
      const Node& n = g_.nodes[v];
      if (in_parts && n.op != OpKind::input && n.op != OpKind::param && emitted++ % kPartNodes == 0)
        start_part();
      TensorRef out{n.type.dtype, &n.type.shape, e.dims(n.type.shape), nullptr, nullptr, {}};
      switch (lowering_of(n.op).storage) {
        case Storage::Leaf:
          out.data = tensor_data(e, n.op == OpKind::input ? inputs : params,
                                 leaf_index_.at(static_cast<ValueId>(v)));
          refs[v] = out;
          continue;
        case Storage::Buffer:
          out = buffer(static_cast<ValueId>(v));
          break;
        case Storage::Uniform:
        case Storage::Alias:
          break;
      }
      if (pointwise(n.op)) {
        lower_pointwise_split(e, PointwiseTree{g_, static_cast<ValueId>(v), plan_.loop_of, refs},
                              out);
        refs[v] = out;
        continue;
      }
      NodeCx cx{e, n, {}, out};
      cx.scratch = e.b().CreateInBoundsGEP(e.b().getInt8Ty(), workspace, l.scratch);
      for (ValueId a : n.args) {
        // A tree fused into this reduction: its elements computed as read.
        if (plan_.loop_of[static_cast<size_t>(a)] == static_cast<ValueId>(v))
          refs[static_cast<size_t>(a)] = computed_operand(
              e, PointwiseTree{g_, a, plan_.loop_of, refs, static_cast<ValueId>(v)});
        cx.args.push_back(refs[static_cast<size_t>(a)]);
      }
      ValueId root = plan_.epilogue_of[v];
      if (root != kNoValue) {
        // The product is computed where its epilogue's root is to be stored
        // (the same region, or the caller's buffer for a direct result).
        auto it = direct.find(root);
        if (it != direct.end()) cx.out.data = it->second;
        refs[v] = cx.out;
        TensorRef root_out = cx.out;
        root_out.shape = &g_.node(root).type.shape;
        cx.epilogue = emit_epilogue(e, PointwiseTree{g_, root, plan_.loop_of, refs},
                                    static_cast<ValueId>(v), root_out);
        refs[static_cast<size_t>(root)] = root_out;
      }
      ValueId later = alongside_[v];
      if (later != kNoValue && need[static_cast<size_t>(later)]) cx.also = buffer(later);
      lower_node(cx);
      refs[v] = cx.out;
      if (cx.also.data) refs[static_cast<size_t>(later)] = cx.also;
    }
    if (in_parts) start_part();
    return refs;
  }

  // Computes `roots` (`results` among them) with result i in buffer(i):
  // computed there when it has a buffer of its own, else copied there after
  // the last node.
  std::vector<TensorRef> compute_into(Emitter& e, llvm::Function* f,
                                      const std::vector<ValueId>& roots,
                                      const std::vector<ValueId>& results,
                                      const std::function<V(size_t)>& buffer) {
    Direct direct = direct_results(results, buffer);
    std::vector<TensorRef> refs = compute(e, f, roots, direct.at);
    for (size_t i = 0; i < results.size(); ++i)
      if (!direct.written[i]) write_result(e, refs[static_cast<size_t>(results[i])], buffer(i));
    return refs;
  }

  // Copies a result into the buffer at `data`.
  void write_result(Emitter& e, const TensorRef& value, V data) {
    TensorRef dst = value;
    dst.uniform = nullptr;
    dst.data = data;
    e.copy(value, dst);
  }

  const Graph& g_;
  llvm::Module& m_;
  llvm::LLVMContext& ctx_;
  llvm::PointerType* ptr_ = nullptr;
  llvm::StructType* tensor_ = nullptr;
  llvm::StructType* dims_ = nullptr;
  std::map<ValueId, unsigned> leaf_index_;
  std::vector<ValueId> alongside_;  // per node: the later node its lowering also computes
  llvm::Function* core_ =
      nullptr;  // m_grad_core, once emitted  // position among inputs, or among params
  MemoryPlan plan_;
  std::vector<llvm::BasicBlock*> part_starts_;  // of the function compute() last emitted
};

}  // namespace

std::string symbol_prefix(const Graph& g) { return g.model.empty() ? "model" : g.model; }

std::unique_ptr<llvm::Module> lower_graph(const Graph& g, llvm::LLVMContext& ctx, Entries entries) {
  // Loops trust the graph's shapes; a malformed graph would read out of bounds.
  verify_or_throw(g, "the input to code generation");
  check_symbols_bound(g);
  bool training = entries != Entries::inference, inference = entries != Entries::training;
  std::string name = symbol_prefix(g) + (entries == Entries::inference ? ".forward" : "");
  auto m = std::make_unique<llvm::Module>(name, ctx);
  GraphLowering lowering(g, *m);
  if (training) lowering.emit_workspace_size();
  if (training && g.loss) lowering.emit_grad_core();
  if (training && g.loss) lowering.emit_grad();
  if (training && g.loss) lowering.emit_train_step();
  if (inference) lowering.emit_forward();
  return m;
}

}  // namespace adjoint::codegen

namespace adjoint {

// The memory plan reads the lowering table (see memory_plan.hpp).
Placement placement_of(OpKind op) {
  switch (codegen::lowering_of(op).storage) {
    case codegen::Storage::Leaf:
      return Placement::Leaf;
    case codegen::Storage::Uniform:
      return Placement::Uniform;
    case codegen::Storage::Alias:
      return Placement::Alias;
    case codegen::Storage::Buffer:
      return Placement::Buffer;
  }
  throw std::logic_error("storage out of range");
}

bool takes_epilogue(OpKind op) { return codegen::lowering_of(op).epilogue; }

bool reads_once(OpKind op) { return codegen::lowering_of(op).reads_once; }

bool computes_alongside(const Graph& g, ValueId earlier, ValueId later) {
  const Node& n = g.node(earlier);
  codegen::AlongsideFn can = codegen::lowering_of(n.op).alongside;
  return can && can(g, n, g.node(later));
}

bool pointwise(OpKind op) {
  codegen::OpLowering l = codegen::lowering_of(op);
  return l.storage == codegen::Storage::Buffer && !l.lower && (l.unary || l.binary);
}

// lower_pointwise (lower_elementwise.cpp) loads element i of each leaf, then
// stores element i of the result, one index at a time; a leaf of the
// result's shape is read at the result's own index, even in the
// broadcasting loop nest. A lowering that writes ahead of its reads
// (blocked, say) must not be counted here.
bool writes_elementwise(OpKind op) { return pointwise(op); }

}  // namespace adjoint
