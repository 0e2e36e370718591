// Seeded random well-typed programs in the .adj language, for the property
// test: chains of smooth ops over random shapes, with broadcasting, matmuls
// (both orientations, transposed reads), reductions along random axes,
// reshapes, concatenation and fan-out. Kinked ops (relu, abs, max) are left
// out on purpose: random points may land within a finite-difference step of
// a kink; those ops are checked on kink-free domains by the per-op checks.
#pragma once

#include <cstdint>
#include <string>

#include "eval/evaluator.hpp"

namespace adjoint::testing {

struct RandomProgram {
  std::string text;    // the program, ending in `minimize loss wrt ...`
  TensorMap leaves;    // values for every input and param
};

RandomProgram random_program(uint64_t seed);

}  // namespace adjoint::testing
