#include "passes/rewrite.hpp"

#include <stdexcept>

namespace adjoint {
namespace {

ValueId mapped(const std::vector<ValueId>& map, ValueId v) {
  ValueId m = map.at(static_cast<size_t>(v));
  if (m == kNoValue) throw std::logic_error("pass copies a node whose operand was dropped");
  return m;
}

}  // namespace

Graph empty_like(const Graph& g) {
  Graph out;
  out.model = g.model;
  out.float_type = g.float_type;
  out.wrt = g.wrt;
  return out;
}

ValueId copy_node(Graph& out, const Node& n, const std::vector<ValueId>& map) {
  Node copy = n;
  for (ValueId& a : copy.args) a = mapped(map, a);
  out.nodes.push_back(std::move(copy));
  return out.size() - 1;
}

void copy_results(const Graph& from, Graph& to, const std::vector<ValueId>& map) {
  if (from.loss) to.loss = mapped(map, *from.loss);
  to.outputs.clear();
  for (const NamedValue& o : from.outputs) to.outputs.push_back({o.name, mapped(map, o.value)});
  to.grads.clear();
  for (const NamedValue& g : from.grads) to.grads.push_back({g.name, mapped(map, g.value)});
}

}  // namespace adjoint
