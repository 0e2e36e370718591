#include "passes/dce.hpp"

#include "ops/op_table.hpp"
#include "passes/rewrite.hpp"

namespace adjoint {
namespace {

// Live = reachable backwards from a result; leaves are always live.
std::vector<bool> live_nodes(const Graph& g) {
  std::vector<bool> live(g.nodes.size(), false);
  auto mark = [&](ValueId v) { live.at(static_cast<size_t>(v)) = true; };
  if (g.loss) mark(*g.loss);
  for (const NamedValue& o : g.outputs) mark(o.value);
  for (const NamedValue& gr : g.grads) mark(gr.value);
  // Operands precede users, so one backward sweep reaches everything.
  for (ValueId v = g.size() - 1; v >= 0; --v) {
    const Node& n = g.node(v);
    if (is_leaf(n.op)) live[static_cast<size_t>(v)] = true;
    if (live[static_cast<size_t>(v)])
      for (ValueId a : n.args) mark(a);
  }
  return live;
}

}  // namespace

Graph dce(const Graph& g) {
  std::vector<bool> live = live_nodes(g);
  Graph out = empty_like(g);
  std::vector<ValueId> map(g.nodes.size(), kNoValue);
  for (ValueId v = 0; v < g.size(); ++v)
    if (live[static_cast<size_t>(v)]) map[static_cast<size_t>(v)] = copy_node(out, g.node(v), map);
  copy_results(g, out, map);
  return out;
}

}  // namespace adjoint
