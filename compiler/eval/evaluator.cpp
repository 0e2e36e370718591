#include "eval/evaluator.hpp"

#include "ops/op_table.hpp"
#include "support/diagnostics.hpp"

namespace adjoint {
namespace {

std::string leaf_kind(const Node& n) { return n.op == OpKind::input ? "input" : "param"; }

void bind_leaf(const Node& n, const DTensor& t, DimEnv& env) {
  const std::string& name = n.attrs.get_str("name");
  const Shape& want = n.type.shape;
  auto mismatch = [&](const std::string& why) {
    throw Error(leaf_kind(n) + " '" + name + "' has shape " + dims_str(t.shape) + ", expected " +
                shape_str(want) + why);
  };
  if (t.shape.size() != want.size()) mismatch(" (rank " + std::to_string(t.shape.size()) +
                                              " != " + std::to_string(want.size()) + ")");
  for (size_t i = 0; i < want.size(); ++i) {
    const Dim& d = want[i];
    if (d.is_const()) {
      if (d.value() != t.shape[i]) mismatch("");
      continue;
    }
    // A lone symbol binds; anything else (784*B) is checked after binding.
    if (d.symbols().size() == 1 && d.coeff() == 1) {
      const std::string& s = d.symbols()[0];
      auto [it, fresh] = env.emplace(s, t.shape[i]);
      if (!fresh && it->second != t.shape[i])
        mismatch(" (size " + s + " is already bound to " + std::to_string(it->second) + ")");
    }
  }
}

}  // namespace

DimEnv bind_sizes(const Graph& g, const TensorMap& leaves) {
  DimEnv env;
  for (const Node& n : g.nodes) {
    if (!is_leaf(n.op)) continue;
    const std::string& name = n.attrs.get_str("name");
    auto it = leaves.find(name);
    if (it == leaves.end()) throw Error("missing " + leaf_kind(n) + " '" + name + "'");
    if (static_cast<int64_t>(it->second.data.size()) != product(it->second.shape))
      throw Error(leaf_kind(n) + " '" + name + "' has " + std::to_string(it->second.data.size()) +
                  " elements for shape " + dims_str(it->second.shape));
    bind_leaf(n, it->second, env);
  }
  for (const Node& n : g.nodes)
    if (is_leaf(n.op) && eval_shape(n.type.shape, env) != leaves.at(n.attrs.get_str("name")).shape)
      throw Error(leaf_kind(n) + " '" + n.attrs.get_str("name") + "' has shape " +
                  dims_str(leaves.at(n.attrs.get_str("name")).shape) + ", expected " +
                  shape_str(n.type.shape));
  return env;
}

std::vector<DTensor> evaluate(const Graph& g, const TensorMap& leaves) {
  DimEnv env = bind_sizes(g, leaves);
  std::vector<DTensor> values(g.nodes.size());
  for (size_t v = 0; v < g.nodes.size(); ++v) {
    const Node& n = g.nodes[v];
    if (is_leaf(n.op)) {
      values[v] = leaves.at(n.attrs.get_str("name"));
      continue;
    }
    std::vector<const DTensor*> args;
    for (ValueId a : n.args) args.push_back(&values[static_cast<size_t>(a)]);
    values[v] = op_info(n.op).eval(args, n.attrs, eval_shape(n.type.shape, env));
  }
  return values;
}

TensorMap evaluate_results(const Graph& g, const TensorMap& leaves) {
  std::vector<DTensor> values = evaluate(g, leaves);
  TensorMap out;
  if (g.loss) out["loss"] = values[static_cast<size_t>(*g.loss)];
  for (const NamedValue& gr : g.grads) out["grad." + gr.name] = values[static_cast<size_t>(gr.value)];
  for (const NamedValue& o : g.outputs) out[o.name] = values[static_cast<size_t>(o.value)];
  return out;
}

}  // namespace adjoint
