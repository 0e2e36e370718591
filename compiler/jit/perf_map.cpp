#include "jit/perf_map.hpp"

#include <llvm/ExecutionEngine/JITLink/JITLink.h>
#include <llvm/ExecutionEngine/Orc/ObjectLinkingLayer.h>
#include <unistd.h>

#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <memory>
#include <mutex>
#include <string>

namespace adjoint {

namespace {

namespace jitlink = llvm::jitlink;
namespace orc = llvm::orc;

// GCC 12 warns that llvm::unique_function's storage "may be used
// uninitialized" when a lambda is moved into a pass list: a false positive
// inside LLVM's header.
#pragma GCC diagnostic push
#pragma GCC diagnostic ignored "-Wmaybe-uninitialized"

class PerfMapPlugin : public orc::ObjectLinkingLayer::Plugin {
 public:
  void modifyPassConfig(orc::MaterializationResponsibility&, jitlink::LinkGraph&,
                        jitlink::PassConfiguration& config) override {
    // A call to a local function in the same section needs no relocation,
    // so nothing keeps its symbol alive and pruning would drop the name.
    config.PrePrunePasses.push_back([](jitlink::LinkGraph& g) {
      for (jitlink::Symbol* s : g.defined_symbols())
        if (s->hasName() && s->isCallable()) s->setLive(true);
      return llvm::Error::success();
    });
    // After fixups every symbol has its final address.
    config.PostFixupPasses.push_back([this](jitlink::LinkGraph& g) {
      write(g);
      return llvm::Error::success();
    });
  }
  llvm::Error notifyFailed(orc::MaterializationResponsibility&) override {
    return llvm::Error::success();
  }
  llvm::Error notifyRemovingResources(orc::JITDylib&, orc::ResourceKey) override {
    return llvm::Error::success();
  }
  void notifyTransferringResources(orc::JITDylib&, orc::ResourceKey, orc::ResourceKey) override {}

 private:
  void write(jitlink::LinkGraph& g) {
    std::lock_guard<std::mutex> lock(mutex_);
    std::string path = "/tmp/perf-" + std::to_string(getpid()) + ".map";
    std::FILE* f = std::fopen(path.c_str(), "a");
    if (!f) return;  // a profiling aid: no map, no names, nothing else lost
    for (jitlink::Symbol* s : g.defined_symbols()) {
      if (!s->hasName() || !s->isCallable() || s->getSize() == 0) continue;
      std::fprintf(f, "%llx %llx %s\n", static_cast<unsigned long long>(s->getAddress().getValue()),
                   static_cast<unsigned long long>(s->getSize()), s->getName().str().c_str());
    }
    std::fclose(f);
  }
  std::mutex mutex_;
};

#pragma GCC diagnostic pop

}  // namespace

void enable_perf_map_if_asked(orc::LLJIT& jit) {
  const char* v = std::getenv("ADJOINT_PERF_MAP");
  if (!v || !*v || std::strcmp(v, "0") == 0) return;
  if (auto* layer = llvm::dyn_cast<orc::ObjectLinkingLayer>(&jit.getObjLinkingLayer()))
    layer->addPlugin(std::make_unique<PerfMapPlugin>());
}

}  // namespace adjoint
