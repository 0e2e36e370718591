// An in-process JIT for generated modules: LLVM's ORC LLJIT for the host CPU.
//
// Each module goes into a JITDylib of its own under a resource tracker, so two
// models may define the same symbols (`m_grad`) and each can be freed alone.
// Modules are verified (the Debian LLVM has assertions off, so a malformed
// module would otherwise miscompile silently) and optimised at O3 before they
// are added: ORC itself runs no IR passes. Symbols the code calls but does not
// define (expf, erf, tanh, memset...) resolve from the running process.
//
// LLVM types stay out of this header; llvm::Error becomes adjoint::Error here
// and nowhere else.
#pragma once

#include <cstdint>
#include <memory>
#include <string>

namespace llvm {
class LLVMContext;
class Module;
}  // namespace llvm

namespace adjoint {

class Jit {
 public:
  // A JIT for the host CPU and its features; throws Error when LLVM cannot
  // set one up.
  Jit();
  ~Jit();
  Jit(const Jit&) = delete;
  Jit& operator=(const Jit&) = delete;

  // The host's target triple and data layout, for modules made for this JIT.
  std::string target_triple() const;
  std::string data_layout() const;

  // Runs the O3 pipeline for the host on `m` in place (also used by
  // `emit --stage=llvm`).
  void optimize(llvm::Module& m);

  // Verifies `m` (std::logic_error listing the problems: a malformed module
  // is a compiler bug), optimises it and adds it; returns the key for lookups.
  using ModuleKey = uint64_t;
  ModuleKey add(std::unique_ptr<llvm::Module>&& m, std::unique_ptr<llvm::LLVMContext>&& ctx);

  // Address of `symbol` as defined by module `key`; throws Error if missing.
  void* lookup(ModuleKey key, const std::string& symbol);

  // Frees the code and data of module `key`; the key is invalid afterwards.
  void remove(ModuleKey key);

 private:
  struct Impl;
  std::unique_ptr<Impl> impl_;
};

// Throws std::logic_error with LLVM's description of every problem in `m`.
void verify_module_or_throw(const llvm::Module& m);

}  // namespace adjoint
