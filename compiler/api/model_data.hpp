// What a compiled Model holds, shared by the API's implementation files
// (Model::Impl is this; it is a plain struct here so free functions can use it).
#pragma once

#include <adjoint/adjoint.hpp>
#include <adjoint/init.hpp>
#include <memory>
#include <mutex>
#include <optional>
#include <string>
#include <vector>

#include "api/init_plan.hpp"
#include "codegen/native.hpp"
#include "ir/graph.hpp"

namespace adjoint {
class Jit;
class SourceManager;
}  // namespace adjoint

namespace adjoint::api {

// An i32 input whose values index something: every element must lie in
// [0, bound) before a call, since native code cannot throw.
struct IndexCheck {
  std::string input;  // the input's name
  Dim bound;          // number of classes, or rows of the gathered table
  std::string use;    // "labels of softmax_cross_entropy at mlp.adj:14:15"
};

struct ModelData {
  Graph ir;                           // as sema built it: declarations, fans, index uses
  std::optional<NativeModel> native;  // the optimised graph, compiled
  std::vector<TensorInfo> inputs, params, outputs;
  std::vector<std::string> wrt;  // the order m_grad writes its gradients
  std::vector<ParamInit> inits;  // one per param
  std::vector<IndexCheck> index_checks;

  // One workspace, reused by every call and grown as needed (an owning
  // tensor, for its 64-byte alignment); calls take turns on it.
  mutable std::mutex mu;
  mutable Tensor workspace;

  const Graph& graph() const { return native->graph(); }
};

// What a Model holds, for the compiler's own users of one (the benchmark's
// raw call); Model befriends this.
struct ModelAccess {
  static const ModelData& data(const Model& m);
};

// Fills `d` from a checked IR graph: runs the pipeline, compiles the
// optimised graph in `jit`, and precomputes declarations, initialisers and
// index checks (whose locations `sm` describes).
void build_model_data(ModelData& d, Graph ir, std::shared_ptr<Jit> jit, const SourceManager& sm);

// Tensor::zeros, whose out-of-memory error names what the tensor is for
// (`what`: "param 'W'", "output 'y'"); the sizes usually come from the user.
Tensor allocate(ElemType t, std::vector<int64_t> shape, const std::string& what);
// A workspace of at least `bytes` bytes for `d` (whole f64 words, at least one).
Tensor allocate_workspace(const ModelData& d, int64_t bytes);

// The user-facing description of a declared tensor.
TensorInfo tensor_info(const std::string& name, const Type& t);
ElemType elem_type(DType t);

}  // namespace adjoint::api
