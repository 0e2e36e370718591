// Building a Model's data from a checked IR graph: the pipeline, native code,
// and what every call and init_params will need, computed once.
#include "api/model_data.hpp"

#include <algorithm>
#include <stdexcept>

#include "api/init_plan.hpp"
#include "ops/op_table.hpp"
#include "stages.hpp"
#include "support/diagnostics.hpp"

namespace adjoint::api {
namespace {

const std::string& leaf_name(const Graph& g, ValueId v) { return g.node(v).attrs.get_str("name"); }

std::vector<std::string> leaf_names(const Graph& g, const std::vector<ValueId>& ids) {
  std::vector<std::string> out;
  for (ValueId v : ids) out.push_back(leaf_name(g, v));
  return out;
}

// The i32 inputs whose values flow into `v` (through reshapes, concats...).
void index_sources(const Graph& g, ValueId v, std::vector<ValueId>& out) {
  const Node& n = g.node(v);
  if (n.op == OpKind::input) {
    if (std::find(out.begin(), out.end(), v) == out.end()) out.push_back(v);
    return;
  }
  for (ValueId a : n.args)
    if (g.type(a).dtype == DType::i32) index_sources(g, a, out);
}

// Labels of softmax_cross_entropy lie in [0, classes); indices of gather in
// [0, rows of the table). (one_hot and scatter_add only appear in gradients,
// fed by the same labels and indices.)
std::vector<IndexCheck> find_index_checks(const Graph& g, const SourceManager& sm) {
  std::vector<IndexCheck> out;
  for (const Node& n : g.nodes) {
    bool sce = n.op == OpKind::softmax_cross_entropy;
    if (!sce && n.op != OpKind::gather) continue;
    Dim bound = g.type(n.args[0]).shape[sce ? 1 : 0];
    std::string use = std::string(sce ? "labels" : "indices") + " of " + op_name(n.op) + " at " +
                      sm.describe(n.loc);
    std::vector<ValueId> sources;
    index_sources(g, n.args[1], sources);
    for (ValueId s : sources) out.push_back({leaf_name(g, s), bound, use});
  }
  return out;
}

}  // namespace

Tensor allocate(ElemType t, std::vector<int64_t> shape, const std::string& what) {
  try {
    return Tensor::zeros(t, shape);
  } catch (const OutOfMemory& e) {
    throw OutOfMemory(e.bytes(), what + " " + elem_type_name(t) + shape_string(shape));
  }
}

Tensor allocate_workspace(const ModelData& d, int64_t bytes) {
  try {
    return Tensor::zeros(ElemType::f64, {std::max<int64_t>(1, (bytes + 7) / 8)});
  } catch (const OutOfMemory& e) {
    throw OutOfMemory(e.bytes(), "the workspace of model '" + d.ir.model + "'");
  }
}

ElemType elem_type(DType t) {
  switch (t) {
    case DType::f32:
      return ElemType::f32;
    case DType::f64:
      return ElemType::f64;
    case DType::i32:
      return ElemType::i32;
  }
  throw std::logic_error("unknown DType");
}

TensorInfo tensor_info(const std::string& name, const Type& t) {
  TensorInfo info{name, elem_type(t.dtype), {}, t.str()};
  for (const Dim& d : t.shape) info.dims.push_back(d.str());
  return info;
}

void build_model_data(ModelData& d, Graph ir, std::shared_ptr<Jit> jit, const SourceManager& sm) {
  StagedGraphs staged = run_pipeline(ir);
  d.native.emplace(NativeModel::compile(staged.opt, std::move(jit)));
  d.ir = std::move(ir);
  const Graph& g = d.ir;
  const Graph& opt = d.graph();
  // The ABI passes leaves by position, so both graphs must declare them alike.
  if (leaf_names(g, g.inputs()) != leaf_names(opt, opt.inputs()) ||
      leaf_names(g, g.params()) != leaf_names(opt, opt.params()))
    throw std::logic_error("the optimised graph of '" + g.model + "' reorders its leaves");
  for (ValueId v : g.inputs()) d.inputs.push_back(tensor_info(leaf_name(g, v), g.type(v)));
  for (ValueId v : g.params()) {
    d.params.push_back(tensor_info(leaf_name(g, v), g.type(v)));
    d.inits.push_back(param_init_of(g, v));
  }
  for (const NamedValue& o : g.outputs) d.outputs.push_back(tensor_info(o.name, g.type(o.value)));
  for (const NamedValue& gr : opt.grads) d.wrt.push_back(gr.name);
  d.index_checks = find_index_checks(g, sm);
}

}  // namespace adjoint::api
