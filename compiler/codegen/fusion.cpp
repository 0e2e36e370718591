#include "codegen/fusion.hpp"

#include <algorithm>
#include <functional>
#include <utility>

namespace adjoint {

namespace {

constexpr int64_t kShortestFusedRow = 64;

// How many times each node is read: as an operand (once per operand slot)
// and as a result of the graph.
std::vector<int> read_counts(const Graph& g) {
  std::vector<int> reads(g.nodes.size(), 0);
  for (const Node& n : g.nodes)
    for (ValueId a : n.args) ++reads[static_cast<size_t>(a)];
  if (g.loss) ++reads[static_cast<size_t>(*g.loss)];
  for (const NamedValue& r : g.outputs) ++reads[static_cast<size_t>(r.value)];
  for (const NamedValue& r : g.grads) ++reads[static_cast<size_t>(r.value)];
  return reads;
}

bool one_element(const Shape& s) {
  return std::all_of(s.begin(), s.end(),
                     [](const Dim& d) { return d.is_const() && d.value() == 1; });
}

// A tree with a leaf that broadcasts (neither the root's shape nor one
// element) runs as a loop nest, and the vectoriser's checks run once per
// row of it: on short rows they cost more than the buffers fusion saves
// (tiny's [B,8] tanh(x @ W + b): 0.35 us unfused, 0.65 fused).
bool worth_a_nest(const Graph& g, const std::vector<ValueId>& loop_of, ValueId root) {
  const Shape& out = g.type(root).shape;
  bool nest = false;
  for (ValueId l : fused_leaves(g, loop_of, root)) {
    const Shape& s = g.type(l).shape;
    nest |= s != out && !one_element(s);
  }
  if (!nest || out.empty()) return true;
  const Dim& row = out.back();
  return !row.is_const() || row.value() >= kShortestFusedRow;
}

// Whether every leaf of the tree rooted at `root` in `owner`'s loop has the
// root's shape or one element.
bool reads_flat(const Graph& g, const std::vector<ValueId>& loop_of, ValueId root, ValueId owner) {
  const Shape& out = g.type(root).shape;
  for (ValueId l : fused_leaves(g, loop_of, root, owner))
    if (g.type(l).shape != out && !one_element(g.type(l).shape)) return false;
  return true;
}

}  // namespace

std::vector<ValueId> fuse_pointwise(const Graph& g) {
  std::vector<int> reads = read_counts(g);
  // The one reader of each node read once.
  std::vector<ValueId> reader(g.nodes.size(), kNoValue);
  for (ValueId v = 0; v < g.size(); ++v)
    for (ValueId a : g.node(v).args)
      if (reads[static_cast<size_t>(a)] == 1) reader[static_cast<size_t>(a)] = v;
  std::vector<ValueId> loop_of(g.nodes.size());
  // Readers come after what they read: decide from the last node back, so a
  // reader's own loop is known first.
  for (ValueId v = g.size(); v-- > 0;) {
    size_t i = static_cast<size_t>(v);
    loop_of[i] = v;
    ValueId r = reader[i];
    if (r == kNoValue) continue;
    const Node &n = g.node(v), &rn = g.node(r);
    if (pointwise(n.op) && pointwise(rn.op) && n.type == rn.type)
      loop_of[i] = loop_of[static_cast<size_t>(r)];
    else if (pointwise(n.op) && reads_once(rn.op))
      loop_of[i] = r;
  }
  // A tree in a reduction (rooted at its operand) must read flat; else it
  // gets its own loop.
  for (ValueId v = 0; v < g.size(); ++v) {
    ValueId owner = loop_of[static_cast<size_t>(v)];
    if (owner == v || pointwise(g.node(owner).op)) continue;
    const std::vector<ValueId>& args = g.node(owner).args;
    if (std::find(args.begin(), args.end(), v) == args.end()) continue;
    if (reads_flat(g, loop_of, v, owner)) continue;
    for (ValueId u = 0; u <= v; ++u)
      if (loop_of[static_cast<size_t>(u)] == owner) loop_of[static_cast<size_t>(u)] = v;
  }
  for (ValueId v = 0; v < g.size(); ++v)
    if (loop_of[static_cast<size_t>(v)] == v && pointwise(g.node(v).op) &&
        !worth_a_nest(g, loop_of, v))
      for (ValueId u = 0; u < v; ++u)
        if (loop_of[static_cast<size_t>(u)] == v) loop_of[static_cast<size_t>(u)] = u;
  return loop_of;
}

std::vector<ValueId> gemm_epilogues(const Graph& g, const std::vector<ValueId>& loop_of) {
  std::vector<int> reads = read_counts(g);
  std::vector<ValueId> epilogue(g.nodes.size(), kNoValue);
  for (ValueId r = 0; r < g.size(); ++r) {
    if (loop_of[static_cast<size_t>(r)] != r || !pointwise(g.node(r).op)) continue;
    std::vector<ValueId> leaves = fused_leaves(g, loop_of, r);
    for (ValueId p : leaves) {
      const Node& n = g.node(p);
      if (!takes_epilogue(n.op) || reads[static_cast<size_t>(p)] != 1) continue;
      if (loop_of[static_cast<size_t>(p)] != p || n.type != g.type(r)) continue;
      // The GEMM runs at the product's place in the order: whatever else
      // the tree reads must exist by then.
      bool ready = std::all_of(leaves.begin(), leaves.end(), [&](ValueId l) { return l <= p; });
      if (ready) epilogue[static_cast<size_t>(p)] = r;
      break;
    }
  }
  return epilogue;
}

std::vector<ValueId> alongside_of(const Graph& g, const std::vector<ValueId>& loop_of) {
  // The nodes whose first operand each node is, in node order: the only
  // candidates for computing one another.
  std::vector<std::vector<ValueId>> first_readers(g.nodes.size());
  for (ValueId s = 0; s < g.size(); ++s)
    if (loop_of[static_cast<size_t>(s)] == s && !g.node(s).args.empty())
      first_readers[static_cast<size_t>(g.node(s).args[0])].push_back(s);
  std::vector<ValueId> with(g.nodes.size(), kNoValue);
  for (const std::vector<ValueId>& readers : first_readers)
    for (size_t j = 1; j < readers.size(); ++j)
      for (size_t i = 0; i < j && with[static_cast<size_t>(readers[j])] == kNoValue; ++i)
        if (computes_alongside(g, readers[i], readers[j]))
          with[static_cast<size_t>(readers[j])] = readers[i];
  // One node computes at most one other.
  std::vector<char> taken(g.nodes.size(), 0);
  for (ValueId& s : with)
    if (s != kNoValue && std::exchange(taken[static_cast<size_t>(s)], 1)) s = kNoValue;
  return with;
}

std::vector<ValueId> fused_leaves(const Graph& g, const std::vector<ValueId>& loop_of, ValueId root,
                                  ValueId owner) {
  if (owner == kNoValue) owner = root;
  std::vector<ValueId> leaves;
  std::function<void(ValueId)> walk = [&](ValueId v) {
    for (ValueId a : g.node(v).args) {
      if (a != root && a != owner && loop_of[static_cast<size_t>(a)] == owner)
        walk(a);
      else if (std::find(leaves.begin(), leaves.end(), a) == leaves.end())
        leaves.push_back(a);
    }
  };
  walk(root);
  return leaves;
}

}  // namespace adjoint
