// Native code against the reference evaluator, op by op: every op's
// gradient-check cases become a graph (loss = sum(op(...) * r), output y),
// differentiated by reverse mode, compiled as is and after the optimiser, in
// f64 and f32; every result of m_grad and m_forward must agree with the
// reference evaluation of the same graph.
#include <algorithm>
#include <catch2/catch.hpp>
#include <cmath>

#include "autodiff/reverse_mode.hpp"
#include "codegen/native.hpp"
#include "frontend/frontend.hpp"
#include "ir/builder.hpp"
#include "jit/jit.hpp"
#include "passes/pipeline.hpp"
#include "stages.hpp"
#include "support/native_check.hpp"

using namespace adjoint;
using namespace adjoint::testing;

namespace {

double tolerance(DType ft) { return ft == DType::f64 ? 1e-12 : 1e-5; }

// Compiles `g`, runs both sides and checks every result; returns the worst
// relative error (above the tolerance on a mismatch).
double native_vs_reference(const Graph& g, const TensorMap& leaves,
                           const std::shared_ptr<Jit>& jit) {
  std::string problems = verify_llvm(g);
  INFO("LLVM verifier:\n" << problems);
  CHECK(problems.empty());
  NativeModel m = NativeModel::compile(g, jit);
  TensorMap ref = evaluate_results(g, leaves);
  TensorMap got = run_native(m, leaves);
  got["forward.loss"] = m.forward(leaves).at("loss");
  ref["forward.loss"] = ref.at("loss");
  Comparison c = compare_results(got, ref, tolerance(g.float_type));
  INFO("worst relative error " << c.worst << "\n" << c.report);
  CHECK(c.ok);
  return c.ok ? c.worst : HUGE_VAL;
}

}  // namespace

TEST_CASE("native code matches the reference evaluator on every op", "[codegen]") {
  auto jit = std::make_shared<Jit>();
  int ops = 0, graphs = 0, failures = 0;
  double worst[2] = {0, 0};  // f64, f32
  for (const OpInfo* op : all_ops()) {
    if (is_leaf(op->kind) || op->kind == OpKind::constant) continue;
    ++ops;
    for (size_t i = 0; i < op->checks.size(); ++i) {
      for (DType ft : {DType::f64, DType::f32}) {
        OpGraph og = op_check_graph(op->kind, op->checks[i], ft, 4099 + i);
        Graph raw = reverse_mode(og.graph);
        // f32 semantics are checked on the optimised graphs only (keeps the
        // test near a minute on two cores); f64 also on the raw adjoint graphs.
        for (bool optimized : {false, true}) {
          if (!optimized && ft == DType::f32) continue;
          Graph g = optimized ? optimize(raw) : raw;
          INFO(op->name << " case " << i << " " << dtype_name(ft)
                        << (optimized ? " optimised" : " as differentiated"));
          ++graphs;
          double err = native_vs_reference(g, og.leaves, jit);
          if (err > tolerance(ft)) ++failures;
          double& w = worst[ft == DType::f64 ? 0 : 1];
          w = std::max(w, err);
        }
      }
    }
  }
  WARN("compared " << graphs << " native graphs over " << ops << " ops; " << failures
                   << " mismatched; worst relative error f64 " << worst[0] << ", f32 " << worst[1]);
}

TEST_CASE("the native/reference comparison notices differences", "[codegen]") {
  TensorMap ref{{"x", DTensor({2}, {1.0, -3.0})}};
  CHECK(compare_results(ref, ref, 1e-12).ok);
  CHECK_FALSE(compare_results({{"x", DTensor({2}, {1.0, -3.0 + 1e-10})}}, ref, 1e-12).ok);
  CHECK_FALSE(compare_results({{"x", DTensor({2}, {1.0, NAN})}}, ref, 1e-12).ok);
  CHECK_FALSE(compare_results({{"x", DTensor({2, 1}, {1.0, -3.0})}}, ref, 1e-12).ok);
  CHECK_FALSE(compare_results({{"y", DTensor({2}, {1.0, -3.0})}}, ref, 1e-12).ok);
  TensorMap nan_ref{{"x", DTensor({1}, {NAN})}};
  CHECK(compare_results(nan_ref, nan_ref, 1e-12).ok);
}

namespace {

// The function `name` in an LLVM module's text, up to the next definition.
std::string function_text(const std::string& module, const std::string& name) {
  for (size_t at = module.find("\ndefine "); at != std::string::npos;
       at = module.find("\ndefine ", at + 1)) {
    size_t line_end = module.find('\n', at + 1);
    if (module.substr(at, line_end - at).find("@" + name + "(") == std::string::npos) continue;
    return module.substr(at, module.find("\ndefine ", at + 1) - at);
  }
  return "";
}

}  // namespace

TEST_CASE("a pointwise loop that overwrites its operand in place is vectorised", "[codegen]") {
  // tiny's tanh overwrites the product before it in place (the memory
  // plan's in-place chain). Without the parallel-loop marks the vectoriser
  // guarded its vector loop with an overlap check, which equal pointers
  // fail: the loop ran scalar, one exp call an element.
  SourceManager sm;
  uint32_t file = sm.add("tiny.adj", R"(model tiny
input x : f32[B, 2]
input t : f32[B, 1]
param W1 : f32[8, 2] = glorot_uniform
param b1 : f32[8]
param W2 : f32[1, 8] = glorot_uniform
param b2 : f32[1]
h = tanh(x @ W1.T + b1)
y = sigmoid(h @ W2.T + b2)
loss = mse(y, t)
minimize loss
)");
  Diagnostics d(sm);
  std::optional<Graph> ir = compile_source(sm, file, d);
  REQUIRE(ir);
  Graph g = run_pipeline(*ir).opt;
  std::string plain = function_text(emit_llvm_ir(g), "tanh.slice");
  REQUIRE(!plain.empty());
  CHECK(plain.find("!llvm.access.group") != std::string::npos);
  std::string module = emit_llvm_ir(g, true);
  std::string opt = function_text(module, "tanh.slice");
  INFO(opt);
  // No run-time overlap check left, and exp in vector form.
  CHECK(opt.find("x float> @") != std::string::npos);
  CHECK(opt.find("exp") != std::string::npos);
  for (const char* check : {"diff.check", "found.conflict", "memcheck"}) {
    INFO(check);
    CHECK(opt.find(check) == std::string::npos);
  }
}
