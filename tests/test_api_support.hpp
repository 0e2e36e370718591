// Helpers shared by the C++ API and CLI tests: converting between the API's
// tensors and the reference evaluator's, random inputs for a model, and the
// reference results of a program.
#pragma once

#include <adjoint/adjoint.hpp>
#include <cstdint>
#include <string>
#include <vector>

#include "eval/evaluator.hpp"

namespace adjoint::apitest {

DTensor to_dtensor(const Tensor& t);
Tensor to_tensor(const DTensor& t, ElemType type);
TensorMap to_map(const NamedTensors& ts, const std::string& prefix = "");

// The text of examples/NAME from the source tree.
std::string example_text(const std::string& name);

// Random inputs for `m`: every size symbol bound to `size`, floats in [-1, 1]
// (exact in f32), i32 values in [0, index_bound).
Inputs random_inputs(const Model& m, int64_t size, uint64_t seed, int64_t index_bound = 3);

// What the reference evaluator gives for `text` on these tensors: "loss",
// "grad.NAME" and every output, from the un-optimised gradient graph.
TensorMap reference_results(const std::string& text, const Inputs& inputs, const Params& params);

// A fresh, empty temporary directory for one test.
std::string temp_dir(const std::string& tag);

// The whole content of a file ("" if it cannot be read).
std::string slurp(const std::string& path);

// Runs the built adjc with `args` (each quoted), capturing its stdout, stderr
// and exit status (-1 if it did not exit normally).
struct AdjcRun {
  int status = -1;
  std::string out, err;
};
AdjcRun run_adjc(const std::vector<std::string>& args);

}  // namespace adjoint::apitest
