#include <catch2/catch.hpp>

#include "ops/op_table.hpp"

using namespace adjoint;

TEST_CASE("every op of ops.def has a complete row", "[ops]") {
  std::string problems;
  for (const std::string& p : op_table_problems()) problems += p + "\n";
  INFO(problems);
  CHECK(problems.empty());
}

// The builtins LANGUAGE.md promises (its table of built-in functions): each
// must be callable by name, and each (being in the table) is gradient-checked
// by test_gradcheck.cpp.
TEST_CASE("every builtin of LANGUAGE.md is in the op table", "[ops]") {
  const char* promised[] = {
      "exp", "log", "sqrt", "abs", "tanh", "sigmoid", "relu", "softplus", "gelu", "sin", "cos",
      "leaky_relu", "pow", "maximum", "minimum", "sum", "mean", "max", "logsumexp", "softmax",
      "log_softmax", "softmax_cross_entropy", "mse", "bce_with_logits", "reshape", "flatten",
      "concat", "transpose", "gather", "conv2d", "maxpool2d", "avgpool2d"};
  for (const char* name : promised) {
    INFO(name);
    auto kind = builtin_by_name(name);
    REQUIRE(kind);
    CHECK_FALSE(op_info(*kind).checks.empty());
  }
}
