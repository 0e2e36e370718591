// The adjc command as a user runs it: init -> grad -> forward on safetensors
// files, read back and compared with the reference evaluator, and its errors
// (missing files, bad shapes, usage) with their exit statuses.
#include <sys/wait.h>

#include <adjoint/adjoint.hpp>
#include <adjoint/safetensors.hpp>
#include <catch2/catch.hpp>
#include <cstdlib>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <sstream>

#include "support/native_check.hpp"
#include "test_api_support.hpp"

using namespace adjoint;
using namespace adjoint::apitest;
using Catch::Contains;
namespace fs = std::filesystem;

namespace {

using Result = AdjcRun;

Result adjc(const std::vector<std::string>& args) { return run_adjc(args); }

std::string example(const std::string& name) {
  return (fs::path(ADJOINT_SOURCE_DIR) / "examples" / name).string();
}

void write_tensors(const std::string& path, const NamedTensors& ts) {
  SafeTensors st;
  for (const auto& [name, t] : ts) st.tensors.emplace(name, t);
  write_safetensors(path, st);
}

// A safetensors file written by hand, the way PyTorch writes integer labels:
// `x` as F32 and `y` as I64.
void write_with_i64_labels(const std::string& path, const Tensor& x,
                           const std::vector<int64_t>& y) {
  std::string header = "{\"x\":{\"dtype\":\"F32\",\"shape\":[" + std::to_string(x.dim(0)) + "," +
                       std::to_string(x.dim(1)) + "],\"data_offsets\":[0," +
                       std::to_string(x.bytes()) + "]},\"y\":{\"dtype\":\"I64\",\"shape\":[" +
                       std::to_string(y.size()) + "],\"data_offsets\":[" +
                       std::to_string(x.bytes()) + "," + std::to_string(x.bytes() + 8 * y.size()) +
                       "]}}";
  std::ofstream out(path, std::ios::binary);
  uint64_t n = header.size();  // little-endian on every machine this builds for
  out.write(reinterpret_cast<const char*>(&n), 8);
  out << header;
  out.write(static_cast<const char*>(x.raw()), static_cast<std::streamsize>(x.bytes()));
  out.write(reinterpret_cast<const char*>(y.data()), static_cast<std::streamsize>(8 * y.size()));
}

// `native` (read back from adjc's output) against the reference on the same tensors.
void check_reference(const std::string& file, const SafeTensors& got, const Inputs& in,
                     const Params& p, bool grads, double rtol) {
  TensorMap ref = reference_results(example_text(file), in, p);
  TensorMap want, have;
  for (const auto& [name, t] : ref) {
    bool is_grad = name == "loss" || name.rfind("grad.", 0) == 0;
    if (is_grad == grads || name == "loss") want[name] = t;
  }
  for (const auto& [name, t] : got.tensors) have[name] = to_dtensor(t);
  testing::Comparison c = testing::compare_results(have, want, rtol);
  INFO(c.report);
  CHECK(c.ok);
  CHECK(have.size() == want.size());
}

}  // namespace

TEST_CASE("adjc init, grad and forward round trip", "[cli]") {
  for (const char* file : {"mlp.adj", "chain.adj", "embedding.adj"}) {
    INFO(file);
    std::string dir = temp_dir("cli");
    std::string params = dir + "/p.safetensors", inputs = dir + "/i.safetensors";
    std::string grads = dir + "/g.safetensors", outs = dir + "/o.safetensors";
    Result init = adjc({"init", example(file), "-o", params, "--seed", "3"});
    INFO(init.err);
    REQUIRE(init.status == 0);

    // The params are what the API's init_params gives for that seed.
    Compiler cc;
    Model m = cc.compile_file(example(file));
    SafeTensors p_file = read_safetensors(params);
    Params p = m.init_params(3);
    REQUIRE(p_file.tensors.size() == p.size());
    for (const auto& [name, t] : p) CHECK(p_file.tensors.at(name).equals(t));

    Inputs in = random_inputs(m, 5, 11);
    write_tensors(inputs, in);
    Result g = adjc({"grad", example(file), "--params", params, "--inputs", inputs, "-o", grads});
    INFO(g.err);
    REQUIRE(g.status == 0);
    SafeTensors got = read_safetensors(grads);
    const Tensor& loss = got.tensors.at("loss");
    CHECK(loss.shape().empty());
    CHECK(loss.dtype() == m.float_type());
    for (const std::string& w : m.wrt()) CHECK(got.tensors.count("grad." + w));
    double rtol = m.float_type() == ElemType::f64 ? 1e-12 : 1e-5;
    check_reference(file, got, in, p, true, rtol);

    Result f =
        adjc({"forward", example(file), "--params=" + params, "--inputs=" + inputs, "-o", outs});
    INFO(f.err);
    REQUIRE(f.status == 0);
    SafeTensors fwd = read_safetensors(outs);
    CHECK(fwd.tensors.count("loss"));
    for (const std::string& o : m.output_names()) CHECK(fwd.tensors.count(o));
    check_reference(file, fwd, in, p, false, rtol);
    fs::remove_all(dir);
  }
}

TEST_CASE("adjc init is deterministic and takes a seed", "[cli]") {
  std::string dir = temp_dir("cli_init");
  std::string a = dir + "/a.safetensors", b = dir + "/b.safetensors", c = dir + "/c.safetensors";
  REQUIRE(adjc({"init", example("xor.adj"), "-o", a}).status == 0);
  REQUIRE(adjc({"init", example("xor.adj"), "-o", b, "--seed", "0"}).status == 0);
  REQUIRE(adjc({"init", example("xor.adj"), "-o", c, "--seed=5"}).status == 0);
  CHECK(slurp(a) == slurp(b));  // the default seed is 0
  CHECK(slurp(a) != slurp(c));
  fs::remove_all(dir);
}

TEST_CASE("adjc init takes --dim for params of symbolic sizes", "[cli]") {
  std::string dir = temp_dir("cli_init_dim");
  std::string model = dir + "/m.adj", out = dir + "/p.safetensors";
  std::ofstream(model) << "input x : f32[B, D]\nparam W : f32[D, 3] = he_normal\n"
                          "loss = sum(x @ W)\nminimize loss\n";
  Result r = adjc({"init", model, "-o", out});
  CHECK(r.status == 1);
  CHECK_THAT(r.err, Contains("param 'W' is f32[D,3]") && Contains("--dim D=N"));
  CHECK(!fs::exists(out));
  REQUIRE(adjc({"init", model, "-o", out, "--dim", "D=7"}).status == 0);
  CHECK(read_safetensors(out).tensors.at("W").shape() == std::vector<int64_t>{7, 3});
  CHECK(adjc({"init", model, "-o", out, "--dim", "D=0"}).status == 2);
  fs::remove_all(dir);
}

TEST_CASE("adjc --dim may repeat, and names only the model's sizes", "[cli]") {
  std::string dir = temp_dir("cli_dims");
  std::string model = dir + "/m.adj";
  std::ofstream(model) << "input x : f32[B, D]\nparam W : f32[D, 3]\nloss = sum(x @ W)\n"
                          "minimize loss\n";
  Result r = adjc({"cost", model, "--dim", "B=2", "--dim", "D=3"});
  CHECK(r.status == 0);
  CHECK_THAT(r.out, Contains("(B=2, D=3)"));
  r = adjc({"cost", model, "--dim", "B=2,Q=3"});
  CHECK(r.status == 1);
  CHECK_THAT(r.err, Contains("has no size symbol 'Q' (its symbols: B, D)"));
  r = adjc({"cost", model, "--dim", "B=2", "--dim", "B=3"});
  CHECK(r.status == 2);
  CHECK_THAT(r.err, Contains("--dim") && Contains("usage: adjc cost"));
  fs::remove_all(dir);
}

TEST_CASE("adjc grad reads I64 labels as PyTorch writes them", "[cli]") {
  std::string dir = temp_dir("cli_i64");
  std::string params = dir + "/p.safetensors", inputs = dir + "/i.safetensors";
  std::string grads = dir + "/g.safetensors";
  REQUIRE(adjc({"init", example("mlp.adj"), "-o", params}).status == 0);
  Compiler cc;
  Model m = cc.compile_file(example("mlp.adj"));
  Inputs in = random_inputs(m, 3, 2);
  write_with_i64_labels(inputs, in["x"], {2, 0, 9});
  in.set("y", Tensor::i32({3}, {2, 0, 9}));
  Result g =
      adjc({"grad", example("mlp.adj"), "--params", params, "--inputs", inputs, "-o", grads});
  INFO(g.err);
  REQUIRE(g.status == 0);
  check_reference("mlp.adj", read_safetensors(grads), in, m.init_params(0), true, 1e-5);
  fs::remove_all(dir);
}

TEST_CASE("adjc reports bad tensors and files without writing output", "[cli]") {
  std::string dir = temp_dir("cli_err");
  std::string params = dir + "/p.safetensors", inputs = dir + "/i.safetensors";
  std::string out = dir + "/out.safetensors";
  REQUIRE(adjc({"init", example("xor.adj"), "-o", params}).status == 0);
  auto grad = [&](const std::string& in) {
    return adjc({"grad", example("xor.adj"), "--params", params, "--inputs", in, "-o", out});
  };

  // Wrong size of x: names the tensor and both shapes; no output file.
  write_tensors(inputs, {{"x", Tensor::f32({4, 3})}, {"t", Tensor::f32({4, 1})}});
  Result r = grad(inputs);
  CHECK(r.status == 1);
  CHECK_THAT(r.err, Contains("input 'x'") && Contains("f32[4,3]") && Contains("f32[B,2]"));
  CHECK_FALSE(fs::exists(out));

  // f64 inputs for an f32 model: an error, never a silent conversion.
  write_tensors(inputs, {{"x", Tensor::f64({4, 2})}, {"t", Tensor::f32({4, 1})}});
  r = grad(inputs);
  CHECK(r.status == 1);
  CHECK_THAT(r.err, Contains("input 'x'") && Contains("f64[4,2]") && Contains("never converted"));

  // Conflicting batch sizes; a missing input.
  write_tensors(inputs, {{"x", Tensor::f32({4, 2})}, {"t", Tensor::f32({3, 1})}});
  CHECK_THAT(grad(inputs).err, Contains("size 'B'"));
  write_tensors(inputs, {{"x", Tensor::f32({4, 2})}});
  CHECK_THAT(grad(inputs).err, Contains("missing input 't'"));

  // A failed run leaves an existing output as it was.
  std::ofstream(out) << "old";
  CHECK(grad(inputs).status == 1);
  CHECK(slurp(out) == "old");

  // Missing files.
  r = grad(dir + "/none.safetensors");
  CHECK(r.status == 1);
  CHECK_THAT(r.err, Contains("none.safetensors"));
  r = adjc({"grad", dir + "/none.adj", "--params", params, "--inputs", inputs, "-o", out});
  CHECK(r.status == 1);
  CHECK_THAT(r.err, Contains("cannot read") && Contains("none.adj"));
  fs::remove_all(dir);
}

TEST_CASE("adjc usage errors exit 2 and help lists every command", "[cli]") {
  Result help = adjc({"help"});
  CHECK(help.status == 0);
  for (const char* cmd : {"check", "emit", "init", "grad", "forward", "help"})
    CHECK_THAT(help.out, Contains(std::string("  ") + cmd + " "));
  CHECK(adjc({}).status == 2);

  Result r = adjc({"frobnicate", example("xor.adj")});
  CHECK(r.status == 2);
  CHECK_THAT(r.err, Contains("unknown command 'frobnicate'"));
  r = adjc({"init", example("xor.adj")});
  CHECK(r.status == 2);
  CHECK_THAT(r.err, Contains("missing -o"));
  r = adjc({"init", example("xor.adj"), "-o", "/tmp/x", "--seed", "-3"});
  CHECK(r.status == 2);
  CHECK_THAT(r.err, Contains("--seed"));
  r = adjc({"grad", example("xor.adj"), "-o", "/tmp/x"});
  CHECK(r.status == 2);
  CHECK_THAT(r.err, Contains("missing --params"));
  r = adjc({"grad", example("xor.adj"), "--bogus", "1"});
  CHECK(r.status == 2);
  CHECK_THAT(r.err, Contains("unknown option '--bogus'"));
  r = adjc({"init", "-o", "/tmp/x"});
  CHECK(r.status == 2);
  CHECK_THAT(r.err, Contains("needs a FILE"));
  r = adjc({"init", example("xor.adj"), "-o"});
  CHECK(r.status == 2);
  CHECK_THAT(r.err, Contains("needs a value"));
}

TEST_CASE("adjc check and emit still work; compile errors exit 1", "[cli]") {
  CHECK(adjc({"check", example("mlp.adj")}).status == 0);
  Result ir = adjc({"emit", example("xor.adj"), "--stage=ir"});
  CHECK(ir.status == 0);
  CHECK_THAT(ir.out, Contains("param"));
  CHECK(adjc({"emit", "--stage", "opt", example("xor.adj")}).status == 0);
  CHECK(adjc({"emit", example("xor.adj"), "--stage=nope"}).status == 2);

  // The LLVM module as lowered, and the host's assembly after O3.
  Result llvm_ir = adjc({"emit", example("mlp.adj"), "--stage=llvm"});
  CHECK(llvm_ir.status == 0);
  CHECK_THAT(llvm_ir.out, Contains("define double @mlp_grad(") &&
                              Contains("define void @mlp_forward(") &&
                              Contains("define i64 @mlp_workspace_size(") &&
                              Contains("declare void @adj.gemm.f32("));
  Result as = adjc({"emit", example("mlp.adj"), "--stage=asm"});
  CHECK(as.status == 0);
  CHECK_THAT(as.out, Contains("mlp_grad:") && Contains("mlp_forward:") &&
                         Contains("callq\tadj.gemm.f32") && Contains("\tretq"));

  std::string dir = temp_dir("cli_bad");
  std::string bad = dir + "/bad.adj";
  std::ofstream(bad) << "input x : f32[2, 3]\ny = x @ x\nminimize y\n";
  Result c = adjc({"check", bad});
  CHECK(c.status == 1);
  CHECK_THAT(c.err, Contains("bad.adj:2:"));
  Result i = adjc({"init", bad, "-o", dir + "/p.safetensors"});
  CHECK(i.status == 1);
  CHECK_THAT(i.err, Contains("bad.adj:2:") && Contains("^"));
  CHECK_FALSE(fs::exists(dir + "/p.safetensors"));
  fs::remove_all(dir);
}

namespace {

// adjc under a 6 GB address-space limit, so that a giant allocation fails the
// same way on every machine, whatever its memory and overcommit policy.
Result adjc_limited(const std::vector<std::string>& args, const std::string& dir) {
  std::string cmd = "ulimit -v 6000000 && '" + std::string(ADJC_PATH) + "'";
  for (const std::string& a : args) cmd += " '" + a + "'";
  int raw = std::system((cmd + " >'" + dir + "/out.txt' 2>'" + dir + "/err.txt'").c_str());
  Result r;
  r.status = WIFEXITED(raw) ? WEXITSTATUS(raw) : -1;
  r.out = slurp(dir + "/out.txt");
  r.err = slurp(dir + "/err.txt");
  return r;
}

}  // namespace

TEST_CASE("adjc reports running out of memory as an error naming the allocation", "[cli]") {
  // Both used to exit 3 with "internal compiler error: std::bad_alloc".
  std::string dir = temp_dir("cli_oom");
  std::ofstream(dir + "/huge.adj") << "param W : f32[100000, 100000]\nl = sum(W)\nminimize l\n";
  Result r = adjc_limited({"init", dir + "/huge.adj", "-o", dir + "/p.safetensors"}, dir);
  CHECK(r.status == 1);
  CHECK_THAT(r.err, Contains("adjc: error: out of memory") && Contains("param 'W'") &&
                        Contains("40000000000 bytes (40.0 GB)"));
  CHECK_FALSE(fs::exists(dir + "/p.safetensors"));

  // A padding of 100000 makes an 800 GB workspace out of a 4x4 image.
  std::ofstream(dir + "/conv.adj") << "model conv\ninput x : f32[1,1,4,4]\nparam K : f32[1,1,2,2]\n"
                                      "l = sum(conv2d(x, K, pad=100000))\nminimize l\n";
  REQUIRE(adjc({"init", dir + "/conv.adj", "-o", dir + "/p.safetensors"}).status == 0);
  write_tensors(dir + "/i.safetensors", {{"x", Tensor::f32({1, 1, 4, 4})}});
  r = adjc_limited({"grad", dir + "/conv.adj", "--params", dir + "/p.safetensors", "--inputs",
                    dir + "/i.safetensors", "-o", dir + "/g.safetensors"},
                   dir);
  CHECK(r.status == 1);
  CHECK_THAT(r.err, Contains("out of memory") && Contains("the workspace of model 'conv'"));
  fs::remove_all(dir);
}

TEST_CASE("adjc refuses a directory or an endless file as FILE; reads pipes", "[cli]") {
  std::string dir = temp_dir("cli_src");
  Result r = adjc({"check", dir});
  CHECK(r.status == 1);
  CHECK_THAT(r.err, Contains("cannot read '" + dir + "': is a directory"));
  r = adjc({"init", dir, "-o", dir + "/p.safetensors"});
  CHECK(r.status == 1);
  CHECK_FALSE(fs::exists(dir + "/p.safetensors"));
  // /dev/zero never ends: the cap stops it (the run used to grow without bound).
  r = adjc({"check", "/dev/zero"});
  CHECK(r.status == 1);
  CHECK_THAT(r.err, Contains("'/dev/zero' is larger than 64 MiB"));
  // A pipe is read to its end.
  std::string cmd = "cat '" + example("xor.adj") + "' | '" + ADJC_PATH + "' check /dev/stdin";
  CHECK(std::system(cmd.c_str()) == 0);
  fs::remove_all(dir);
}

TEST_CASE("adjc -o: empty names, directories, missing directories, links, devices", "[cli]") {
  std::string dir = temp_dir("cli_out");
  auto init = [&](const std::string& out) { return adjc({"init", example("xor.adj"), "-o", out}); };
  CHECK(init("").status == 2);
  CHECK_THAT(init("").err, Contains("-o needs a file name"));
  for (const std::string& d : {dir, std::string(".")}) {
    Result r = init(d);
    CHECK(r.status == 1);
    CHECK_THAT(r.err, Contains("'" + d + "' is a directory"));
    CHECK_THAT(r.err, !Contains(".tmp"));
  }
  Result r = init(dir + "/nodir/p.safetensors");
  CHECK(r.status == 1);
  CHECK_THAT(r.err, Contains("the directory '" + dir + "/nodir' does not exist"));
  r = adjc({"graph", example("xor.adj"), "-o", dir + "/nodir/x.svg"});
  CHECK(r.status == 1);
  CHECK_THAT(r.err, Contains("does not exist") && !Contains(".tmp"));
  REQUIRE(adjc({"graph", example("xor.adj"), "-o", dir + "/g.dot"}).status == 0);
  CHECK_THAT(slurp(dir + "/g.dot"), Contains("digraph"));

  // A symbolic link survives: its target is replaced.
  std::ofstream(dir + "/target") << "old";
  fs::create_symlink("target", dir + "/link");
  REQUIRE(init(dir + "/link").status == 0);
  CHECK(fs::is_symlink(dir + "/link"));
  CHECK(read_safetensors(dir + "/target").tensors.count("W1") == 1);
  // A device is written, never replaced by a file; so is standard output
  // (here redirected to a file, which the rename used to replace).
  REQUIRE(init("/dev/null").status == 0);
  CHECK(fs::is_character_file("/dev/null"));
  Result std_out = init("/dev/stdout");
  REQUIRE(std_out.status == 0);
  CHECK_THAT(std_out.out, Contains("\"W1\"") && Contains("\"__metadata__\""));
  for (const auto& e : fs::directory_iterator(dir))
    CHECK_THAT(e.path().string(), !Contains(".tmp."));
  fs::remove_all(dir);
}

TEST_CASE("adjc --threads above 256 is a usage error", "[cli]") {
  CHECK(adjc({"bench", example("xor.adj"), "--dim", "B=4", "--threads", "257"}).status == 2);
  CHECK(adjc({"train", example("mlp.adj"), "--data", "x", "--threads", "257"}).status == 2);
}
