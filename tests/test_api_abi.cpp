// The C ABI under the C++ API: abi.h is plain C (checked with the system's C
// compiler when there is one), and the raw m_grad of a compiled model, called
// with hand-built adj_tensor structs, gives what Model::grad gives.
#include <catch2/catch.hpp>
#include <adjoint/abi.h>

#include <adjoint/adjoint.hpp>
#include <cstdlib>
#include <filesystem>
#include <fstream>

#include "codegen/native.hpp"
#include "frontend/frontend.hpp"
#include "stages.hpp"
#include "support/native_check.hpp"
#include "test_api_support.hpp"

using namespace adjoint;
using namespace adjoint::apitest;

TEST_CASE("abi.h compiles as strict C", "[api]") {
  if (std::system("command -v cc >/dev/null 2>&1") != 0) {
    WARN("no C compiler 'cc' on this machine; abi.h not checked as C");
    return;
  }
  namespace fs = std::filesystem;
  fs::path dir = temp_dir("abi");
  fs::path src = dir / "abi_check.c";
  std::ofstream(src) << R"(#include <adjoint/abi.h>
/* Everything a C caller of a compiled model names. */
int abi_version_is_1[ADJ_ABI_VERSION == 1 ? 1 : -1];
double call_grad(adj_grad_fn f, const adj_tensor *in, const adj_tensor *p, adj_tensor *g,
                 const adj_dims *d, void *ws) {
  return f(in, p, g, d, ws);
}
void call_forward(adj_forward_fn f, const adj_tensor *in, const adj_tensor *p, adj_tensor *o,
                  const adj_dims *d, void *ws) {
  f(in, p, o, d, ws);
}
int64_t workspace(adj_workspace_size_fn f) {
  int64_t b = 4;
  adj_dims d;
  d.values = &b;
  d.count = 1;
  return f(&d);
}
adj_dtype types[3] = {ADJ_F32, ADJ_F64, ADJ_I32};
)";
  std::string include = (fs::path(ADJOINT_SOURCE_DIR) / "runtime" / "include").string();
  std::string cmd = "cc -x c -std=c99 -pedantic -Wall -Wextra -Werror -fsyntax-only -I'" +
                    include + "' '" + src.string() + "' 2>'" + (dir / "err.txt").string() + "'";
  int rc = std::system(cmd.c_str());
  std::ifstream err(dir / "err.txt");
  std::string errors((std::istreambuf_iterator<char>(err)), std::istreambuf_iterator<char>());
  INFO(errors);
  CHECK(rc == 0);
  fs::remove_all(dir);
}

TEST_CASE("the raw m_grad with hand-built adj_tensors matches Model::grad", "[api]") {
  // chain.adj: x f64[16], t f64[4]; W1 [32,16], W2 [4,32]; wrt W1, W2, x. No symbolic sizes.
  std::string text = example_text("chain.adj");
  SourceManager sm;
  Diagnostics diags(sm);
  std::optional<Graph> ir = compile_source(sm, sm.add("chain.adj", text), diags);
  REQUIRE(ir);
  NativeModel native = NativeModel::compile(run_pipeline(*ir).opt);
  REQUIRE(native.grad_fn() != nullptr);

  Compiler cc;
  Model m = cc.compile_string(text, "chain.adj");
  Inputs in = random_inputs(m, 1, 4);
  Params p = m.init_params(4);
  Grads want = m.make_grads();
  double want_loss = m.grad(in, p, want);

  // The buffers and shapes a C caller would own.
  std::vector<double> x(in["x"].data<double>(), in["x"].data<double>() + 16);
  std::vector<double> t(in["t"].data<double>(), in["t"].data<double>() + 4);
  std::vector<double> w1(p["W1"].data<double>(), p["W1"].data<double>() + 32 * 16);
  std::vector<double> w2(p["W2"].data<double>(), p["W2"].data<double>() + 4 * 32);
  std::vector<double> gw1(32 * 16, -1), gw2(4 * 32, -1), gx(16, -1);
  const int64_t xs[] = {16}, ts[] = {4}, w1s[] = {32, 16}, w2s[] = {4, 32};
  adj_tensor inputs[] = {{x.data(), xs, 1, ADJ_F64}, {t.data(), ts, 1, ADJ_F64}};
  adj_tensor params[] = {{w1.data(), w1s, 2, ADJ_F64}, {w2.data(), w2s, 2, ADJ_F64}};
  adj_tensor grads[] = {{gw1.data(), w1s, 2, ADJ_F64},
                        {gw2.data(), w2s, 2, ADJ_F64},
                        {gx.data(), xs, 1, ADJ_F64}};
  REQUIRE(m.wrt() == std::vector<std::string>{"W1", "W2", "x"});
  adj_dims dims{nullptr, 0};  // no symbolic sizes
  int64_t bytes = native.workspace_size_fn()(&dims);
  Tensor workspace = Tensor::zeros(ElemType::f64, {bytes / 8 + 1});  // 64-byte aligned
  double loss = native.grad_fn()(inputs, params, grads, &dims, workspace.raw());

  CHECK(loss == want_loss);
  CHECK(gw1 == std::vector<double>(want["W1"].data<double>(), want["W1"].data<double>() + 512));
  CHECK(gw2 == std::vector<double>(want["W2"].data<double>(), want["W2"].data<double>() + 128));
  CHECK(gx == std::vector<double>(want["x"].data<double>(), want["x"].data<double>() + 16));

  // And both agree with the reference evaluator.
  TensorMap got = to_map(want, "grad.");
  got["loss"] = DTensor({}, loss);
  testing::Comparison c = testing::compare_results(got, reference_results(text, in, p), 1e-12);
  INFO(c.report);
  CHECK(c.ok);
}
