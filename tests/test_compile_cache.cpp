// The JIT's on-disk object cache: a second compile of the same model takes
// its object from disk and computes bit for bit what a fresh compile does; a
// damaged entry is noticed, rebuilt and rewritten; different models get
// different entries; a cache that cannot be written never stops a compile;
// several processes writing one entry at once leave a valid entry. Every
// test uses a temporary cache directory, never the user's.
#include <adjoint/adjoint.hpp>
#include <adjoint/safetensors.hpp>
#include <atomic>
#include <catch2/catch.hpp>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <thread>

#include "codegen/native.hpp"
#include "frontend/frontend.hpp"
#include "jit/jit.hpp"
#include "jit/object_cache.hpp"
#include "jit/sha256.hpp"
#include "stages.hpp"
#include "test_api_support.hpp"

using namespace adjoint;
using namespace adjoint::apitest;
namespace fs = std::filesystem;

namespace {

std::string example(const std::string& name) {
  return (fs::path(ADJOINT_SOURCE_DIR) / "examples" / name).string();
}

// The optimised graph of an example, as the C++ API compiles it.
Graph example_graph(const std::string& name) {
  SourceManager sm;
  uint32_t file = sm.add(name, example_text(name));
  Diagnostics diags(sm);
  std::optional<Graph> ir = compile_source(sm, file, diags);
  REQUIRE(ir);
  return run_pipeline(*ir).opt;
}

// The cache entries (not temporary files) in `dir`.
std::vector<fs::path> entries(const std::string& dir) {
  std::vector<fs::path> out;
  if (!fs::is_directory(dir)) return out;
  for (const auto& e : fs::directory_iterator(dir))
    if (e.path().extension() == ".o") out.push_back(e.path());
  return out;
}

// A model with a loss compiles as two modules, each an entry: the training
// entry points and m_forward (they compile in parallel; see native.cpp).
constexpr int kModules = 2;

// Files directly in `dir` (the shared GEMM library's entries are in dir/lib).
size_t files_in(const std::string& dir) {
  if (!fs::is_directory(dir)) return 0;
  size_t n = 0;
  for (const auto& e : fs::directory_iterator(dir)) n += !e.is_directory();
  return n;
}

// Loss, gradients and outputs of `m` on fixed inputs and params.
TensorMap results(const Model& m) {
  Inputs in = random_inputs(m, 6, 17);
  Params p = m.init_params(5);
  TensorMap out;
  if (m.has_loss()) {
    Grads g = m.make_grads(in);
    out["loss"] = DTensor({}, m.grad(in, p, g));
    for (const auto& [name, t] : g) out["grad." + name] = to_dtensor(t);
  }
  for (const auto& [name, t] : m.forward(in, p)) out["out." + name] = to_dtensor(t);
  return out;
}

// The same values, bit for bit: both runs execute the same machine code.
void check_identical(const TensorMap& a, const TensorMap& b) {
  REQUIRE(a.size() == b.size());
  for (const auto& [name, t] : a) {
    INFO(name);
    REQUIRE(b.count(name));
    CHECK(t.shape == b.at(name).shape);
    CHECK(t.data == b.at(name).data);
  }
}

TensorMap uncached_results(const std::string& file) {
  Compiler cc(CompileOptions{false, ""});
  return results(cc.compile_file(example(file)));
}

TensorMap cached_results(const std::string& file, const std::string& dir) {
  Compiler cc(CompileOptions{true, dir});
  return results(cc.compile_file(example(file)));
}

// Compiles `g` in a JIT caching in `dir` and returns what the JIT did.
JitStats compile_with_cache(const Graph& g, const std::string& dir) {
  auto jit = std::make_shared<Jit>(dir);
  NativeModel m = NativeModel::compile(g, jit);
  CHECK(m.forward_fn() != nullptr);
  return jit->stats();
}

// Sets an environment variable for one scope.
struct ScopedEnv {
  std::string name;
  std::optional<std::string> old;
  ScopedEnv(std::string n, const char* value) : name(std::move(n)) {
    if (const char* v = std::getenv(name.c_str())) old = v;
    if (value)
      ::setenv(name.c_str(), value, 1);
    else
      ::unsetenv(name.c_str());
  }
  ~ScopedEnv() {
    if (old)
      ::setenv(name.c_str(), old->c_str(), 1);
    else
      ::unsetenv(name.c_str());
  }
};

}  // namespace

TEST_CASE("sha256 gives the FIPS 180-4 digests", "[cache]") {
  CHECK(to_hex(sha256("")) == "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855");
  CHECK(to_hex(sha256("abc")) ==
        "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad");
  CHECK(to_hex(sha256("abcdbcdecdefdefgefghfghighijhijkijkljklmklmnlmnomnopnopq")) ==
        "248d6a61d20638b8e5c026930c3e6039a33ce45964ff2167f6ecedd419db06c1");
  // A million 'a's, fed in pieces that straddle the 64-byte blocks.
  std::string a(1000000, 'a');
  Sha256 h;
  for (size_t i = 0; i < a.size(); i += 7)
    h.update(a.data() + i, std::min<size_t>(7, a.size() - i));
  CHECK(to_hex(h.finish()) == "cdc76e5c9914fb9281a1c7e284d73e67f1809a48a497200e046d39ccc7112cd0");
}

TEST_CASE("a second compile of a model takes its object from the cache", "[cache]") {
  std::string dir = temp_dir("cache_hit");
  Graph g = example_graph("mlp.adj");

  JitStats first = compile_with_cache(g, dir);
  CHECK(first.cache_misses == kModules);
  CHECK(first.cache_hits == 0);
  CHECK(first.cache_stores == kModules);
  REQUIRE(entries(dir).size() == kModules);

  JitStats second = compile_with_cache(g, dir);  // a fresh JIT, as a new process has
  CHECK(second.cache_hits == kModules);
  CHECK(second.cache_misses == 0);
  CHECK(second.cache_stores == 0);
  CHECK(second.optimize_ms == 0);
  CHECK(second.codegen_ms == 0);
  CHECK(files_in(dir) == kModules);    // no temporary file left behind
  CHECK(files_in(dir + "/lib") == 1);  // the GEMM routines, compiled once for all models

  JitStats none = compile_with_cache(g, "");  // no cache: nothing counted
  CHECK(none.cache_hits + none.cache_misses + none.cache_stores == 0);
  fs::remove_all(dir);
}

TEST_CASE("cached models compute exactly what uncached ones do", "[cache]") {
  std::string dir = temp_dir("cache_same");
  for (const char* file : {"mlp.adj", "chain.adj", "embedding.adj", "xor.adj"}) {
    INFO(file);
    TensorMap want = uncached_results(file);
    check_identical(cached_results(file, dir), want);  // miss: compiled and stored
    check_identical(cached_results(file, dir), want);  // hit: loaded from disk
  }
  CHECK(entries(dir).size() == 4 * kModules);  // no collisions
  fs::remove_all(dir);
}

TEST_CASE("the same model twice in one JIT hits the second time", "[cache]") {
  std::string dir = temp_dir("cache_twice");
  auto jit = std::make_shared<Jit>(dir);
  Graph g = example_graph("chain.adj");
  NativeModel a = NativeModel::compile(g, jit);
  NativeModel b = NativeModel::compile(g, jit);  // its own JITDylib, same symbols
  CHECK(jit->stats().cache_misses == kModules);
  CHECK(jit->stats().cache_hits == kModules);
  CHECK(a.forward_fn() != b.forward_fn());
  fs::remove_all(dir);
}

TEST_CASE("a damaged cache entry is detected, rebuilt and rewritten", "[cache]") {
  Graph g = example_graph("mlp.adj");
  TensorMap want = uncached_results("mlp.adj");
  using Damage = void (*)(const fs::path&);
  const std::vector<std::pair<const char*, Damage>> damages = {
      {"truncated to half", [](const fs::path& p) { fs::resize_file(p, fs::file_size(p) / 2); }},
      {"truncated into the header", [](const fs::path& p) { fs::resize_file(p, 20); }},
      {"empty", [](const fs::path& p) { fs::resize_file(p, 0); }},
      {"one longer", [](const fs::path& p) { std::ofstream(p, std::ios::app) << 'x'; }},
      {"a payload byte flipped",
       [](const fs::path& p) {
         std::fstream f(p, std::ios::in | std::ios::out | std::ios::binary);
         f.seekg(static_cast<std::streamoff>(fs::file_size(p) - 100));
         char c = static_cast<char>(f.get());
         f.seekp(static_cast<std::streamoff>(fs::file_size(p) - 100));
         f.put(static_cast<char>(c ^ 0x10));
       }},
      {"a key byte flipped",
       [](const fs::path& p) {
         std::fstream f(p, std::ios::in | std::ios::out | std::ios::binary);
         f.seekp(20);
         f.put('\x5a');
       }},
      {"other bytes",
       [](const fs::path& p) { std::ofstream(p, std::ios::trunc) << "not an entry"; }},
  };
  std::string dir = temp_dir("cache_damage");
  check_identical(cached_results("mlp.adj", dir), want);
  std::vector<fs::path> files = entries(dir);
  REQUIRE(files.size() == kModules);
  for (const fs::path& entry : files) {  // each module's entry in turn
    const std::string good = slurp(entry.string());
    for (const auto& [what, damage] : damages) {
      INFO(entry.filename().string() << ": " << what);
      std::ofstream(entry, std::ios::binary | std::ios::trunc) << good;
      damage(entry);
      REQUIRE(slurp(entry.string()) != good);

      JitStats rebuilt = compile_with_cache(g, dir);
      CHECK(rebuilt.cache_rejected == 1);
      CHECK(rebuilt.cache_hits == kModules - 1);  // the other module's entry is whole
      CHECK(rebuilt.cache_misses == 1);
      CHECK(rebuilt.cache_stores == 1);
      CHECK(slurp(entry.string()) == good);  // the same object again

      check_identical(cached_results("mlp.adj", dir), want);  // from the rewritten entry
      CHECK(compile_with_cache(g, dir).cache_hits == kModules);
    }
  }
  CHECK(files_in(dir) == kModules);
  fs::remove_all(dir);
}

TEST_CASE("models that differ only slightly get different entries", "[cache]") {
  std::string dir = temp_dir("cache_distinct");
  std::string text = example_text("mlp.adj");
  std::string narrower = text;
  narrower.replace(narrower.find("f32[784, 128]"), 13, "f32[784, 127]");
  narrower.replace(narrower.find("f32[128]"), 8, "f32[127]");
  narrower.replace(narrower.find("f32[128, 10]"), 12, "f32[127, 10]");
  Compiler cc(CompileOptions{true, dir});
  Model a = cc.compile_string(text, "mlp.adj");
  Model b = cc.compile_string(narrower, "mlp.adj");
  CHECK(entries(dir).size() == 2 * kModules);
  CHECK(b.params()[0].type == "f32[784,127]");
  Compiler again(CompileOptions{true, dir});
  Model b2 = again.compile_string(narrower, "mlp.adj");  // a hit: the same entry
  CHECK(entries(dir).size() == 2 * kModules);
  check_identical(results(b2), results(b));
  check_identical(results(again.compile_string(text, "mlp.adj")), results(a));
  fs::remove_all(dir);
}

TEST_CASE("a cache directory that cannot be written does not stop a compile", "[cache]") {
  std::string dir = temp_dir("cache_unwritable");
  std::string blocker = dir + "/file";
  std::ofstream(blocker) << "a file where the cache directory should be";
  Graph g = example_graph("chain.adj");
  TensorMap want = uncached_results("chain.adj");
  for (const std::string& bad : {blocker, blocker + "/adjoint"}) {
    INFO(bad);
    JitStats st = compile_with_cache(g, bad);
    CHECK(st.cache_misses == kModules);
    CHECK(st.cache_store_failures == kModules);
    CHECK(st.cache_stores == 0);
    check_identical(cached_results("chain.adj", bad), want);
  }
  CHECK(files_in(dir) == 1);
  fs::remove_all(dir);
}

TEST_CASE("the cache directory comes from the options, XDG or HOME, unless disabled", "[cache]") {
  ScopedEnv off("ADJOINT_NO_CACHE", nullptr);
  {
    ScopedEnv xdg("XDG_CACHE_HOME", "/x/cache");
    ScopedEnv home("HOME", "/home/u");
    CHECK(resolve_cache_dir("/given") == "/given");
    CHECK(resolve_cache_dir("") == "/x/cache/adjoint");
  }
  {
    ScopedEnv xdg("XDG_CACHE_HOME", nullptr);
    ScopedEnv home("HOME", "/home/u");
    CHECK(resolve_cache_dir("") == "/home/u/.cache/adjoint");
    ScopedEnv no_home("HOME", nullptr);
    CHECK(resolve_cache_dir("") == std::nullopt);
  }
  {
    ScopedEnv zero("ADJOINT_NO_CACHE", "0");
    CHECK(resolve_cache_dir("/given") == "/given");
  }
  ScopedEnv disabled("ADJOINT_NO_CACHE", "1");
  CHECK(resolve_cache_dir("/given") == std::nullopt);
  std::string dir = temp_dir("cache_disabled");
  check_identical(cached_results("chain.adj", dir), uncached_results("chain.adj"));
  CHECK(files_in(dir) == 0);
  fs::remove_all(dir);
}

TEST_CASE("threads storing one entry at once leave a valid entry", "[cache]") {
  std::string dir = temp_dir("cache_threads");
  ObjectCache::Key key = sha256("a key");
  std::vector<std::string> objects = {std::string(300000, 'a'), std::string(200000, 'b')};
  std::atomic<int> bad_reads{0};
  std::vector<std::thread> threads;
  for (int t = 0; t < 4; ++t)
    threads.emplace_back([&, t] {
      ObjectCache cache(dir);
      for (int i = 0; i < 20; ++i) {
        CHECK(cache.store(key, objects[(t + i) % 2]));
        bool corrupt = false;
        std::optional<std::string> got = cache.load(key, corrupt);
        if (!got || corrupt || (*got != objects[0] && *got != objects[1])) ++bad_reads;
      }
    });
  for (std::thread& t : threads) t.join();
  CHECK(bad_reads == 0);
  CHECK(files_in(dir) == 1);
  fs::remove_all(dir);
}

TEST_CASE("adjc processes writing one entry at once leave a valid entry", "[cache][cli]") {
  std::string dir = temp_dir("cache_procs");
  std::string params = dir + "/p.safetensors";
  REQUIRE(run_adjc({"--no-cache", "init", example("mlp.adj"), "-o", params}).status == 0);
  {
    Compiler cc(CompileOptions{false, ""});
    Model m = cc.compile_file(example("mlp.adj"));
    SafeTensors in;
    for (const auto& [name, t] : random_inputs(m, 4, 3)) in.tensors.emplace(name, t);
    write_safetensors(dir + "/i.safetensors", in);
  }
  // Four adjc at once, each missing and storing the same entry.
  std::string cmd;
  for (int i = 0; i < 4; ++i)
    cmd += "XDG_CACHE_HOME='" + dir + "/xdg' '" + ADJC_PATH + "' grad '" + example("mlp.adj") +
           "' --params '" + params + "' --inputs '" + dir + "/i.safetensors' -o '" + dir + "/g" +
           std::to_string(i) + ".safetensors' & ";
  REQUIRE(std::system(("(" + cmd + "wait) >/dev/null 2>&1").c_str()) == 0);
  std::string cache = dir + "/xdg/adjoint";
  CHECK(files_in(cache) == kModules);
  std::string g0 = slurp(dir + "/g0.safetensors");
  CHECK(!g0.empty());
  for (int i = 1; i < 4; ++i) CHECK(slurp(dir + "/g" + std::to_string(i) + ".safetensors") == g0);

  // The entries left are whole: a Jit takes them as hits.
  CHECK(compile_with_cache(example_graph("mlp.adj"), cache).cache_hits == kModules);

  // --no-cache (before or after the command) writes nothing.
  std::string other = dir + "/xdg2";
  ScopedEnv xdg("XDG_CACHE_HOME", other.c_str());
  for (const std::vector<std::string>& args :
       {std::vector<std::string>{"--no-cache", "grad", example("mlp.adj")},
        std::vector<std::string>{"grad", example("mlp.adj"), "--no-cache"}}) {
    std::vector<std::string> a = args;
    for (const char* w : {"--params", params.c_str(), "--inputs"}) a.push_back(w);
    a.push_back(dir + "/i.safetensors");
    a.push_back("-o");
    a.push_back(dir + "/g.safetensors");
    AdjcRun r = run_adjc(a);
    INFO(r.err);
    CHECK(r.status == 0);
    CHECK(slurp(dir + "/g.safetensors") == g0);
  }
  CHECK(files_in(other) == 0);
  fs::remove_all(dir);
}
