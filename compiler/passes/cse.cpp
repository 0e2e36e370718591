#include "passes/cse.hpp"

#include <unordered_map>

#include "ops/op_table.hpp"
#include "passes/rewrite.hpp"

namespace adjoint {
namespace {

// Everything that determines a node's value, as one string. Attrs::str()
// prints doubles exactly (shortest round-trip form), so equal keys mean
// equal attributes.
std::string node_key(const Node& n, const std::vector<ValueId>& map) {
  std::string key = std::to_string(static_cast<int>(n.op)) + "(";
  for (ValueId a : n.args) key += std::to_string(map[static_cast<size_t>(a)]) + ",";
  return key + ")" + n.attrs.str() + ":" + n.type.str();
}

}  // namespace

Graph cse(const Graph& g) {
  Graph out = empty_like(g);
  std::vector<ValueId> map(g.nodes.size(), kNoValue);
  std::unordered_map<std::string, ValueId> seen;
  for (ValueId v = 0; v < g.size(); ++v) {
    const Node& n = g.node(v);
    ValueId& m = map[static_cast<size_t>(v)];
    if (is_leaf(n.op)) {
      m = copy_node(out, n, map);
      continue;
    }
    auto [it, fresh] = seen.emplace(node_key(n, map), kNoValue);
    if (fresh) {
      it->second = m = copy_node(out, n, map);
      continue;
    }
    m = it->second;
    Node& kept = out.node(m);
    if (kept.name.empty()) kept.name = n.name;
    kept.adjoint = kept.adjoint && n.adjoint;
  }
  copy_results(g, out, map);
  return out;
}

}  // namespace adjoint
