// Emitter::loop: loops with a constant trip count are marked for LLVM's full
// unroll, innermost first, while unrolling makes at most kUnrolledCopies
// copies of what a loop holds; a loop holding a loop that stays a loop is
// never marked; 0 and 1 trips emit no loop.
#include <llvm/IR/Instructions.h>
#include <llvm/IR/LLVMContext.h>
#include <llvm/IR/Metadata.h>
#include <llvm/IR/Module.h>

#include <catch2/catch.hpp>
#include <functional>

#include "codegen/emitter.hpp"

using adjoint::DType;
using adjoint::codegen::Emitter;

namespace {

struct Counts {
  int loops = 0;   // loop headers emitted
  int marked = 0;  // back edges marked llvm.loop.unroll.full
};

// Emits void f(i64 n) { nest(e, n) } and counts its loops.
Counts emit(const std::function<void(Emitter&, llvm::Value*)>& nest) {
  llvm::LLVMContext ctx;
  llvm::Module m("loops", ctx);
  auto* type =
      llvm::FunctionType::get(llvm::Type::getVoidTy(ctx), {llvm::Type::getInt64Ty(ctx)}, false);
  auto* f = llvm::Function::Create(type, llvm::Function::ExternalLinkage, "f", m);
  Emitter e(m, f, DType::f32);
  nest(e, f->getArg(0));
  e.b().CreateRetVoid();
  Counts c;
  for (llvm::BasicBlock& bb : *f) {
    if (bb.getName().starts_with("loop")) ++c.loops;
    llvm::MDNode* md = bb.getTerminator()->getMetadata(llvm::LLVMContext::MD_loop);
    if (!md) continue;
    REQUIRE(md->getNumOperands() == 2);
    CHECK(md->getOperand(0) == md);  // a loop ID refers to itself
    auto* hint = llvm::cast<llvm::MDNode>(md->getOperand(1));
    CHECK(llvm::cast<llvm::MDString>(hint->getOperand(0))->getString() == "llvm.loop.unroll.full");
    ++c.marked;
  }
  return c;
}

}  // namespace

TEST_CASE("Emitter::loop marks small constant loops for unrolling, innermost first", "[codegen]") {
  int bodies = 0;
  auto body = [&](llvm::Value*) { ++bodies; };
  auto loop = [](Emitter& e, int64_t n, const std::function<void(llvm::Value*)>& b) {
    e.loop(e.i64(n), b);
  };

  // A 2x2 window: 4 copies, both loops marked; each body emitted once.
  Counts c =
      emit([&](Emitter& e, llvm::Value*) { loop(e, 2, [&](llvm::Value*) { loop(e, 2, body); }); });
  CHECK(c.loops == 2);
  CHECK(c.marked == 2);
  CHECK(bodies == 1);

  // 3 x 2 = 6 copies: only the inner loop.
  c = emit([&](Emitter& e, llvm::Value*) { loop(e, 3, [&](llvm::Value*) { loop(e, 2, body); }); });
  CHECK(c.loops == 2);
  CHECK(c.marked == 1);

  // Too many trips on their own, and a loop around one that stays a loop.
  CHECK(emit([&](Emitter& e, llvm::Value*) { loop(e, 5, body); }).marked == 0);
  c = emit([&](Emitter& e, llvm::Value* n) { loop(e, 2, [&](llvm::Value*) { e.loop(n, body); }); });
  CHECK(c.loops == 2);
  CHECK(c.marked == 0);

  // Sibling loops count once each: 2 x max(2, 2) = 4 copies.
  c = emit([&](Emitter& e, llvm::Value*) {
    loop(e, 2, [&](llvm::Value*) {
      loop(e, 2, body);
      loop(e, 2, body);
    });
  });
  CHECK(c.loops == 3);
  CHECK(c.marked == 3);

  // One trip is the body itself, zero trips nothing.
  bodies = 0;
  c = emit([&](Emitter& e, llvm::Value*) {
    loop(e, 1, body);
    loop(e, 0, body);
  });
  CHECK(c.loops == 0);
  CHECK(bodies == 1);
}
