// A gradient check for every op in the table, generated from the table: each
// row's check cases (shapes, attributes, domains) run through reverse mode and
// are compared with four-point finite differences in f64.
#include <catch2/catch.hpp>

#include "support/gradcheck.hpp"

using namespace adjoint;
using namespace adjoint::testing;

TEST_CASE("every op's VJP matches finite differences", "[gradcheck]") {
  int ops = 0, cases = 0;
  for (const OpInfo* op : all_ops()) {
    if (is_leaf(op->kind) || op->kind == OpKind::constant) continue;
    ++ops;
    for (size_t i = 0; i < op->checks.size(); ++i) {
      for (uint64_t seed : {1u, 2u}) {
        ++cases;
        GradCheckResult r = check_op_case(op->kind, op->checks[i], seed * 7919 + i);
        INFO(op->name << " case " << i << " seed " << seed << "\n" << r.report);
        CHECK(r.ok);
      }
    }
  }
  WARN("gradient-checked " << ops << " ops in " << cases << " cases");
}
