#include "codegen/lower_optimizer.hpp"

#include <adjoint/abi.h>

namespace adjoint::codegen {

namespace {

using V = llvm::Value*;

// The hyperparameters of one call, loaded once in the update function's prologue and
// already in the model's float type (bias corrections computed in double).
struct OptimizerScalars {
  llvm::Value* kind = nullptr;  // i32: ADJ_SGD or ADJ_ADAM
  llvm::Value* lr = nullptr;
  llvm::Value* momentum = nullptr;
  llvm::Value* beta1 = nullptr;
  llvm::Value* beta2 = nullptr;
  llvm::Value* eps = nullptr;
  llvm::Value* step_size = nullptr;     // lr / (1 - beta1^step)
  llvm::Value* inv_bc2_sqrt = nullptr;  // 1 / sqrt(1 - beta2^step)
};

// Elements of one update task. A multiple of every vector width, and large
// enough that a task is worth handing to another thread; smaller params are
// updated on the calling thread.
constexpr int64_t kUpdateChunk = 8192;

// adj_optimizer { int32_t kind; double lr, momentum, beta1, beta2, eps; int64_t step; }
// (C layout: 4 bytes of padding after kind, as LLVM's default layout gives).
llvm::StructType* optimizer_type(llvm::LLVMContext& ctx) {
  auto* d = llvm::Type::getDoubleTy(ctx);
  return llvm::StructType::get(
      ctx, {llvm::Type::getInt32Ty(ctx), d, d, d, d, d, llvm::Type::getInt64Ty(ctx)});
}

V to_model_float(Emitter& e, V d) {
  return e.float_type() == DType::f64 ? d : e.b().CreateFPTrunc(d, e.float_ty());
}

// v = momentum*v + g; p -= lr*v
void sgd(Emitter& e, const OptimizerScalars& o, const TensorRef& grad, const TensorRef& param,
         const TensorRef& buf) {
  e.loop(e.numel(param), [&](V i) {
    V v = e.fadd(e.fmul(o.momentum, e.load(buf, i)), e.load(grad, i));
    e.store(buf, i, v);
    e.store(param, i, e.fsub(e.load(param, i), e.fmul(o.lr, v)));
  });
}

// m = b1*m + (1-b1)*g; v = b2*v + (1-b2)*g*g;
// p -= step_size * m / (sqrt(v)/sqrt(1-b2^t) + eps), the division by the
// constant done as a product with its reciprocal (a division per element is
// a third of the loop's time, and the result differs by about an ulp)
void adam(Emitter& e, const OptimizerScalars& o, const TensorRef& grad, const TensorRef& param,
          const TensorRef& m1, const TensorRef& m2) {
  V one = e.fconst(1.0);
  V c1 = e.fsub(one, o.beta1), c2 = e.fsub(one, o.beta2);
  e.loop(e.numel(param), [&](V i) {
    V g = e.load(grad, i);
    V m = e.fadd(e.fmul(o.beta1, e.load(m1, i)), e.fmul(c1, g));
    V v = e.fadd(e.fmul(o.beta2, e.load(m2, i)), e.fmul(c2, e.fmul(g, g)));
    e.store(m1, i, m);
    e.store(m2, i, v);
    V denom = e.fadd(e.fmul(e.intrinsic(llvm::Intrinsic::sqrt, v), o.inv_bc2_sqrt), o.eps);
    e.store(param, i, e.fsub(e.load(param, i), e.fmul(o.step_size, e.fdiv(m, denom))));
  });
}

// Loads *opt (a const adj_optimizer*).
OptimizerScalars load_optimizer(Emitter& e, V opt) {
  auto& b = e.b();
  llvm::StructType* t = optimizer_type(e.ctx());
  auto* d = b.getDoubleTy();
  auto field = [&](unsigned k, llvm::Type* ty) {
    return b.CreateLoad(ty, b.CreateStructGEP(t, opt, k));
  };
  OptimizerScalars o;
  o.kind = field(0, b.getInt32Ty());
  V lr = field(1, d), momentum = field(2, d), beta1 = field(3, d), beta2 = field(4, d),
    eps = field(5, d);
  V step = b.CreateSIToFP(field(6, b.getInt64Ty()), d);
  V one = llvm::ConstantFP::get(d, 1.0);
  // Bias corrections in double, as PyTorch computes them (Python floats).
  V bc1 = b.CreateFSub(one, b.CreateBinaryIntrinsic(llvm::Intrinsic::pow, beta1, step));
  V bc2 = b.CreateFSub(one, b.CreateBinaryIntrinsic(llvm::Intrinsic::pow, beta2, step));
  o.lr = to_model_float(e, lr);
  o.momentum = to_model_float(e, momentum);
  o.beta1 = to_model_float(e, beta1);
  o.beta2 = to_model_float(e, beta2);
  o.eps = to_model_float(e, eps);
  o.step_size = to_model_float(e, b.CreateFDiv(lr, bc1));
  o.inv_bc2_sqrt =
      to_model_float(e, b.CreateFDiv(one, b.CreateUnaryIntrinsic(llvm::Intrinsic::sqrt, bc2)));
  return o;
}

llvm::FunctionType* update_type(llvm::LLVMContext& ctx) {
  auto* ptr = llvm::PointerType::getUnqual(ctx);
  return llvm::FunctionType::get(llvm::Type::getVoidTy(ctx),
                                 {llvm::Type::getInt64Ty(ctx), ptr, ptr, ptr, ptr, ptr}, false);
}

llvm::Function* internal_function(llvm::Module& m, llvm::FunctionType* type,
                                  const std::string& name) {
  auto* f = llvm::Function::Create(type, llvm::Function::InternalLinkage, name, m);
  f->addFnAttr(llvm::Attribute::NoInline);
  f->setDoesNotThrow();
  return f;
}

// The update of n elements on the calling thread.
llvm::Function* emit_serial_update(llvm::Module& m, DType float_type, const std::string& name) {
  llvm::Function* f = internal_function(m, update_type(m.getContext()), name);
  Emitter e(m, f, float_type);
  // Flat views of n elements: only numel matters to the loops.
  V n = f->getArg(0);
  TensorRef at{float_type, nullptr, {n}, nullptr, nullptr};
  TensorRef grad = at, param = at, s1 = at, s2 = at;
  grad.data = f->getArg(1);
  param.data = f->getArg(2);
  s1.data = f->getArg(3);
  s2.data = f->getArg(4);
  OptimizerScalars o = load_optimizer(e, f->getArg(5));
  V is_sgd = e.b().CreateICmpEQ(o.kind, e.b().getInt32(ADJ_SGD));
  V is_adam = e.b().CreateICmpEQ(o.kind, e.b().getInt32(ADJ_ADAM));
  e.if_then(is_sgd, [&] { sgd(e, o, grad, param, s1); });
  e.if_then(is_adam, [&] { adam(e, o, grad, param, s1, s2); });
  e.b().CreateRetVoid();
  return f;
}

// The arguments of an update, as the pool's tasks read them.
llvm::StructType* update_args_type(llvm::LLVMContext& ctx) {
  auto* ptr = llvm::PointerType::getUnqual(ctx);
  return llvm::StructType::get(ctx, {llvm::Type::getInt64Ty(ctx), ptr, ptr, ptr, ptr, ptr});
}

// task(args, i): the serial update of chunk i of the arrays in *args.
llvm::Function* emit_update_task(llvm::Module& m, DType float_type, llvm::Function* serial,
                                 const std::string& name) {
  llvm::LLVMContext& ctx = m.getContext();
  auto* ptr = llvm::PointerType::getUnqual(ctx);
  auto* i64 = llvm::Type::getInt64Ty(ctx);
  auto* type = llvm::FunctionType::get(llvm::Type::getVoidTy(ctx), {ptr, i64}, false);
  llvm::Function* f = internal_function(m, type, name);
  Emitter e(m, f, float_type);
  auto& b = e.b();
  llvm::StructType* args = update_args_type(ctx);
  auto field = [&](unsigned k, llvm::Type* t) {
    return b.CreateLoad(t, b.CreateStructGEP(args, f->getArg(0), k));
  };
  V n = field(0, i64);
  V start = b.CreateMul(f->getArg(1), b.getInt64(kUpdateChunk));
  V rest = b.CreateSub(n, start);
  V count = b.CreateSelect(b.CreateICmpSLT(rest, b.getInt64(kUpdateChunk)), rest,
                           b.getInt64(kUpdateChunk));
  std::vector<V> call{count};
  for (unsigned k = 1; k <= 4; ++k)
    call.push_back(b.CreateInBoundsGEP(e.float_ty(), field(k, ptr), start));
  call.push_back(field(5, ptr));
  b.CreateCall(serial, call);
  b.CreateRetVoid();
  return f;
}

}  // namespace

llvm::Function* emit_param_update(llvm::Module& m, DType float_type, const std::string& name) {
  llvm::Function* serial = emit_serial_update(m, float_type, name + ".serial");
  llvm::Function* task = emit_update_task(m, float_type, serial, name + ".task");
  llvm::Function* f = internal_function(m, update_type(m.getContext()), name);
  Emitter e(m, f, float_type);
  auto& b = e.b();
  llvm::StructType* st = update_args_type(m.getContext());
  V block = b.CreateAlloca(st);
  for (unsigned k = 0; k < f->arg_size(); ++k)
    b.CreateStore(f->getArg(k), b.CreateStructGEP(st, block, k));
  // Chunks on the pool for a param of two chunks or more, else on this
  // thread; elementwise, so the bits do not depend on which thread runs one.
  V n = f->getArg(0);
  V tasks = b.CreateSDiv(b.CreateAdd(n, b.getInt64(kUpdateChunk - 1)), b.getInt64(kUpdateChunk));
  e.run_tasks(task, block, tasks, b.CreateICmpSGE(n, b.getInt64(2 * kUpdateChunk)));
  b.CreateRetVoid();
  return f;
}

}  // namespace adjoint::codegen
