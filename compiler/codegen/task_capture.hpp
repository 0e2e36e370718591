// What a task function (ctx, index), run by Emitter::run_tasks, needs from
// the function that runs it. Constants are used as they are in the task
// (so its loops are as the caller's would be); every other value is stored
// into a context on the caller's stack and loaded back in the task, in the
// order the values were added.
//
// Internal to compiler/codegen (it includes LLVM headers).
#pragma once

#include <string>
#include <vector>

#include "codegen/emitter.hpp"

namespace adjoint::codegen {

class TaskCapture {
 public:
  // --- in the caller, before the task is built
  void add(llvm::Value* v) {
    if (v && !llvm::isa<llvm::Constant>(v)) passed_.push_back(v);
  }
  // A tensor's data pointer (or uniform value) and sizes.
  void add(const TensorRef& t) {
    add(t.uniform ? t.uniform : t.data);
    for (llvm::Value* d : t.dims) add(d);
  }

  // A new task function `name`(ctx, index) in the caller's module.
  llvm::Function* task(Emitter& e, const std::string& name) {
    auto* ptr = llvm::PointerType::getUnqual(e.ctx());
    auto* type = llvm::FunctionType::get(e.b().getVoidTy(), {ptr, e.b().getInt64Ty()}, false);
    auto* f = llvm::Function::Create(type, llvm::Function::InternalLinkage, name, e.module());
    f->setDoesNotThrow();
    std::vector<llvm::Type*> fields;
    for (llvm::Value* v : passed_) fields.push_back(v->getType());
    type_ = llvm::StructType::get(e.ctx(), fields);
    return f;
  }

  // The context, on the caller's stack, filled at the caller's insert point.
  llvm::Value* fill(Emitter& e) {
    llvm::BasicBlock& entry = e.b().GetInsertBlock()->getParent()->getEntryBlock();
    llvm::IRBuilder<> at_entry(&entry, entry.begin());
    llvm::Value* cx = at_entry.CreateAlloca(type_, nullptr, "task_cx");
    for (unsigned i = 0; i < passed_.size(); ++i)
      e.b().CreateStore(passed_[i], e.b().CreateStructGEP(type_, cx, i));
    return cx;
  }

  // --- in the task (te emits into it), in the order of add()
  llvm::Value* take(Emitter& te, llvm::Value* cx, llvm::Value* v) {
    if (!v || llvm::isa<llvm::Constant>(v)) return v;
    unsigned i = next_++;
    return te.b().CreateLoad(type_->getElementType(i), te.b().CreateStructGEP(type_, cx, i));
  }
  TensorRef take(Emitter& te, llvm::Value* cx, const TensorRef& t) {
    TensorRef r = t;
    (r.uniform ? r.uniform : r.data) = take(te, cx, t.uniform ? t.uniform : t.data);
    for (llvm::Value*& d : r.dims) d = take(te, cx, d);
    return r;
  }

 private:
  std::vector<llvm::Value*> passed_;
  llvm::StructType* type_ = nullptr;
  unsigned next_ = 0;
};

}  // namespace adjoint::codegen
