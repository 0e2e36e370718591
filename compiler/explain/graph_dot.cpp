// The forward and adjoint graph as Graphviz DOT: forward nodes blue ellipses,
// adjoint nodes orange boxes in their own cluster, edges labelled with shapes.
#include <sstream>

#include "explain/explain.hpp"
#include "ops/op_table.hpp"

namespace adjoint::explain {
namespace {

std::string quote(const std::string& s) {
  std::string o = "\"";
  for (char c : s) {
    if (c == '"' || c == '\\') o += '\\';
    o += c;
  }
  return o + "\"";
}

std::string label(const Graph& g, ValueId v) {
  const Node& n = g.node(v);
  std::string name = is_leaf(n.op) ? n.attrs.get_str("name") : n.name;
  std::string l = "%" + std::to_string(v) + " " + op_name(n.op);
  if (!name.empty()) l += "\\n" + name;
  if (n.op == OpKind::matmul) {
    if (n.attrs.get_bool("ta")) l += "\\nta";
    if (n.attrs.get_bool("tb")) l += "\\ntb";
  }
  if (const AttrValue* c = n.attrs.find("value"); n.op == OpKind::constant && c)
    l += "\\n" + attr_value_str(*c);
  return l;
}

void node_line(std::ostringstream& o, const Graph& g, ValueId v) {
  const Node& n = g.node(v);
  // Labels are built with \n escapes already, so only quotes need escaping.
  std::string l = label(g, v);
  o << "    n" << v << " [label=\"" << l << "\"";
  if (n.adjoint)
    o << ", shape=box, style=filled, fillcolor=\"#f8c291\"";
  else if (is_leaf(n.op))
    o << ", shape=ellipse, style=\"filled,bold\", fillcolor=\"#82ccdd\"";
  else
    o << ", shape=ellipse, style=filled, fillcolor=\"#c7ecee\"";
  o << "];\n";
}

}  // namespace

std::string graph_dot(const Graph& g) {
  std::ostringstream o;
  o << "digraph " << quote(g.model) << " {\n  rankdir=TB;\n  node [fontname=\"Helvetica\"];\n"
    << "  edge [fontname=\"Helvetica\", fontsize=9];\n";
  o << "  subgraph cluster_forward {\n    label=\"forward\";\n    color=\"#0a3d62\";\n";
  for (ValueId v = 0; v < g.size(); ++v)
    if (!g.node(v).adjoint) node_line(o, g, v);
  o << "  }\n  subgraph cluster_adjoint {\n    label=\"adjoint (reverse mode)\";\n"
    << "    color=\"#e58e26\";\n";
  for (ValueId v = 0; v < g.size(); ++v)
    if (g.node(v).adjoint) node_line(o, g, v);
  o << "  }\n";
  for (ValueId v = 0; v < g.size(); ++v)
    for (ValueId a : g.node(v).args)
      o << "  n" << a << " -> n" << v << " [label=" << quote(g.type(a).str()) << "];\n";
  for (const NamedValue& gr : g.grads) {
    o << "  grad_" << gr.value << "_" << gr.name << " [label=" << quote("grad " + gr.name)
      << ", shape=note, style=filled, fillcolor=\"#fad390\"];\n";
    o << "  n" << gr.value << " -> grad_" << gr.value << "_" << gr.name << " [label="
      << quote(g.type(gr.value).str()) << "];\n";
  }
  o << "}\n";
  return o.str();
}

}  // namespace adjoint::explain
