#include "autodiff/reverse_mode.hpp"

#include <stdexcept>

#include "ir/builder.hpp"
#include "ops/op_table.hpp"

namespace adjoint {
namespace {

// active[v]: v depends on some wrt leaf and the loss depends on v.
std::vector<bool> active_nodes(const Graph& g, const std::vector<ValueId>& wrt_leaves) {
  size_t n = g.nodes.size();
  std::vector<bool> from_wrt(n, false), to_loss(n, false);
  for (ValueId w : wrt_leaves) from_wrt[static_cast<size_t>(w)] = true;
  for (size_t v = 0; v < n; ++v)
    for (ValueId a : g.nodes[v].args)
      if (from_wrt[static_cast<size_t>(a)]) from_wrt[v] = true;
  to_loss[static_cast<size_t>(*g.loss)] = true;
  for (size_t v = n; v-- > 0;)
    if (to_loss[v])
      for (ValueId a : g.nodes[v].args) to_loss[static_cast<size_t>(a)] = true;
  std::vector<bool> active(n);
  for (size_t v = 0; v < n; ++v) active[v] = from_wrt[v] && to_loss[v];
  return active;
}

}  // namespace

Graph reverse_mode(const Graph& forward) {
  if (!forward.loss) throw std::logic_error("reverse_mode: the graph has no loss");
  Graph g = forward;
  g.grads.clear();
  std::vector<ValueId> wrt_leaves;
  for (const std::string& name : g.wrt) {
    auto leaf = g.leaf(name);
    if (!leaf) throw std::logic_error("reverse_mode: no leaf named '" + name + "'");
    wrt_leaves.push_back(*leaf);
  }
  const size_t forward_size = g.nodes.size();
  std::vector<bool> active = active_nodes(g, wrt_leaves);
  std::vector<ValueId> adj(forward_size, kNoValue);

  Builder b(g, g.node(*g.loss).loc, /*adjoint=*/true);
  adj[static_cast<size_t>(*g.loss)] = b.constant(1.0);  // dL/dL = 1

  for (size_t v = forward_size; v-- > 0;) {
    if (adj[v] == kNoValue || !active[v] || is_leaf(g.nodes[v].op)) continue;
    const Node fwd = g.nodes[v];  // a copy: the VJP appends to g.nodes
    b.set_loc(fwd.loc);
    VjpContext cx{b, fwd, static_cast<ValueId>(v), adj[v], {}};
    for (ValueId a : fwd.args)
      cx.needs.push_back(active[static_cast<size_t>(a)] && is_float(g.type(a).dtype));
    std::vector<ValueId> contrib = op_info(fwd.op).vjp(cx);
    if (contrib.size() != fwd.args.size())
      throw std::logic_error("VJP of '" + op_name(fwd.op) + "' returned the wrong arity");
    for (size_t i = 0; i < contrib.size(); ++i) {
      if (contrib[i] == kNoValue || !cx.needs[i]) continue;
      size_t a = static_cast<size_t>(fwd.args[i]);
      // ggml's habit: every gradient has exactly its operand's type.
      if (g.type(contrib[i]) != g.type(fwd.args[i]))
        throw std::logic_error("VJP of '" + op_name(fwd.op) + "' gave operand " +
                               std::to_string(i) + " a gradient of type " +
                               g.type(contrib[i]).str() + ", expected " + g.type(fwd.args[i]).str());
      adj[a] = adj[a] == kNoValue ? contrib[i] : b.add(adj[a], contrib[i]);
    }
  }

  for (size_t i = 0; i < wrt_leaves.size(); ++i) {
    ValueId leaf = wrt_leaves[i];
    ValueId grad = adj[static_cast<size_t>(leaf)];
    if (grad == kNoValue) {  // the loss does not depend on it
      b.set_loc(g.node(leaf).loc);
      grad = b.fill(0.0, g.type(leaf).shape);
    }
    g.grads.push_back({g.wrt[i], grad});
  }
  return g;
}

}  // namespace adjoint
