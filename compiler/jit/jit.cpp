#include "jit/jit.hpp"

#include <llvm/Analysis/TargetLibraryInfo.h>
#include <llvm/Bitcode/BitcodeWriter.h>
#include <llvm/Config/llvm-config.h>
#include <llvm/ExecutionEngine/Orc/CompileUtils.h>
#include <llvm/ExecutionEngine/Orc/ExecutionUtils.h>
#include <llvm/ExecutionEngine/Orc/JITTargetMachineBuilder.h>
#include <llvm/ExecutionEngine/Orc/LLJIT.h>
#include <llvm/ExecutionEngine/Orc/ThreadSafeModule.h>
#include <llvm/IR/LLVMContext.h>
#include <llvm/IR/LegacyPassManager.h>
#include <llvm/IR/Module.h>
#include <llvm/IR/Verifier.h>
#include <llvm/Linker/Linker.h>
#include <llvm/Passes/PassBuilder.h>
#include <llvm/Support/CommandLine.h>
#include <llvm/Support/DynamicLibrary.h>
#include <llvm/Support/MemoryBuffer.h>
#include <llvm/Support/StringSaver.h>
#include <llvm/Support/TargetSelect.h>
#include <llvm/Support/raw_ostream.h>
#include <llvm/Target/TargetMachine.h>

#include <chrono>
#include <cstdlib>
#include <map>
#include <mutex>
#include <optional>
#include <set>
#include <stdexcept>

#include "adjoint/parallel.h"
#include "jit/object_cache.hpp"
#include "jit/perf_map.hpp"
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

// `m` as assembly text or an object file, by LLVM's code generator.
std::string emit_file(llvm::TargetMachine& target, llvm::Module& m, llvm::CodeGenFileType type) {
  llvm::SmallVector<char, 0> bytes;
  llvm::raw_svector_ostream os(bytes);
  llvm::legacy::PassManager pm;
  if (target.addPassesToEmitFile(pm, os, nullptr, type))
    throw Error("LLVM cannot write code for this target");
  pm.run(m);
  return std::string(bytes.begin(), bytes.end());
}

void check(llvm::Error err, const std::string& what) {
  if (err) throw_llvm_error(std::move(err), what);
}

void init_native_target() {
  static std::once_flag once;
  std::call_once(once, [] {
    llvm::InitializeNativeTarget();
    llvm::InitializeNativeTargetAsmPrinter();
    // For experiments and bug reports: LLVM's own options, as `llc` takes
    // them ("-disable-lsr -print-after=loop-vectorize"), read once.
    if (const char* opts = std::getenv("ADJOINT_LLVM_OPTIONS")) {
      llvm::BumpPtrAllocator arena;
      llvm::StringSaver saver(arena);
      llvm::SmallVector<const char*, 8> argv{"adjoint"};
      llvm::cl::TokenizeGNUCommandLine(opts, saver, argv);
      llvm::cl::ParseCommandLineOptions(static_cast<int>(argv.size()), argv.data(), "",
                                        &llvm::errs());
    }
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
  runtime[j.mangleAndIntern("adj_parallel_for")] = {orc::ExecutorAddr::fromPtr(&adj_parallel_for),
                                                    llvm::JITSymbolFlags::Exported};
  runtime[j.mangleAndIntern("adj_parallel_width")] = {
      orc::ExecutorAddr::fromPtr(&adj_parallel_width), llvm::JITSymbolFlags::Exported};
  if (llvm::Error err = jd.define(orc::absoluteSymbols(std::move(runtime)))) return err;
  return &jd;
}

// Feeds what LLVM writes straight into a hash, so a large module is never
// held in memory twice.
class HashStream final : public llvm::raw_ostream {
 public:
  explicit HashStream(Sha256& h) : h_(h) { SetBufferSize(1 << 16); }
  ~HashStream() override { flush(); }

 private:
  void write_impl(const char* p, size_t n) override {
    h_.update(p, n);
    pos_ += n;
  }
  uint64_t current_pos() const override { return pos_; }
  Sha256& h_;
  uint64_t pos_ = 0;
};

// The optimiser pipelines, each part of the cache keys of the modules it
// runs on, so a change here never reuses objects built the other way.
//
// Models: O3 with LLVM's loop unroller off (it multiplied compile time by
// about 3.6 for no measured gain; loops that Emitter::loop marks
// llvm.loop.unroll.full are still unrolled) and the loop vectoriser's
// interleaving off (vectorised loops kept at one vector an iteration: the mlp model's
// optimised IR is 14% smaller and it compiles 10-25% faster, with no
// measured change in the mlp, chain, tiny or mid steps).
constexpr const char* kModelPipeline = "O3-nounroll-nointerleave";

// Libraries (the generated GEMM): their IR is vectorised, unrolled and
// blocked by hand, so O3's vectorisers, unswitching and the like find
// nothing to do there (unswitching only duplicated loops). What is left is
// promoting the generator's locals to registers, folding its address
// arithmetic, putting loops in the form codegen's strength reduction likes
// (rotated, one canonical counter) and hoisting invariants. With this the
// library optimises ~5x faster than under O3, its code is 20% smaller, and
// its inner loops (micro-kernel, GEMV) compile to the same instructions.
constexpr const char* kLibraryPipeline =
    "function(sroa,early-cse,instcombine,simplifycfg,loop(loop-rotate,indvars),"
    "loop-mssa(licm),gvn,instcombine,simplifycfg)";

// glibc's vector math library (expf, logf, sinf... on 4, 8 or 16 lanes), so
// loops calling them vectorise; false when it cannot be loaded.
bool have_libmvec() {
  static const bool loaded = [] {
    std::string err;
    return !llvm::sys::DynamicLibrary::LoadLibraryPermanently("libmvec.so.1", &err);
  }();
  return loaded;
}

// One length-prefixed field of a key, so fields cannot run into each other.
void key_field(Sha256& h, std::string_view s) {
  uint64_t n = s.size();
  h.update(&n, sizeof n);
  h.update(s);
}

double ms_since(std::chrono::steady_clock::time_point t0) {
  return std::chrono::duration<double, std::milli>(std::chrono::steady_clock::now() - t0).count();
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
  // Configured as the LLJIT configures its own (see Jit::Jit): the optimiser's
  // cost model and the compiler of every object.
  std::unique_ptr<llvm::TargetMachine> tm;  // for the cache keys and the data layout
  // Makes a target machine like `tm` for each compile: a TargetMachine is
  // not safe to share between threads, and a library and a model may
  // compile at the same time (NativeModel::compile).
  std::optional<orc::JITTargetMachineBuilder> tm_builder;
  std::optional<ObjectCache> cache, library_cache;
  JitStats library_stats;  // what ensure_library did (stats() counts models only)
  std::string cache_dir;
  JitStats stats;
  struct Entry {
    orc::JITDylib* dylib = nullptr;
    orc::ResourceTrackerSP tracker;
  };
  std::map<ModuleKey, Entry> modules;
  ModuleKey next = 0;
  orc::JITDylib* library = nullptr;  // shared routines, in every module's link order
  std::set<std::string> libraries;   // names of those added
  std::mutex mu;

  // A copy: `modules` changes under other threads' add()s (take `mu` first).
  Entry entry(ModuleKey key) {
    std::lock_guard<std::mutex> lock(mu);
    auto it = modules.find(key);
    if (it == modules.end()) throw std::logic_error("unknown JIT module key");
    return it->second;
  }

  ObjectCache::Key cache_key(const llvm::Module& m, bool library) const;
  std::unique_ptr<llvm::MemoryBuffer> compile(llvm::Module& m, bool library, JitStats& stats);
  void optimize(llvm::Module& m, bool library, llvm::TargetMachine& target);
};

// Everything the object depends on: the IR as lowered (before optimisation),
// the target and its features, the compiler (LLVM version) and how we drive
// it (pipeline, format version).
ObjectCache::Key Jit::Impl::cache_key(const llvm::Module& m, bool library) const {
  Sha256 h;
  key_field(h, "adjoint object cache");
  key_field(h, std::to_string(kObjectCacheFormat));
  key_field(h, LLVM_VERSION_STRING);
  key_field(h, tm->getTargetTriple().str());
  key_field(h, tm->getTargetCPU());
  key_field(h, tm->getTargetFeatureString());
  key_field(h, library ? kLibraryPipeline : kModelPipeline);
  key_field(h, have_libmvec() ? "libmvec" : "no-veclib");
  {
    // The module as bitcode: everything its text says, written ~10x faster
    // than the text is printed (1.5 ms against 15 ms for mlp.adj).
    HashStream os(h);
    llvm::WriteBitcodeToFile(m, os);
  }
  return h.finish();
}

// Optimises and compiles `m` to an object in memory.
std::unique_ptr<llvm::MemoryBuffer> Jit::Impl::compile(llvm::Module& m, bool library,
                                                       JitStats& stats) {
  auto t0 = std::chrono::steady_clock::now();
  std::unique_ptr<llvm::TargetMachine> target =
      take(tm_builder->createTargetMachine(), "cannot create a target machine");
  optimize(m, library, *target);
  verify_module_or_throw(m);  // an optimiser bug is rare, but cheap to catch here
  stats.optimize_ms += ms_since(t0);
  t0 = std::chrono::steady_clock::now();
  orc::SimpleCompiler compiler(*target);
  auto obj = take(compiler(m), "cannot compile module '" + m.getName().str() + "'");
  stats.codegen_ms += ms_since(t0);
  return obj;
}

Jit::Jit() : Jit(std::string()) {}

Jit::Jit(const std::string& cache_dir) : impl_(std::make_unique<Impl>()) {
  init_native_target();
  auto jtmb = take(orc::JITTargetMachineBuilder::detectHost(), "cannot detect the host CPU");
  // What LLJITBuilder sets for JITLink on x86-64 and AArch64 ELF: our objects
  // are compiled with this target machine and must be what LLJIT would make.
  if (!jtmb.getCodeModel()) jtmb.setCodeModel(llvm::CodeModel::Small);
  jtmb.setRelocationModel(llvm::Reloc::PIC_);
  impl_->tm = take(jtmb.createTargetMachine(), "cannot create a target machine");
  impl_->tm_builder.emplace(jtmb);
  impl_->jit = take(orc::LLJITBuilder()
                        .setJITTargetMachineBuilder(std::move(jtmb))
                        .setProcessSymbolsJITDylibSetup(setup_process_symbols)
                        .create(),
                    "cannot create the JIT");
  enable_perf_map_if_asked(*impl_->jit);
  if (!cache_dir.empty()) {
    impl_->cache.emplace(cache_dir);
    // Libraries apart, so a model's entries are the only ones beside it.
    impl_->library_cache.emplace(cache_dir + "/lib");
    impl_->cache_dir = cache_dir;
  }
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
  for_host(m);
  std::unique_ptr<llvm::TargetMachine> target =
      take(impl_->tm_builder->createTargetMachine(), "cannot create a target machine");
  impl_->optimize(m, false, *target);
}

std::string Jit::assembly(llvm::Module& m) {
  for_host(m);
  std::unique_ptr<llvm::TargetMachine> target =
      take(impl_->tm_builder->createTargetMachine(), "cannot create a target machine");
  impl_->optimize(m, false, *target);
  return emit_file(*target, m, llvm::CodeGenFileType::AssemblyFile);
}

std::string Jit::object_file(std::unique_ptr<llvm::Module> model,
                             std::unique_ptr<llvm::Module> library) {
  for_host(*model);
  if (library) for_host(*library);
  std::unique_ptr<llvm::TargetMachine> target =
      take(impl_->tm_builder->createTargetMachine(), "cannot create a target machine");
  impl_->optimize(*model, false, *target);
  if (library) {
    impl_->optimize(*library, true, *target);
    std::vector<std::string> defined;
    for (llvm::GlobalValue& gv : library->global_values())
      if (!gv.isDeclaration()) defined.push_back(gv.getName().str());
    if (llvm::Linker::linkModules(*model, std::move(library)))
      throw std::logic_error("cannot link the GEMM library into the model");
    for (const std::string& name : defined)
      if (llvm::GlobalValue* gv = model->getNamedValue(name))
        gv->setLinkage(llvm::GlobalValue::InternalLinkage);
  }
  verify_module_or_throw(*model);
  return emit_file(*target, *model, llvm::CodeGenFileType::ObjectFile);
}

// Runs kModelPipeline or kLibraryPipeline on `m` in place.
void Jit::Impl::optimize(llvm::Module& m, bool library, llvm::TargetMachine& target) {
  llvm::LoopAnalysisManager lam;
  llvm::FunctionAnalysisManager fam;
  llvm::CGSCCAnalysisManager cgam;
  llvm::ModuleAnalysisManager mam;
  llvm::PipelineTuningOptions tuning;
  tuning.LoopUnrolling = false;
  tuning.LoopInterleaving = false;
  llvm::PassBuilder pb(&target, tuning);
  // Registered before the defaults, so this TargetLibraryInfo is the one used.
  llvm::Triple triple(m.getTargetTriple());
  llvm::TargetLibraryInfoImpl tlii(triple);
  if (have_libmvec())
    tlii.addVectorizableFunctionsFromVecLib(llvm::TargetLibraryInfoImpl::LIBMVEC_X86, triple);
  fam.registerPass([&] { return llvm::TargetLibraryAnalysis(tlii); });
  pb.registerModuleAnalyses(mam);
  pb.registerCGSCCAnalyses(cgam);
  pb.registerFunctionAnalyses(fam);
  pb.registerLoopAnalyses(lam);
  pb.crossRegisterProxies(lam, fam, cgam, mam);
  llvm::ModulePassManager mpm;
  if (library) {
    // A fixed string: a parse error is our bug.
    if (llvm::Error err = pb.parsePassPipeline(mpm, kLibraryPipeline))
      throw std::logic_error("bad library pipeline: " + llvm::toString(std::move(err)));
  } else {
    // O3 as kModelPipeline says (the tuning above is the rest of it).
    mpm = pb.buildPerModuleDefaultPipeline(llvm::OptimizationLevel::O3);
  }
  mpm.run(m, mam);
}

Jit::ModuleKey Jit::add(std::unique_ptr<llvm::Module>&& m,
                        std::unique_ptr<llvm::LLVMContext>&& ctx) {
  std::unique_ptr<llvm::MemoryBuffer> obj = object_for(std::move(m), std::move(ctx));
  std::lock_guard<std::mutex> lock(impl_->mu);
  ModuleKey key = impl_->next++;
  auto made = impl_->jit->createJITDylib("module" + std::to_string(key));
  if (!made) throw_llvm_error(made.takeError(), "cannot create a JITDylib");
  orc::JITDylib& jd = *made;
  jd.addToLinkOrder(library_dylib());
  Impl::Entry e{&jd, jd.createResourceTracker()};
  check(impl_->jit->addObjectFile(e.tracker, std::move(obj)), "cannot add a module to the JIT");
  impl_->modules.emplace(key, e);
  ++impl_->stats.modules;
  return key;
}

orc::JITDylib& Jit::library_dylib() {
  if (!impl_->library) {
    auto made = impl_->jit->createJITDylib("<adjoint library>");
    if (!made) throw_llvm_error(made.takeError(), "cannot create a JITDylib");
    impl_->library = &*made;
  }
  return *impl_->library;
}

void Jit::ensure_library(const std::string& name, LibraryMaker make, int kind) {
  {
    std::lock_guard<std::mutex> lock(impl_->mu);
    if (impl_->libraries.count(name)) return;
  }
  auto ctx = std::make_unique<llvm::LLVMContext>();
  std::unique_ptr<llvm::Module> m = make(*ctx, kind);
  std::unique_ptr<llvm::MemoryBuffer> obj = object_for(std::move(m), std::move(ctx), true);
  std::lock_guard<std::mutex> lock(impl_->mu);
  if (!impl_->libraries.insert(name).second) return;  // another thread was first
  check(impl_->jit->addObjectFile(library_dylib(), std::move(obj)),
        "cannot add library '" + name + "' to the JIT");
}

void Jit::for_host(llvm::Module& m) const {
  m.setDataLayout(impl_->jit->getDataLayout());
  m.setTargetTriple(impl_->jit->getTargetTriple().str());
}

// Verifies `m`, then takes its object from the cache or compiles it.
std::unique_ptr<llvm::MemoryBuffer> Jit::object_for(std::unique_ptr<llvm::Module>&& m,
                                                    std::unique_ptr<llvm::LLVMContext>&& ctx,
                                                    bool library) {
  for_host(*m);
  verify_module_or_throw(*m);

  std::unique_ptr<llvm::MemoryBuffer> obj;
  // Counted apart, then added under the lock: modules compile concurrently.
  JitStats st;
  std::optional<ObjectCache>& cache = library ? impl_->library_cache : impl_->cache;
  std::optional<ObjectCache::Key> cache_key;
  if (cache) {
    auto t0 = std::chrono::steady_clock::now();
    cache_key = impl_->cache_key(*m, library);
    st.key_ms += ms_since(t0);
    t0 = std::chrono::steady_clock::now();
    bool corrupt = false;
    if (std::optional<std::string> hit = cache->load(*cache_key, corrupt))
      obj = llvm::MemoryBuffer::getMemBufferCopy(*hit, m->getName());
    st.load_ms += ms_since(t0);
    ++(obj ? st.cache_hits : st.cache_misses);
    st.cache_rejected += corrupt;
  }
  if (!obj) {
    obj = impl_->compile(*m, library, st);
    if (cache_key) {
      auto t0 = std::chrono::steady_clock::now();
      bool stored = cache->store(*cache_key, obj->getBuffer());
      ++(stored ? st.cache_stores : st.cache_store_failures);
      st.store_ms += ms_since(t0);
    }
  }
  m.reset();  // the object is all the JIT needs from here on
  ctx.reset();
  std::lock_guard<std::mutex> lock(impl_->mu);
  (library ? impl_->library_stats : impl_->stats) += st;
  return obj;
}

void* Jit::lookup(ModuleKey key, const std::string& symbol) {
  Impl::Entry e = impl_->entry(key);
  auto addr = take(impl_->jit->lookup(*e.dylib, symbol), "cannot find '" + symbol + "'");
  return addr.toPtr<void*>();
}

void Jit::remove(ModuleKey key) {
  Impl::Entry e = impl_->entry(key);
  {
    std::lock_guard<std::mutex> lock(impl_->mu);
    impl_->modules.erase(key);
  }
  check(e.tracker->remove(), "cannot free a JIT module");
  check(impl_->jit->getExecutionSession().removeJITDylib(*e.dylib), "cannot free a JITDylib");
}

const std::string& Jit::cache_dir() const { return impl_->cache_dir; }
JitStats Jit::stats() const {
  std::lock_guard<std::mutex> lock(impl_->mu);
  return impl_->stats;
}

JitStats& JitStats::operator+=(const JitStats& o) {
  modules += o.modules;
  cache_hits += o.cache_hits, cache_misses += o.cache_misses;
  cache_rejected += o.cache_rejected;
  cache_stores += o.cache_stores, cache_store_failures += o.cache_store_failures;
  key_ms += o.key_ms, load_ms += o.load_ms, optimize_ms += o.optimize_ms;
  codegen_ms += o.codegen_ms, store_ms += o.store_ms;
  return *this;
}

}  // namespace adjoint
