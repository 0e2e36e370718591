// An in-process JIT for generated modules: LLVM's ORC LLJIT for the host CPU.
//
// Each module goes into a JITDylib of its own under a resource tracker, so two
// models may define the same symbols (`m_grad`) and each can be freed alone.
// Modules are verified (the Debian LLVM has assertions off, so a malformed
// module would otherwise miscompile silently) and optimised before they are
// added (models at O3, libraries by a short pipeline: their IR is vectorised
// by hand): ORC itself runs no IR passes. Symbols the code calls but does not
// define (expf, erf, tanh, memset...) resolve from the running process.
//
// A JIT may keep an on-disk object cache (jit/object_cache.hpp): the key is
// a SHA-256 of the module (as bitcode) before optimisation, the target
// (triple, CPU, features), the LLVM version, the optimiser pipeline and the
// cache format, so a hit gives exactly the object a miss would compile, and
// skips the optimiser and codegen.
//
// LLVM types stay out of this header; llvm::Error becomes adjoint::Error here
// and nowhere else.
#pragma once

#include <cstdint>
#include <memory>
#include <string>

namespace llvm {
class LLVMContext;
class MemoryBuffer;
class Module;
namespace orc {
class JITDylib;
}  // namespace orc
}  // namespace llvm

namespace adjoint {

// What a JIT did, summed over its add()s (the times in milliseconds).
struct JitStats {
  int modules = 0;
  int cache_hits = 0, cache_misses = 0;
  int cache_rejected = 0;  // entries there but invalid (then rebuilt)
  int cache_stores = 0, cache_store_failures = 0;
  double key_ms = 0, load_ms = 0, optimize_ms = 0, codegen_ms = 0, store_ms = 0;

  JitStats& operator+=(const JitStats& o);
};

class Jit {
 public:
  // A JIT for the host CPU and its features; throws Error when LLVM cannot
  // set one up. Without `cache_dir` (or with "") it keeps no object cache;
  // the directory is made on the first store.
  Jit();
  explicit Jit(const std::string& cache_dir);
  ~Jit();
  Jit(const Jit&) = delete;
  Jit& operator=(const Jit&) = delete;

  // The host's target triple and data layout, for modules made for this JIT.
  std::string target_triple() const;
  std::string data_layout() const;

  // Runs the models' O3 pipeline for the host on `m` in place (also used
  // by `emit --stage=llvm`).
  void optimize(llvm::Module& m);

  // Optimises `m` as add() would and returns the host assembly it compiles
  // to (for `emit --stage=asm`); adds nothing to the JIT.
  std::string assembly(llvm::Module& m);

  // Ahead-of-time: optimises `model` with the models' pipeline and `library`
  // (may be null) with the libraries', links the library in with its
  // symbols made internal (so that several models' objects link into one
  // program), and returns a relocatable object for the host CPU.
  std::string object_file(std::unique_ptr<llvm::Module> model,
                          std::unique_ptr<llvm::Module> library);

  // Verifies `m` (std::logic_error listing the problems: a malformed module
  // is a compiler bug), optimises and compiles it (or takes its object from
  // the cache) and adds it; returns the key for lookups.
  using ModuleKey = uint64_t;
  ModuleKey add(std::unique_ptr<llvm::Module>&& m, std::unique_ptr<llvm::LLVMContext>&& ctx);

  // Shared routines (the generated GEMM) that every module added links
  // against: `make` builds library `name`'s module the first time it is
  // asked for (compiled and cached like any module), later calls do nothing.
  using LibraryMaker = std::unique_ptr<llvm::Module> (*)(llvm::LLVMContext&, int kind);
  void ensure_library(const std::string& name, LibraryMaker make, int kind);

  // Address of `symbol` as defined by module `key`; throws Error if missing.
  void* lookup(ModuleKey key, const std::string& symbol);

  // Frees the code and data of module `key`; the key is invalid afterwards.
  void remove(ModuleKey key);

  // The object cache's directory ("" when there is none) and the counters.
  const std::string& cache_dir() const;
  JitStats stats() const;  // a copy, taken under the lock

 private:
  void for_host(llvm::Module& m) const;  // this JIT's target triple and data layout
  llvm::orc::JITDylib& library_dylib();
  std::unique_ptr<llvm::MemoryBuffer> object_for(std::unique_ptr<llvm::Module>&& m,
                                                 std::unique_ptr<llvm::LLVMContext>&& ctx,
                                                 bool library = false);
  struct Impl;
  std::unique_ptr<Impl> impl_;
};

// Throws std::logic_error with LLVM's description of every problem in `m`.
void verify_module_or_throw(const llvm::Module& m);

}  // namespace adjoint
