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
#include "ir/builder.hpp"
#include "jit/jit.hpp"
#include "passes/pipeline.hpp"
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
