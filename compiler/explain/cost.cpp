// A FLOP and byte count per source line, forward and backward, from node types.
#include <algorithm>
#include <cstdio>
#include <map>
#include <sstream>

#include "codegen/memory_plan.hpp"
#include "explain/explain.hpp"
#include "ops/op_table.hpp"

namespace adjoint::explain {
namespace {

struct Cost {
  double flops = 0, bytes = 0;
};

double elements(const Type& t, const DimEnv& env) {
  double n = 1;
  for (const Dim& d : t.shape) n *= static_cast<double>(d.eval(env));
  return n;
}
double byte_size(const Type& t, const DimEnv& env) {
  return elements(t, env) * (t.dtype == DType::f64 ? 8.0 : 4.0);
}

double flops_of(const Graph& g, ValueId v, const DimEnv& env) {
  const Node& n = g.node(v);
  double out = elements(n.type, env);
  auto dim = [&](ValueId a, size_t i) { return static_cast<double>(g.type(a).shape[i].eval(env)); };
  switch (n.op) {
    case OpKind::input:
    case OpKind::param:
    case OpKind::constant:
    case OpKind::numel:
    case OpKind::reshape:
    case OpKind::flatten:
    case OpKind::transpose:
    case OpKind::gather:
      return 0;                // no arithmetic (a transpose or a gather moves bytes only)
    case OpKind::scatter_add:  // one add per element of src, whatever the table's size
      return elements(g.type(n.args[0]), env);
    case OpKind::matmul: {  // 2mnk: k is A's contracted dimension
      const Type& a = g.type(n.args[0]);
      size_t r = a.rank();
      double k = n.attrs.get_bool("ta") ? dim(n.args[0], r - 2) : dim(n.args[0], r - 1);
      return 2 * out * k;
    }
    case OpKind::conv2d:  // out [N,K,Ho,Wo], w [K,C,R,S]: 2·N·K·Ho·Wo·C·R·S
      return 2 * out * elements(g.type(n.args[1]), env) / dim(n.args[1], 0);
    case OpKind::conv2d_bwd_data:  // g [N,K,Ho,Wo], w [K,C,R,S]
      return 2 * elements(g.type(n.args[0]), env) * elements(g.type(n.args[1]), env) /
             dim(n.args[1], 0);
    case OpKind::conv2d_bwd_filter:  // g [N,K,Ho,Wo], out [K,C,R,S]
      return 2 * elements(g.type(n.args[1]), env) * out /
             static_cast<double>(n.type.shape[0].eval(env));
    default: {
      // Elementwise: one per output element; reductions: one per input element.
      double in = 0;
      for (ValueId a : n.args) in = std::max(in, elements(g.type(a), env));
      return std::max(out, in);
    }
  }
}

}  // namespace

StepFlops step_flops(const Graph& g, const DimEnv& env) {
  StepFlops f;
  for (ValueId v = 0; v < g.size(); ++v) {
    const Node& n = g.node(v);
    if (is_leaf(n.op)) continue;
    (n.adjoint ? f.backward : f.forward) += flops_of(g, v, env);
  }
  return f;
}

std::string cost_report(const Graph& g, const DimEnv& given, const SourceManager* sm) {
  DimEnv env = given;
  std::vector<std::string> assumed;
  for (const std::string& s : g.size_symbols())
    if (!env.count(s)) {
      env[s] = 1;
      assumed.push_back(s);
    }
  std::map<uint32_t, std::pair<Cost, Cost>> rows;  // line -> forward, backward
  std::map<uint32_t, SourceLoc> where;
  Cost fwd, bwd;
  int transposes = 0;
  for (ValueId v = 0; v < g.size(); ++v) {
    const Node& n = g.node(v);
    if (n.op == OpKind::transpose) ++transposes;
    if (is_leaf(n.op)) continue;
    Cost c{flops_of(g, v, env), byte_size(n.type, env)};
    for (ValueId a : n.args) c.bytes += byte_size(g.type(a), env);
    if (n.op == OpKind::reshape || n.op == OpKind::constant) c.bytes = 0;  // views, no traffic
    if (n.op == OpKind::gather)  // reads only the picked rows of the table
      c.bytes = 2 * byte_size(n.type, env) + byte_size(g.type(n.args[1]), env);
    Cost& row = n.adjoint ? rows[n.loc.line].second : rows[n.loc.line].first;
    row.flops += c.flops;
    row.bytes += c.bytes;
    Cost& tot = n.adjoint ? bwd : fwd;
    tot.flops += c.flops;
    tot.bytes += c.bytes;
    where[n.loc.line] = n.loc;
  }
  std::ostringstream o;
  o << "model " << g.model << ": cost per source line";
  if (!given.empty()) {
    o << " (";
    bool first = true;
    for (const auto& [k, v] : given) o << (first ? "" : ", ") << k << "=" << v, first = false;
    o << ")";
  }
  o << "\n";
  for (const std::string& s : assumed)
    o << "note: size " << s << " is not given; taken as 1 (use --dim " << s << "=N)\n";
  char buf[256];
  std::snprintf(buf, sizeof buf, "%-5s %10s %10s %10s %10s %7s  %s\n", "line", "fwd FLOP", "fwd B",
                "bwd FLOP", "bwd B", "bwd/fwd", "source");
  o << buf;
  auto ratio_text = [](double b, double f) {
    if (f == 0) return std::string(b == 0 ? "-" : "inf");
    char r[32];
    std::snprintf(r, sizeof r, "%.2f", b / f);
    return std::string(r);
  };
  bool flagged = false;
  for (const auto& [line, fb] : rows) {
    const auto& [f, b] = fb;
    std::string src = sm && line ? std::string(sm->line_text(where[line])) : "";
    while (!src.empty() && (src.back() == '\n' || src.back() == '\r')) src.pop_back();
    bool flag = f.flops > 0 && b.flops / f.flops > 5;
    flagged |= flag;
    std::snprintf(buf, sizeof buf, "%-5s %10s %10s %10s %10s %7s%s ",
                  line ? std::to_string(line).c_str() : "?", format_count(f.flops).c_str(),
                  format_count(f.bytes).c_str(), format_count(b.flops).c_str(),
                  format_count(b.bytes).c_str(), ratio_text(b.flops, f.flops).c_str(),
                  flag ? "!" : " ");
    o << buf << src << "\n";
  }
  std::snprintf(buf, sizeof buf, "%-5s %10s %10s %10s %10s %7s\n", "total",
                format_count(fwd.flops).c_str(), format_count(fwd.bytes).c_str(),
                format_count(bwd.flops).c_str(), format_count(bwd.bytes).c_str(),
                ratio_text(bwd.flops, fwd.flops).c_str());
  o << buf;
  if (flagged) o << "! backward/forward FLOP ratio above 5 on this line\n";
  o << "materialised transposes: " << transposes
    << (transposes == 0 ? " (goal met: every transpose is folded into a matmul flag)\n"
                        : " (goal is 0: these copy a matrix)\n");
  MemoryPlan plan = plan_memory(g);
  o << "workspace: " << format_count(static_cast<double>(plan.total().eval(env)))
    << "B planned by liveness (" << format_count(static_cast<double>(plan.unplanned().eval(env)))
    << "B with one region per buffer), plus the GEMM scratch\n";
  return o.str();
}

std::string format_count(double v) {
  char buf[32];
  if (v >= 1e9)
    std::snprintf(buf, sizeof buf, "%.2fG", v / 1e9);
  else if (v >= 1e6)
    std::snprintf(buf, sizeof buf, "%.2fM", v / 1e6);
  else if (v >= 1e4)
    std::snprintf(buf, sizeof buf, "%.1fK", v / 1e3);
  else
    std::snprintf(buf, sizeof buf, "%.0f", v);
  return buf;
}

}  // namespace adjoint::explain
