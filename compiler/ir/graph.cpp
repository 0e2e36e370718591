#include "ir/graph.hpp"

#include <algorithm>

namespace adjoint {

std::vector<ValueId> Graph::inputs() const {
  std::vector<ValueId> out;
  for (ValueId v = 0; v < size(); ++v)
    if (node(v).op == OpKind::input) out.push_back(v);
  return out;
}

std::vector<ValueId> Graph::params() const {
  std::vector<ValueId> out;
  for (ValueId v = 0; v < size(); ++v)
    if (node(v).op == OpKind::param) out.push_back(v);
  return out;
}

std::optional<ValueId> Graph::leaf(const std::string& name) const {
  for (ValueId v = 0; v < size(); ++v) {
    const Node& n = node(v);
    if ((n.op == OpKind::input || n.op == OpKind::param) && n.attrs.get_str("name") == name)
      return v;
  }
  return std::nullopt;
}

std::vector<std::string> Graph::size_symbols() const {
  std::vector<std::string> out;
  for (ValueId v : inputs())
    for (const Dim& d : type(v).shape)
      for (const std::string& s : d.symbols())
        if (std::find(out.begin(), out.end(), s) == out.end()) out.push_back(s);
  return out;
}

std::vector<int> Graph::use_counts() const {
  std::vector<int> uses(nodes.size(), 0);
  for (const Node& n : nodes)
    for (ValueId a : n.args) ++uses[static_cast<size_t>(a)];
  if (loss) ++uses[static_cast<size_t>(*loss)];
  for (const NamedValue& o : outputs) ++uses[static_cast<size_t>(o.value)];
  for (const NamedValue& g : grads) ++uses[static_cast<size_t>(g.value)];
  return uses;
}

}  // namespace adjoint
