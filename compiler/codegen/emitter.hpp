// The LLVM IR building blocks of code generation: tensors as seen inside a
// generated function, counted loops, element loads and stores, size
// arithmetic and the math functions, all in the model's float type.
//
// Internal to compiler/codegen (it includes LLVM headers).
//
// Code here is deliberately plain: one scalar loop per op, the same order of
// floating-point operations as the op's reference evaluation (so f64 results
// agree with the reference evaluator to rounding), no fast-math flags. Speed
// comes later, from fusion and generated GEMM kernels.
#pragma once

#include <llvm/IR/IRBuilder.h>
#include <llvm/IR/Module.h>

#include <functional>
#include <map>
#include <string>
#include <vector>

#include "ir/graph.hpp"

namespace adjoint::codegen {

// A tensor value in a generated function: row-major elements at `data`, or,
// for a value whose elements are all equal (a constant, numel), `uniform`
// with no storage at all, or, for a pointwise tree fused into the node that
// reads it (fusion.hpp), `compute`: code for the element at a flat index,
// emitted where the reader loads it.
struct TensorRef {
  DType dtype = DType::f32;
  const Shape* shape = nullptr;    // the IR's shape (what is statically 1)
  std::vector<llvm::Value*> dims;  // i64 sizes at run time
  llvm::Value* data = nullptr;     // element pointer
  llvm::Value* uniform = nullptr;  // every element's value
  std::function<llvm::Value*(llvm::Value*)> compute;
  size_t rank() const { return dims.size(); }
};

class Emitter {
 public:
  // Starts f's body: instructions go into a new entry block.
  Emitter(llvm::Module& m, llvm::Function* f, DType float_type);
  Emitter(const Emitter&) = delete;
  Emitter& operator=(const Emitter&) = delete;

  llvm::IRBuilder<>& b() { return b_; }
  llvm::Module& module() { return m_; }
  llvm::LLVMContext& ctx() { return m_.getContext(); }
  DType float_type() const { return float_type_; }
  llvm::Type* float_ty() { return elem_ty(float_type_); }
  llvm::Type* elem_ty(DType t);
  static int64_t elem_bytes(DType t) { return t == DType::f64 ? 8 : 4; }

  // --- Sizes (i64, never wrapping) ---
  llvm::Value* i64(int64_t v) { return b_.getInt64(static_cast<uint64_t>(v)); }
  llvm::Value* add(llvm::Value* a, llvm::Value* b) { return b_.CreateAdd(a, b, "", true, true); }
  llvm::Value* sub(llvm::Value* a, llvm::Value* b) { return b_.CreateSub(a, b, "", true, true); }
  llvm::Value* mul(llvm::Value* a, llvm::Value* b) { return b_.CreateMul(a, b, "", true, true); }
  // Product of dims[begin, end); 1 when empty.
  llvm::Value* product(const std::vector<llvm::Value*>& dims, size_t begin, size_t end);
  llvm::Value* numel(const TensorRef& t) { return product(t.dims, 0, t.rank()); }
  // Row-major strides of a tensor's dims.
  std::vector<llvm::Value*> strides(const TensorRef& t);
  // Strides for reading t at the index of a broadcast result of rank
  // `out_rank` (NumPy rules): 0 for missing leading dims and for dims that
  // are statically 1; all 0 for a uniform tensor.
  std::vector<llvm::Value*> broadcast_strides(const TensorRef& t, size_t out_rank);

  // Size symbols: bound once per function, then any Dim evaluates to an i64.
  void bind_symbol(const std::string& name, llvm::Value* v) { symbols_[name] = v; }
  llvm::Value* dim(const Dim& d);
  std::vector<llvm::Value*> dims(const Shape& s);

  // --- Elements ---
  llvm::Value* fconst(double v) { return llvm::ConstantFP::get(float_ty(), v); }
  llvm::Value* element_ptr(const TensorRef& t, llvm::Value* index);
  // Element `index` (flat) of t; a uniform tensor ignores the index, a
  // computed one emits its element's code here.
  llvm::Value* load(const TensorRef& t, llvm::Value* index);
  void store(const TensorRef& t, llvm::Value* index, llvm::Value* v);
  // A label/index element as an i64 (i32 tensors are int32).
  llvm::Value* load_index(const TensorRef& t, llvm::Value* index);
  void fill(const TensorRef& t, llvm::Value* v);          // every element of t = v
  void copy(const TensorRef& from, const TensorRef& to);  // same dtype and size

  // --- Control flow ---
  // for (i = 0; i < n; ++i) body(i). n = 0 or 1 emits no loop. A loop with
  // a constant count whose unrolling makes at most kUnrolledCopies copies of
  // the code inside it (loops inside count, innermost first; any loop inside
  // that stays a loop rules it out) is marked for LLVM's full unroll: the
  // JIT's pipeline runs without the unroller otherwise (compile time), and
  // LLVM kept a loop of two as branches on flags, as in a 2x2 pooling window
  // or a product over k = 2.
  static constexpr int64_t kUnrolledCopies = 4;
  void loop(llvm::Value* n, const std::function<void(llvm::Value*)>& body);

  // Runs `emit` with the loops it emits marked as having no dependences
  // between iterations (llvm.loop.parallel_accesses over every load and
  // store inside them). For a pointwise loop nest, which writes each element
  // once and reads it, at most, at its own index: the vectoriser then needs
  // no run-time overlap checks, which fail when a result overwrites its
  // operand in place (the memory plan's in-place chains) and left such
  // loops scalar (tiny's tanh: 32 scalar exp calls a step).
  void with_parallel_loops(const std::function<void()>& emit);
  // Nested loops over `extents`; for each of several tensors, `strides[k]`
  // gives its stride per loop (0 to broadcast), and body receives each
  // tensor's flat offset.
  void strided_nest(const std::vector<llvm::Value*>& extents,
                    const std::vector<std::vector<llvm::Value*>>& strides,
                    const std::function<void(const std::vector<llvm::Value*>&)>& body);
  void if_then(llvm::Value* cond, const std::function<void()>& then);
  void if_else(llvm::Value* cond, const std::function<void()>& then,
               const std::function<void()>& otherwise);
  // task(task_cx, i) for every i < n: through the runtime's pool
  // (adj_parallel_for, see adjoint/parallel.h) when `parallel` is true, else
  // in a loop on this thread. Tasks must not depend on each other.
  void run_tasks(llvm::Function* task, llvm::Value* task_cx, llvm::Value* n, llvm::Value* parallel);
  // A mutable scalar (an entry-block alloca, promoted to a register by mem2reg).
  llvm::Value* local(llvm::Type* t, llvm::Value* init, const std::string& name = "");
  llvm::Value* get(llvm::Value* local_var, llvm::Type* t) { return b_.CreateLoad(t, local_var); }
  void set(llvm::Value* local_var, llvm::Value* v) { b_.CreateStore(v, local_var); }

  // --- Float math in the model's type ---
  llvm::Value* fadd(llvm::Value* a, llvm::Value* b) { return b_.CreateFAdd(a, b); }
  llvm::Value* fsub(llvm::Value* a, llvm::Value* b) { return b_.CreateFSub(a, b); }
  llvm::Value* fmul(llvm::Value* a, llvm::Value* b) { return b_.CreateFMul(a, b); }
  llvm::Value* fdiv(llvm::Value* a, llvm::Value* b) { return b_.CreateFDiv(a, b); }
  llvm::Value* fneg(llvm::Value* a) { return b_.CreateFNeg(a); }
  // c ? a : b
  llvm::Value* select(llvm::Value* c, llvm::Value* a, llvm::Value* b) {
    return b_.CreateSelect(c, a, b);
  }
  llvm::Value* gt(llvm::Value* a, llvm::Value* b) { return b_.CreateFCmpOGT(a, b); }
  llvm::Value* ge(llvm::Value* a, llvm::Value* b) { return b_.CreateFCmpOGE(a, b); }
  llvm::Value* lt(llvm::Value* a, llvm::Value* b) { return b_.CreateFCmpOLT(a, b); }
  // LLVM intrinsics (libm calls after code generation).
  llvm::Value* intrinsic(llvm::Intrinsic::ID id, llvm::Value* x) {
    return b_.CreateUnaryIntrinsic(id, x);
  }
  llvm::Value* pow(llvm::Value* x, llvm::Value* y) {
    return b_.CreateBinaryIntrinsic(llvm::Intrinsic::pow, x, y);
  }
  // A libm function with no intrinsic (tanh, erf, log1p): `name` for f64,
  // `name` + "f" for f32.
  llvm::Value* libm(const std::string& name, llvm::Value* x);
  // x as a value of the float type (from an i64).
  llvm::Value* to_float(llvm::Value* i) { return b_.CreateSIToFP(i, float_ty()); }

 private:
  llvm::Module& m_;
  llvm::Function* f_;
  llvm::IRBuilder<> b_;
  DType float_type_;
  std::map<std::string, llvm::Value*> symbols_;
  // What the loop body being emitted holds: the most copies one of its
  // loops unrolls into (1 for none), and whether one stays a loop.
  struct LoopBody {
    int64_t copies = 1;
    bool rolled = false;
  };
  LoopBody body_;
  llvm::MDNode* access_group_ = nullptr;  // see with_parallel_loops
  void mark_parallel(llvm::BasicBlock* first, llvm::BasicBlock* head);
};

}  // namespace adjoint::codegen
