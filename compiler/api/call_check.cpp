#include "api/call_check.hpp"

#include <algorithm>
#include <map>

namespace adjoint::api {
namespace {

const char* leaf_kind(const Node& n) { return n.op == OpKind::input ? "input" : "param"; }
const std::string& leaf_name(const Node& n) { return n.attrs.get_str("name"); }

std::string join(const std::vector<std::string>& names) {
  std::string out;
  for (const std::string& n : names) out += (out.empty() ? "" : ", ") + n;
  return out.empty() ? "none" : out;
}

std::vector<std::string> names_of(const std::vector<TensorInfo>& infos) {
  std::vector<std::string> out;
  for (const TensorInfo& i : infos) out.push_back(i.name);
  return out;
}

bool declared(const std::vector<TensorInfo>& infos, const std::string& name) {
  for (const TensorInfo& i : infos)
    if (i.name == name) return true;
  return false;
}

// Every tensor given as an input (params) must be declared as one.
void check_known(const ModelData& d, const NamedTensors& given, bool inputs) {
  const auto& mine = inputs ? d.inputs : d.params;
  const auto& other = inputs ? d.params : d.inputs;
  const char* kind = inputs ? "input" : "param";
  for (const auto& [name, t] : given) {
    if (declared(mine, name)) continue;
    if (declared(other, name))
      throw Error("'" + name + "' is " + (inputs ? "a param" : "an input") + " of model '" +
                  d.ir.model + "', not " + (inputs ? "an input" : "a param") + " (pass it with the " +
                  (inputs ? "params" : "inputs") + ")");
    throw Error("unknown " + std::string(kind) + " '" + name + "': model '" + d.ir.model + "' has " +
                kind + "s " + join(names_of(mine)));
  }
}

// Where a symbolic size got its value, for the message about a conflict.
struct Binding {
  int64_t value;
  std::string where;  // "input 'x' (f32[4,2])"
};

std::string where(const Node& n, const Tensor& t) {
  return std::string(leaf_kind(n)) + " '" + leaf_name(n) + "' (" + t.describe() + ")";
}

std::string mismatch(const ModelData& d, const Node& n, const Tensor& t, const std::string& why) {
  return std::string(leaf_kind(n)) + " '" + leaf_name(n) + "' is " + t.describe() +
         " but model '" + d.ir.model + "' declares " + n.type.str() + " (" + why + ")";
}

// Element type, rank and constant sizes of one leaf; binds its symbolic sizes.
void check_leaf(const ModelData& d, const Node& n, const Tensor& t,
                std::map<std::string, Binding>& bound) {
  const Shape& want = n.type.shape;
  if (t.dtype() != elem_type(n.type.dtype))
    throw Error(mismatch(d, n, t, "element types are never converted"));
  if (t.rank() != want.size())
    throw Error(mismatch(d, n, t, "rank " + std::to_string(t.rank()) + ", expected " +
                                      std::to_string(want.size())));
  for (size_t i = 0; i < want.size(); ++i) {
    const Dim& w = want[i];
    int64_t got = t.dim(i);
    std::string axis = "axis " + std::to_string(i) + ": ";
    if (w.is_const()) {
      if (got != w.value())
        throw Error(mismatch(d, n, t, axis + std::to_string(got) + " != " + w.str()));
      continue;
    }
    // Declared sizes are a number or one symbol; anything else is checked below.
    if (w.coeff() != 1 || w.symbols().size() != 1) continue;
    const std::string& sym = w.symbols()[0];
    auto [it, fresh] = bound.emplace(sym, Binding{got, where(n, t)});
    if (!fresh && it->second.value != got)
      throw Error("size '" + sym + "' is " + std::to_string(it->second.value) + " in " +
                  it->second.where + " but " + std::to_string(got) + " in " + where(n, t));
  }
}

// Each value of an index input must lie in [0, bound).
void check_indices(const ModelData& d, const IndexCheck& c, const Tensor& t, const DimEnv& env) {
  int64_t bound = c.bound.eval(env);
  const int32_t* v = t.data<int32_t>();
  for (int64_t i = 0; i < t.numel(); ++i)
    if (v[i] < 0 || v[i] >= bound)
      throw Error("input '" + c.input + "' holds " + std::to_string(v[i]) + " at index " +
                  std::to_string(i) + ", outside [0, " + std::to_string(bound) + ") for the " +
                  c.use + " of model '" + d.ir.model + "'");
}

// Checks the leaves of one kind (inputs or params) and binds their sizes.
void check_leaves(const ModelData& d, OpKind kind, const NamedTensors& given,
                  std::map<std::string, Binding>& bound, std::vector<adj_tensor>* abi) {
  for (const Node& n : d.ir.nodes) {
    if (n.op != kind) continue;
    const Tensor* t = given.find(leaf_name(n));
    if (!t)
      throw Error("missing " + std::string(leaf_kind(n)) + " '" + leaf_name(n) + "' (" +
                  n.type.str() + ") of model '" + d.ir.model + "'");
    check_leaf(d, n, *t, bound);
    if (abi) abi->push_back(t->abi());
  }
}

// Whatever check_leaf could not bind alone must agree once all sizes are bound.
void check_bound_shapes(const ModelData& d, OpKind kind, const NamedTensors& given,
                        const DimEnv& env) {
  for (const Node& n : d.ir.nodes) {
    if (n.op != kind) continue;
    const Tensor& t = *given.find(leaf_name(n));
    if (eval_shape(n.type.shape, env) != t.shape())
      throw Error(mismatch(d, n, t, "sizes disagree with the other tensors"));
  }
}

DimEnv env_of(const std::map<std::string, Binding>& bound) {
  DimEnv env;
  for (const auto& [sym, b] : bound) env[sym] = b.value;
  return env;
}

}  // namespace

DimEnv bind_inputs(const ModelData& d, const Inputs& inputs) {
  check_known(d, inputs, true);
  std::map<std::string, Binding> bound;
  check_leaves(d, OpKind::input, inputs, bound, nullptr);
  DimEnv env = env_of(bound);
  check_bound_shapes(d, OpKind::input, inputs, env);
  return env;
}

BoundCall bind_call(const ModelData& d, const Inputs& inputs, const Params& params) {
  check_known(d, inputs, true);
  check_known(d, params, false);
  std::map<std::string, Binding> bound;
  BoundCall call;
  check_leaves(d, OpKind::input, inputs, bound, &call.inputs);
  check_leaves(d, OpKind::param, params, bound, &call.params);
  call.env = env_of(bound);
  check_bound_shapes(d, OpKind::input, inputs, call.env);
  check_bound_shapes(d, OpKind::param, params, call.env);
  for (const std::string& s : d.graph().size_symbols()) call.dims.push_back(call.env.at(s));
  for (const IndexCheck& c : d.index_checks) check_indices(d, c, *inputs.find(c.input), call.env);
  return call;
}

std::vector<adj_tensor> bind_grads(const ModelData& d, const DimEnv& env, Grads& grads) {
  for (const auto& [name, t] : grads)
    if (std::find(d.wrt.begin(), d.wrt.end(), name) == d.wrt.end())
      throw Error("grads holds '" + name + "', which model '" + d.ir.model +
                  "' does not differentiate (wrt: " + join(d.wrt) + ")");
  std::vector<adj_tensor> out;
  for (const std::string& name : d.wrt) {
    const Node& leaf = d.ir.node(*d.ir.leaf(name));
    Type want{d.ir.float_type, leaf.type.shape};
    std::vector<int64_t> shape = eval_shape(want.shape, env);
    std::string expected = std::string(elem_type_name(elem_type(want.dtype))) + shape_string(shape);
    Tensor* t = grads.find(name);
    if (!t)
      throw Error("grads lacks '" + name + "' (" + expected +
                  ", the gradient of " + leaf_kind(leaf) + " '" + name + "'); make grads with Model::make_grads");
    if (t->dtype() != elem_type(want.dtype) || t->shape() != shape)
      throw Error("grads '" + name + "' is " + t->describe() + " but the gradient of " +
                  leaf_kind(leaf) + " '" + name + "' is " + expected);
    out.push_back(t->abi());
  }
  return out;
}

}  // namespace adjoint::api
