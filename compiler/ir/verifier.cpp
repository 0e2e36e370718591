#include "ir/verifier.hpp"

#include <algorithm>
#include <map>
#include <stdexcept>

#include "ir/printer.hpp"
#include "ops/op_table.hpp"

namespace adjoint {
namespace {

using Problems = std::vector<std::string>;

std::string ref(ValueId v) { return "%" + std::to_string(v); }

bool in_range(const Graph& g, ValueId v) { return v >= 0 && v < g.size(); }

bool has_string_attr(const Attrs& attrs, const std::string& name) {
  const AttrValue* v = attrs.find(name);
  return v && std::holds_alternative<std::string>(*v);
}

// Recomputes the node's type with its op's rule and compares.
void check_type(const Graph& g, ValueId v, const OpInfo& info, Problems& out) {
  const Node& n = g.node(v);
  std::vector<Type> arg_types;
  for (ValueId a : n.args) arg_types.push_back(g.type(a));
  TypeResult r;
  try {
    r = info.infer(arg_types, n.attrs, TypeContext{g.float_type});
  } catch (const std::exception& e) {
    r = TypeResult::fail(std::string("type rule failed: ") + e.what());
  }
  std::string head = ref(v) + " = " + info.name + ": ";
  if (!r.ok())
    out.push_back(head + "its type rule rejects it: " + r.error);
  else if (r.type != n.type)
    out.push_back(head + "has type " + n.type.str() + " but its rule gives " + r.type.str());
}

void check_node(const Graph& g, ValueId v, Problems& out) {
  const Node& n = g.node(v);
  if (!op_defined(n.op)) {
    out.push_back(ref(v) + ": op kind " + std::to_string(static_cast<int>(n.op)) + " has no row");
    return;
  }
  const OpInfo& info = op_info(n.op);
  std::string head = ref(v) + " = " + info.name + ": ";
  if (info.expand) out.push_back(head + "composite op left in the graph");
  if (static_cast<int>(n.args.size()) != info.arity) {
    out.push_back(head + "has " + std::to_string(n.args.size()) + " operand(s), the op takes " +
                  std::to_string(info.arity));
    return;
  }
  bool args_ok = true;
  for (ValueId a : n.args) {
    if (!in_range(g, a) || a >= v) {
      out.push_back(head + "operand " + ref(a) + " does not precede it");
      args_ok = false;
    }
  }
  if (is_leaf(n.op) && !(has_string_attr(n.attrs, "name") && has_string_attr(n.attrs, "dtype"))) {
    out.push_back(head + "a leaf needs string attributes 'name' and 'dtype'");
    return;
  }
  if (args_ok) check_type(g, v, info, out);
}

void check_leaf_names(const Graph& g, Problems& out) {
  std::map<std::string, ValueId> seen;
  for (ValueId v = 0; v < g.size(); ++v) {
    const Node& n = g.node(v);
    if (!is_leaf(n.op) || !has_string_attr(n.attrs, "name")) continue;
    const std::string& name = n.attrs.get_str("name");
    auto [it, fresh] = seen.emplace(name, v);
    if (!fresh)
      out.push_back("leaf name '" + name + "' is declared twice (" + ref(it->second) + " and " +
                    ref(v) + ")");
  }
}

// The input/param leaf called `name`, if there is exactly one such.
std::optional<ValueId> find_leaf(const Graph& g, const std::string& name) {
  for (ValueId v = 0; v < g.size(); ++v) {
    const Node& n = g.node(v);
    if (is_leaf(n.op) && has_string_attr(n.attrs, "name") && n.attrs.get_str("name") == name)
      return v;
  }
  return std::nullopt;
}

void check_results(const Graph& g, Problems& out) {
  if (g.loss) {
    if (!in_range(g, *g.loss))
      out.push_back("loss " + ref(*g.loss) + " is not a node");
    else if (const Type& t = g.type(*g.loss); !is_float(t.dtype) || t.rank() != 0)
      out.push_back("loss " + ref(*g.loss) + " is " + t.str() + ", not a float scalar");
  }
  for (const NamedValue& o : g.outputs)
    if (!in_range(g, o.value))
      out.push_back("output '" + o.name + "' is " + ref(o.value) + ", not a node");
  for (const std::string& w : g.wrt) {
    auto leaf = find_leaf(g, w);
    if (!leaf)
      out.push_back("wrt '" + w + "' is not an input or param");
    else if (!is_float(g.type(*leaf).dtype))
      out.push_back("wrt '" + w + "' is not a float tensor");
  }
  for (const NamedValue& gr : g.grads) {
    std::string head = "grad '" + gr.name + "' ";
    if (!in_range(g, gr.value)) {
      out.push_back(head + "is " + ref(gr.value) + ", not a node");
      continue;
    }
    if (std::find(g.wrt.begin(), g.wrt.end(), gr.name) == g.wrt.end())
      out.push_back(head + "is not in the wrt list");
    auto leaf = find_leaf(g, gr.name);
    if (!leaf)
      out.push_back(head + "names no input or param");
    else if (g.type(gr.value) != g.type(*leaf))
      out.push_back(head + "has type " + g.type(gr.value).str() + " but the leaf is " +
                    g.type(*leaf).str());
  }
}

}  // namespace

bool op_defined(OpKind kind) {
  static const std::vector<bool> defined = [] {
    std::vector<bool> d(kNumOps, false);
    for (const OpInfo* row : all_ops()) d[static_cast<size_t>(row->kind)] = true;
    return d;
  }();
  size_t i = static_cast<size_t>(kind);
  return i < defined.size() && defined[i];
}

std::vector<std::string> verify(const Graph& g) {
  Problems out;
  for (ValueId v = 0; v < g.size(); ++v) check_node(g, v, out);
  check_leaf_names(g, out);
  check_results(g, out);
  return out;
}

void verify_or_throw(const Graph& g, const std::string& stage) {
  Problems problems = verify(g);
  if (problems.empty()) return;
  std::string msg = "IR verification failed after " + stage + ":\n";
  for (const std::string& p : problems) msg += "  " + p + "\n";
  msg += "graph:\n" + print_graph(g);
  throw std::logic_error(msg);
}

}  // namespace adjoint
