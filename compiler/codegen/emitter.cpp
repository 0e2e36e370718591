#include "codegen/emitter.hpp"

#include <algorithm>
#include <set>
#include <stdexcept>

namespace adjoint::codegen {

Emitter::Emitter(llvm::Module& m, llvm::Function* f, DType float_type)
    : m_(m), f_(f), b_(m.getContext()), float_type_(float_type) {
  b_.SetInsertPoint(llvm::BasicBlock::Create(ctx(), "entry", f));
}

llvm::Type* Emitter::elem_ty(DType t) {
  switch (t) {
    case DType::f32:
      return b_.getFloatTy();
    case DType::f64:
      return b_.getDoubleTy();
    case DType::i32:
      return b_.getInt32Ty();
  }
  throw std::logic_error("unknown dtype");
}

llvm::Value* Emitter::product(const std::vector<llvm::Value*>& dims, size_t begin, size_t end) {
  llvm::Value* p = i64(1);
  for (size_t i = begin; i < end; ++i) p = mul(p, dims[i]);
  return p;
}

std::vector<llvm::Value*> Emitter::strides(const TensorRef& t) {
  std::vector<llvm::Value*> s(t.rank());
  llvm::Value* acc = i64(1);
  for (size_t i = t.rank(); i-- > 0;) {
    s[i] = acc;
    acc = mul(acc, t.dims[i]);
  }
  return s;
}

std::vector<llvm::Value*> Emitter::broadcast_strides(const TensorRef& t, size_t out_rank) {
  std::vector<llvm::Value*> out(out_rank, i64(0));
  if (t.uniform) return out;
  std::vector<llvm::Value*> own = strides(t);
  size_t lead = out_rank - t.rank();
  for (size_t i = 0; i < t.rank(); ++i)
    if (!(*t.shape)[i].is_one()) out[lead + i] = own[i];
  return out;
}

llvm::Value* Emitter::dim(const Dim& d) {
  llvm::Value* v = i64(d.coeff());
  for (const std::string& s : d.symbols()) {
    auto it = symbols_.find(s);
    if (it == symbols_.end()) throw std::logic_error("size symbol '" + s + "' is not bound");
    v = mul(v, it->second);
  }
  return v;
}

std::vector<llvm::Value*> Emitter::dims(const Shape& s) {
  std::vector<llvm::Value*> out;
  for (const Dim& d : s) out.push_back(dim(d));
  return out;
}

llvm::Value* Emitter::element_ptr(const TensorRef& t, llvm::Value* index) {
  if (!t.data) throw std::logic_error("element of a tensor without storage");
  return b_.CreateInBoundsGEP(elem_ty(t.dtype), t.data, index);
}

llvm::Value* Emitter::load(const TensorRef& t, llvm::Value* index) {
  if (t.uniform) return t.uniform;
  if (t.compute) return t.compute(index);
  return b_.CreateLoad(elem_ty(t.dtype), element_ptr(t, index));
}

void Emitter::store(const TensorRef& t, llvm::Value* index, llvm::Value* v) {
  b_.CreateStore(v, element_ptr(t, index));
}

llvm::Value* Emitter::load_index(const TensorRef& t, llvm::Value* index) {
  if (t.dtype != DType::i32) throw std::logic_error("index read from a float tensor");
  return b_.CreateSExt(load(t, index), b_.getInt64Ty());
}

void Emitter::fill(const TensorRef& t, llvm::Value* v) {
  loop(numel(t), [&](llvm::Value* i) { store(t, i, v); });
}

void Emitter::copy(const TensorRef& from, const TensorRef& to) {
  loop(numel(to), [&](llvm::Value* i) { store(to, i, load(from, i)); });
}

void Emitter::loop(llvm::Value* n, const std::function<void(llvm::Value*)>& body) {
  auto* c = llvm::dyn_cast<llvm::ConstantInt>(n);
  if (c && c->getSExtValue() <= 1) {
    if (c->getSExtValue() == 1) body(i64(0));
    return;
  }
  llvm::BasicBlock* pre = b_.GetInsertBlock();
  llvm::BasicBlock* head = llvm::BasicBlock::Create(ctx(), "loop", f_);
  llvm::BasicBlock* inner = llvm::BasicBlock::Create(ctx(), "body", f_);
  llvm::BasicBlock* done = llvm::BasicBlock::Create(ctx(), "done", f_);
  b_.CreateBr(head);
  b_.SetInsertPoint(head);
  llvm::PHINode* i = b_.CreatePHI(b_.getInt64Ty(), 2, "i");
  i->addIncoming(i64(0), pre);
  b_.CreateCondBr(b_.CreateICmpSLT(i, n), inner, done);
  b_.SetInsertPoint(inner);
  LoopBody outer = body_;
  body_ = LoopBody{};
  try {
    body(i);
  } catch (...) {
    body_ = outer;
    throw;
  }
  LoopBody inside = body_;
  body_ = outer;
  i->addIncoming(add(i, i64(1)), b_.GetInsertBlock());
  if (access_group_) mark_parallel(inner, head);
  llvm::BranchInst* back = b_.CreateBr(head);
  bool unroll = c && !inside.rolled && inside.copies <= kUnrolledCopies / c->getSExtValue();
  std::vector<llvm::Metadata*> props{nullptr};
  if (unroll) {
    props.push_back(
        llvm::MDNode::get(ctx(), {llvm::MDString::get(ctx(), "llvm.loop.unroll.full")}));
    body_.copies = std::max(body_.copies, inside.copies * c->getSExtValue());
  } else {
    body_.rolled = true;
  }
  if (access_group_)
    props.push_back(llvm::MDNode::get(
        ctx(), {llvm::MDString::get(ctx(), "llvm.loop.parallel_accesses"), access_group_}));
  if (props.size() > 1) {
    llvm::MDNode* id = llvm::MDNode::getDistinct(ctx(), props);
    id->replaceOperandWith(0, id);
    back->setMetadata(llvm::LLVMContext::MD_loop, id);
  }
  b_.SetInsertPoint(done);
}

void Emitter::with_parallel_loops(const std::function<void()>& emit) {
  llvm::MDNode* outer = access_group_;
  // An access group is a distinct node with no operands.
  access_group_ = llvm::MDNode::getDistinct(ctx(), {});
  try {
    emit();
  } catch (...) {
    access_group_ = outer;
    throw;
  }
  access_group_ = outer;
}

// Puts every load and store of the loop body (the blocks reachable from
// `first` without passing the loop's `head`) in the current access group.
void Emitter::mark_parallel(llvm::BasicBlock* first, llvm::BasicBlock* head) {
  std::vector<llvm::BasicBlock*> todo{first};
  std::set<llvm::BasicBlock*> seen{first, head};
  while (!todo.empty()) {
    llvm::BasicBlock* bb = todo.back();
    todo.pop_back();
    for (llvm::Instruction& inst : *bb)
      if (inst.mayReadOrWriteMemory() && !llvm::isa<llvm::CallInst>(inst))
        inst.setMetadata(llvm::LLVMContext::MD_access_group, access_group_);
    if (llvm::Instruction* term = bb->getTerminator())
      for (llvm::BasicBlock* next : llvm::successors(term))
        if (seen.insert(next).second) todo.push_back(next);
  }
}

void Emitter::run_tasks(llvm::Function* task, llvm::Value* task_cx, llvm::Value* n,
                        llvm::Value* parallel) {
  auto* ptr = llvm::PointerType::getUnqual(ctx());
  auto* type = llvm::FunctionType::get(b_.getVoidTy(), {b_.getInt64Ty(), ptr, ptr}, false);
  if_else(
      parallel,
      [&] {
        b_.CreateCall(m_.getOrInsertFunction("adj_parallel_for", type), {n, task, task_cx});
      },
      [&] { loop(n, [&](llvm::Value* i) {
              b_.CreateCall(task, {task_cx, i});
            }); });
}

void Emitter::strided_nest(const std::vector<llvm::Value*>& extents,
                           const std::vector<std::vector<llvm::Value*>>& strides,
                           const std::function<void(const std::vector<llvm::Value*>&)>& body) {
  // Level d adds i_d * stride to each tensor's offset from the level above.
  std::function<void(size_t, std::vector<llvm::Value*>)> level =
      [&](size_t d, std::vector<llvm::Value*> offsets) {
        if (d == extents.size()) {
          body(offsets);
          return;
        }
        loop(extents[d], [&](llvm::Value* i) {
          std::vector<llvm::Value*> inner = offsets;
          for (size_t k = 0; k < inner.size(); ++k) inner[k] = add(inner[k], mul(i, strides[k][d]));
          level(d + 1, inner);
        });
      };
  level(0, std::vector<llvm::Value*>(strides.size(), i64(0)));
}

void Emitter::if_then(llvm::Value* cond, const std::function<void()>& then) {
  if_else(cond, then, [] {});  // the empty block goes in the first simplification
}

void Emitter::if_else(llvm::Value* cond, const std::function<void()>& then,
                      const std::function<void()>& otherwise) {
  llvm::BasicBlock* yes = llvm::BasicBlock::Create(ctx(), "then", f_);
  llvm::BasicBlock* no = llvm::BasicBlock::Create(ctx(), "else", f_);
  llvm::BasicBlock* join = llvm::BasicBlock::Create(ctx(), "endif", f_);
  b_.CreateCondBr(cond, yes, no);
  b_.SetInsertPoint(yes);
  then();
  b_.CreateBr(join);
  b_.SetInsertPoint(no);
  otherwise();
  b_.CreateBr(join);
  b_.SetInsertPoint(join);
}

llvm::Value* Emitter::local(llvm::Type* t, llvm::Value* init, const std::string& name) {
  llvm::BasicBlock& entry = f_->getEntryBlock();
  llvm::IRBuilder<> at_entry(&entry, entry.begin());
  llvm::Value* slot = at_entry.CreateAlloca(t, nullptr, name);
  b_.CreateStore(init, slot);
  return slot;
}

llvm::Value* Emitter::libm(const std::string& name, llvm::Value* x) {
  llvm::Type* t = x->getType();
  std::string symbol = t->isFloatTy() ? name + "f" : name;
  llvm::FunctionCallee fn = m_.getOrInsertFunction(symbol, llvm::FunctionType::get(t, {t}, false));
  if (auto* f = llvm::dyn_cast<llvm::Function>(fn.getCallee())) {
    // Pure functions of their argument: lets LLVM hoist and CSE them.
    f->setDoesNotThrow();
    f->setWillReturn();
    f->setMemoryEffects(llvm::MemoryEffects::none());
  }
  return b_.CreateCall(fn, {x});
}

}  // namespace adjoint::codegen
