#include "ir/printer.hpp"

#include <cctype>
#include <cstdio>

#include "ir/verifier.hpp"
#include "ops/op_table.hpp"

namespace adjoint {
namespace {

bool is_identifier(const std::string& s) {
  if (s.empty() || !(std::isalpha(static_cast<unsigned char>(s[0])) || s[0] == '_')) return false;
  for (char c : s)
    if (!(std::isalnum(static_cast<unsigned char>(c)) || c == '_')) return false;
  return true;
}

// A double-quoted string with \" \\ and control characters escaped, so any
// byte string reads back unchanged.
std::string quoted(const std::string& s) {
  std::string out = "\"";
  for (char c : s) {
    unsigned char u = static_cast<unsigned char>(c);
    if (c == '"' || c == '\\') {
      out += '\\';
      out += c;
    } else if (c == '\n') {
      out += "\\n";
    } else if (c == '\t') {
      out += "\\t";
    } else if (u < 32 || u == 127) {
      char buf[8];
      std::snprintf(buf, sizeof buf, "\\x%02x", u);
      out += buf;
    } else {
      out += c;
    }
  }
  return out + "\"";
}

// Like Attrs::str(), but strings are escaped so they always parse back.
std::string attrs_text(const Attrs& attrs) {
  if (attrs.items().empty()) return "";
  std::string out = "{";
  bool first = true;
  for (const auto& [name, value] : attrs.items()) {
    out += (first ? "" : ", ") + name + "=";
    const auto* s = std::get_if<std::string>(&value);
    out += s ? quoted(*s) : attr_value_str(value);
    first = false;
  }
  return out + "}";
}

std::string value_ref(ValueId v) { return "%" + std::to_string(v); }

// The op's name; a kind without a row (only in a corrupted graph) still prints.
std::string op_text(OpKind k) {
  if (op_defined(k)) return op_name(k);
  return "<op " + std::to_string(static_cast<int>(k)) + ">";
}

}  // namespace

std::string print_name(const std::string& name) {
  return is_identifier(name) ? name : quoted(name);
}

std::string print_node(const Graph& g, ValueId v) {
  const Node& n = g.node(v);
  std::string line = value_ref(v);
  if (!n.name.empty()) line += " " + print_name(n.name);
  line += " = " + op_text(n.op);
  if (!n.args.empty()) {
    line += "(";
    for (size_t i = 0; i < n.args.size(); ++i) line += (i ? ", " : "") + value_ref(n.args[i]);
    line += ")";
  }
  if (!n.attrs.items().empty()) line += " " + attrs_text(n.attrs);
  line += " : " + n.type.str();
  std::string suffix;
  if (n.adjoint) suffix += " adjoint";
  if (n.loc.known()) suffix += " @" + std::to_string(n.loc.line) + ":" + std::to_string(n.loc.col);
  if (!suffix.empty()) line += " " + suffix;
  return line;
}

std::string print_graph(const Graph& g) {
  std::string out = "model " + print_name(g.model) + " " + dtype_name(g.float_type) + "\n";
  for (ValueId v = 0; v < g.size(); ++v) out += print_node(g, v) + "\n";
  if (g.loss) out += "loss " + value_ref(*g.loss) + "\n";
  if (!g.wrt.empty()) {
    out += "wrt ";
    for (size_t i = 0; i < g.wrt.size(); ++i) out += (i ? ", " : "") + print_name(g.wrt[i]);
    out += "\n";
  }
  for (const NamedValue& o : g.outputs)
    out += "output " + print_name(o.name) + " = " + value_ref(o.value) + "\n";
  for (const NamedValue& gr : g.grads)
    out += "grad " + print_name(gr.name) + " = " + value_ref(gr.value) + "\n";
  return out;
}

}  // namespace adjoint
