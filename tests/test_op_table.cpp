#include <catch2/catch.hpp>

#include "ops/op_table.hpp"

using namespace adjoint;

TEST_CASE("every op of ops.def has a complete row", "[ops]") {
  std::string problems;
  for (const std::string& p : op_table_problems()) problems += p + "\n";
  INFO(problems);
  CHECK(problems.empty());
}
