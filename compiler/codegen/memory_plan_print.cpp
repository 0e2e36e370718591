// The memory plan as text: `adjc emit FILE --stage=plan [--dim B=64]`.
#include <algorithm>
#include <cstdio>
#include <sstream>

#include "codegen/memory_plan.hpp"
#include "ops/op_table.hpp"

namespace adjoint {

namespace {

// "512*B", or "512*B = 32768" when every symbol has a value.
std::string with_value(const SizePoly& p, const DimEnv& env, bool concrete) {
  std::string s = p.str();
  bool constant =
      std::all_of(p.terms.begin(), p.terms.end(), [](const Dim& d) { return d.is_const(); });
  if (concrete && !constant) s += " = " + std::to_string(p.eval(env));
  return s;
}

SizePoly poly(const Dim& d) {
  SizePoly p;
  p.add(d);
  return p;
}

std::string live_str(ValueId first, ValueId last, ValueId end) {
  auto at = [&](ValueId v) { return v >= end ? std::string("end") : std::to_string(v); };
  return at(first) + ".." + at(last);
}

// "%8 h" or "%8".
std::string value_str(const Graph& g, ValueId v) {
  const Node& n = g.node(v);
  return "%" + std::to_string(v) + (n.name.empty() ? "" : " " + n.name);
}

std::string row(const std::string& value, const std::string& op, const std::string& type,
                const std::string& bytes, const std::string& offset, const std::string& live) {
  char buf[512];
  std::snprintf(buf, sizeof buf, "  %-14s %-22s %-16s %-20s %-26s %s", value.c_str(), op.c_str(),
                type.c_str(), bytes.c_str(), offset.c_str(), live.c_str());
  std::string s = buf;
  while (!s.empty() && s.back() == ' ') s.pop_back();
  return s + "\n";
}

std::string percent(int64_t part, int64_t whole) {
  char buf[32];
  std::snprintf(buf, sizeof buf, "%.1f%%",
                whole ? 100.0 * static_cast<double>(part) / static_cast<double>(whole) : 0.0);
  return buf;
}

}  // namespace

std::string print_memory_plan(const Graph& g, const MemoryPlan& plan, const DimEnv& env) {
  bool concrete = true;
  for (const std::string& s : g.size_symbols()) concrete &= env.count(s) != 0;
  std::ostringstream o;
  o << "memory plan of model " << (g.model.empty() ? "model" : g.model);
  if (!env.empty()) {
    o << " (";
    bool first = true;
    for (const auto& [k, v] : env) o << (first ? "" : ", ") << k << "=" << v, first = false;
    o << ")";
  }
  auto count = [](size_t n, const char* what) {
    return std::to_string(n) + " " + what + (n == 1 ? "" : "s");
  };
  o << ": " << count(plan.regions.size(), "region") << " in " << count(plan.arenas.size(), "arena")
    << "\n";
  o << "live ranges are node ids; 'end' is after the last node (results with a region of their own "
       "are computed in the caller's buffers instead)\n";
  for (size_t a = 0; a < plan.arenas.size(); ++a) {
    const Arena& ar = plan.arenas[a];
    o << "\narena " << a
      << (ar.unit.empty() ? " (constant sizes)" : " (sizes scale with " + ar.unit_str() + ")")
      << ": " << with_value(poly(ar.bytes()), env, concrete) << " bytes at "
      << with_value(plan.arena_base(a), env, concrete) << "\n";
    o << row("value", "op", "type", "bytes", "offset", "live");
    std::vector<const Region*> rs;
    for (const Region& r : plan.regions)
      if (r.arena == a) rs.push_back(&r);
    std::stable_sort(rs.begin(), rs.end(), [](const Region* x, const Region* y) {
      return x->offset != y->offset ? x->offset < y->offset : x->first < y->first;
    });
    for (const Region* r : rs) {
      std::string bytes = with_value(poly(ar.scaled(r->bytes)), env, concrete);
      std::string offset = with_value(plan.offset(*r), env, concrete);
      if (r->snapshot >= 0) {  // one value, copied after the end
        const Node& n = g.node(r->values[0]);
        o << row("snapshot of " + value_str(g, r->values[0]), "(train step)", n.type.str(), bytes,
                 offset, live_str(r->first, r->last, g.size()));
        continue;
      }
      for (size_t k = 0; k < r->values.size(); ++k) {
        ValueId v = r->values[k];
        const Node& n = g.node(v);
        // The first value's region may start earlier, where it is computed
        // alongside another node.
        std::string live =
            live_str(k == 0 ? r->first : v, plan.last_read[static_cast<size_t>(v)], g.size());
        if (k > 0) live += "  in place of %" + std::to_string(r->values[k - 1]);
        o << row(value_str(g, v), op_name(n.op), n.type.str(), bytes, offset, live);
      }
    }
  }
  std::string fused;
  for (ValueId v = 0; v < g.size(); ++v)
    if (ValueId root = plan.loop_of[static_cast<size_t>(v)]; root != v)
      fused += row(value_str(g, v), op_name(g.node(v).op), g.node(v).type.str(), "-", "-",
                   "in the loop of %" + std::to_string(root));
  if (!fused.empty()) o << "\nfused: computed inside another node's loop, no storage\n" << fused;
  std::string epilogues;
  for (ValueId v = 0; v < g.size(); ++v)
    if (ValueId root = plan.epilogue_of[static_cast<size_t>(v)]; root != kNoValue)
      epilogues += "  %" + std::to_string(root) + " (" + op_name(g.node(root).op) +
                   ") is applied by the GEMM of %" + std::to_string(v) +
                   " to each block of it as the block is finished\n";
  if (!epilogues.empty()) o << "\nGEMM epilogues\n" << epilogues;
  std::string alongside;
  for (ValueId v = 0; v < g.size(); ++v)
    if (ValueId with = plan.alongside[static_cast<size_t>(v)]; with != kNoValue)
      alongside += "  %" + std::to_string(v) + " (" + op_name(g.node(v).op) +
                   ") is computed in the pass of %" + std::to_string(with) + " (" +
                   op_name(g.node(with).op) + "), live from there\n";
  if (!alongside.empty()) o << "\ncomputed alongside\n" << alongside;
  SizePoly total = plan.total(), unplanned = plan.unplanned();
  o << "\nworkspace: " << with_value(total, env, concrete)
    << " bytes, + the GEMM scratch (sized by code generation)\n";
  o << "unplanned (one region per buffer, no reuse): " << with_value(unplanned, env, concrete)
    << " bytes\n";
  if (concrete) {
    int64_t t = total.eval(env), u = unplanned.eval(env);
    o << "saved: " << (u - t) << " bytes (" << percent(u - t, u) << ")\n";
  }
  return o.str();
}

}  // namespace adjoint
