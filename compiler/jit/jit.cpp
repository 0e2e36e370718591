#include "jit/jit.hpp"

#include <llvm/ExecutionEngine/Orc/ExecutionUtils.h>
#include <llvm/ExecutionEngine/Orc/JITTargetMachineBuilder.h>
#include <llvm/ExecutionEngine/Orc/LLJIT.h>
#include <llvm/ExecutionEngine/Orc/ThreadSafeModule.h>
#include <llvm/IR/LLVMContext.h>
#include <llvm/IR/Module.h>
#include <llvm/IR/Verifier.h>
#include <llvm/Passes/PassBuilder.h>
#include <llvm/Support/TargetSelect.h>
#include <llvm/Support/raw_ostream.h>
#include <llvm/Target/TargetMachine.h>

#include <map>
#include <mutex>
#include <stdexcept>

#include "adjoint/parallel.h"
#include "support/diagnostics.hpp"

namespace adjoint {

namespace orc = llvm::orc;

namespace {

// The one place an llvm::Error becomes ours.
[[noreturn]] void throw_llvm_error(llvm::Error err, const std::string& what) {
  throw Error(what + ": " + llvm::toString(std::move(err)));
}

template <typename T>
T take(llvm::Expected<T> v, const std::string& what) {
  if (!v) throw_llvm_error(v.takeError(), what);
  return std::move(*v);
}

void check(llvm::Error err, const std::string& what) {
  if (err) throw_llvm_error(std::move(err), what);
}

void init_native_target() {
  static std::once_flag once;
  std::call_once(once, [] {
    llvm::InitializeNativeTarget();
    llvm::InitializeNativeTargetAsmPrinter();
  });
}

// The "process symbols" JITDylib, spelled out: every module links against it,
// so libm (expf, erf, tanh) and libc (memset) resolve from this process.
llvm::Expected<orc::JITDylibSP> setup_process_symbols(orc::LLJIT& j) {
  orc::JITDylib& jd = j.getExecutionSession().createBareJITDylib("<process symbols>");
  auto gen =
      orc::DynamicLibrarySearchGenerator::GetForCurrentProcess(j.getDataLayout().getGlobalPrefix());
  if (!gen) return gen.takeError();
  jd.addGenerator(std::move(*gen));
  // The runtime functions generated code calls, by address: a program that
  // links the runtime statically does not export them dynamically.
  orc::SymbolMap runtime;
  runtime[j.mangleAndIntern("adj_parallel_for")] = {
      orc::ExecutorAddr::fromPtr(&adj_parallel_for), llvm::JITSymbolFlags::Exported};
  if (llvm::Error err = jd.define(orc::absoluteSymbols(std::move(runtime)))) return err;
  return &jd;
}

}  // namespace

void verify_module_or_throw(const llvm::Module& m) {
  std::string problems;
  llvm::raw_string_ostream os(problems);
  if (llvm::verifyModule(m, &os))
    throw std::logic_error("generated LLVM module '" + m.getName().str() + "' is malformed:\n" +
                           os.str());
}

struct Jit::Impl {
  std::unique_ptr<orc::LLJIT> jit;
  std::unique_ptr<llvm::TargetMachine> tm;  // for the optimiser's cost model
  struct Entry {
    orc::JITDylib* dylib = nullptr;
    orc::ResourceTrackerSP tracker;
  };
  std::map<ModuleKey, Entry> modules;
  ModuleKey next = 0;

  Entry& entry(ModuleKey key) {
    auto it = modules.find(key);
    if (it == modules.end()) throw std::logic_error("unknown JIT module key");
    return it->second;
  }
};

Jit::Jit() : impl_(std::make_unique<Impl>()) {
  init_native_target();
  auto jtmb = take(orc::JITTargetMachineBuilder::detectHost(), "cannot detect the host CPU");
  impl_->tm = take(jtmb.createTargetMachine(), "cannot create a target machine");
  impl_->jit = take(orc::LLJITBuilder()
                        .setJITTargetMachineBuilder(std::move(jtmb))
                        .setProcessSymbolsJITDylibSetup(setup_process_symbols)
                        .create(),
                    "cannot create the JIT");
}

Jit::~Jit() {
  if (!impl_) return;
  for (auto& [key, e] : impl_->modules) llvm::consumeError(e.tracker->remove());
  // The LLJIT ends its session as it goes; errors there have nowhere to go.
}

std::string Jit::target_triple() const { return impl_->jit->getTargetTriple().str(); }

std::string Jit::data_layout() const {
  return impl_->jit->getDataLayout().getStringRepresentation();
}

void Jit::optimize(llvm::Module& m) {
  llvm::LoopAnalysisManager lam;
  llvm::FunctionAnalysisManager fam;
  llvm::CGSCCAnalysisManager cgam;
  llvm::ModuleAnalysisManager mam;
  llvm::PassBuilder pb(impl_->tm.get());
  pb.registerModuleAnalyses(mam);
  pb.registerCGSCCAnalyses(cgam);
  pb.registerFunctionAnalyses(fam);
  pb.registerLoopAnalyses(lam);
  pb.crossRegisterProxies(lam, fam, cgam, mam);
  llvm::ModulePassManager mpm = pb.buildPerModuleDefaultPipeline(llvm::OptimizationLevel::O3);
  mpm.run(m, mam);
}

Jit::ModuleKey Jit::add(std::unique_ptr<llvm::Module>&& m,
                        std::unique_ptr<llvm::LLVMContext>&& ctx) {
  m->setDataLayout(impl_->jit->getDataLayout());
  m->setTargetTriple(impl_->jit->getTargetTriple().str());
  verify_module_or_throw(*m);
  optimize(*m);
  verify_module_or_throw(*m);  // an optimiser bug is rare, but cheap to catch here

  ModuleKey key = impl_->next++;
  auto made = impl_->jit->createJITDylib("module" + std::to_string(key));
  if (!made) throw_llvm_error(made.takeError(), "cannot create a JITDylib");
  orc::JITDylib& jd = *made;
  Impl::Entry e{&jd, jd.createResourceTracker()};
  check(impl_->jit->addIRModule(e.tracker, orc::ThreadSafeModule(std::move(m), std::move(ctx))),
        "cannot add a module to the JIT");
  impl_->modules.emplace(key, e);
  return key;
}

void* Jit::lookup(ModuleKey key, const std::string& symbol) {
  Impl::Entry& e = impl_->entry(key);
  auto addr = take(impl_->jit->lookup(*e.dylib, symbol), "cannot find '" + symbol + "'");
  return addr.toPtr<void*>();
}

void Jit::remove(ModuleKey key) {
  Impl::Entry e = impl_->entry(key);
  impl_->modules.erase(key);
  check(e.tracker->remove(), "cannot free a JIT module");
  check(impl_->jit->getExecutionSession().removeJITDylib(*e.dylib), "cannot free a JITDylib");
}

}  // namespace adjoint
