#include "api/init_plan.hpp"

#include <stdexcept>

namespace adjoint::api {
namespace {

// Ops through which a param is still "the same tensor" for fan purposes.
bool is_view_op(OpKind op) {
  return op == OpKind::reshape || op == OpKind::flatten || op == OpKind::transpose;
}

// Fans from a matmul operand of type `t` at position `pos` (0: A, 1: B) with
// the matmul's transpose flag for that side.
//   A (ta ? a^T : a) is [m,k]: the contracted size is a.shape[ta ? 0 : 1];
//   B (tb ? b^T : b) is [k,n]: the contracted size is b.shape[tb ? 1 : 0].
Fans matmul_fans(const Shape& s, size_t pos, bool transposed) {
  size_t k = pos == 0 ? (transposed ? 0 : 1) : (transposed ? 1 : 0);
  return {s[k], s[1 - k]};
}

// For a kernel [K, C, R, S]: fan-in C*R*S, fan-out K*R*S.
Fans conv_fans(const Shape& s) {
  Dim rs = s[2] * s[3];
  return {s[1] * rs, s[0] * rs};
}

Fans default_fans(const Shape& s) {
  if (s.empty()) return {1, 1};
  const Dim& last = s.back();
  return {last, s.size() >= 2 ? s.front() : last};
}

}  // namespace

Fans fans_of(const Graph& g, ValueId param) {
  // Nodes are in topological order, so one forward sweep sees every view of
  // the param before its users, and the first matmul/conv2d found is the
  // first use.
  std::vector<bool> is_view(g.nodes.size(), false);
  is_view[static_cast<size_t>(param)] = true;
  auto viewed = [&](ValueId v) { return is_view[static_cast<size_t>(v)]; };
  for (ValueId v = param + 1; v < g.size(); ++v) {
    const Node& n = g.node(v);
    if (is_view_op(n.op) && viewed(n.args[0])) {
      is_view[static_cast<size_t>(v)] = true;
      continue;
    }
    if (n.op == OpKind::matmul) {
      for (size_t pos = 0; pos < 2; ++pos) {
        const Shape& s = g.type(n.args[pos]).shape;
        if (viewed(n.args[pos]) && s.size() == 2)
          return matmul_fans(s, pos, n.attrs.get_bool(pos == 0 ? "ta" : "tb"));
      }
    }
    if (n.op == OpKind::conv2d && viewed(n.args[1])) {
      const Shape& s = g.type(n.args[1]).shape;
      if (s.size() == 4) return conv_fans(s);
    }
  }
  return default_fans(g.type(param).shape);
}

bool ParamInit::has_fans() const {
  return spec.kind == InitKind::he_normal || spec.kind == InitKind::glorot_uniform;
}

InitSpec ParamInit::resolved(const DimEnv& sizes) const {
  InitSpec s = spec;
  if (has_fans()) {
    s.fan_in = fans.in.eval(sizes);
    s.fan_out = fans.out.eval(sizes);
  }
  return s;
}

std::string ParamInit::describe() const {
  if (!has_fans() || (fans.in.is_const() && fans.out.is_const()))
    return adjoint::describe(resolved({}));
  std::string out = std::string(init_kind_name(spec.kind)) + "(fan_in=" + fans.in.str();
  if (spec.kind == InitKind::glorot_uniform) out += ", fan_out=" + fans.out.str();
  return out + ")";
}

ParamInit param_init_of(const Graph& g, ValueId param) {
  const Attrs& a = g.node(param).attrs;
  const std::string kind = a.has("init") ? a.get_str("init") : "zeros";
  if (kind == "zeros") return {InitSpec::zeros()};
  if (kind == "ones") return {InitSpec::ones()};
  if (kind == "constant") return {InitSpec::constant(a.get_f64("init_a"))};
  if (kind == "normal") return {InitSpec::normal(a.get_f64("init_a"), a.get_f64("init_b"))};
  if (kind == "uniform") return {InitSpec::uniform(a.get_f64("init_a"), a.get_f64("init_b"))};
  Fans f = fans_of(g, param);
  if (kind == "he_normal") return {InitSpec::he_normal(0), f};
  if (kind == "glorot_uniform") return {InitSpec::glorot_uniform(0, 0), f};
  throw Error("param '" + a.get_str("name") + "' has an unknown initialiser '" + kind + "'");
}

InitSpec init_spec_of(const Graph& g, ValueId param) {
  ParamInit p = param_init_of(g, param);
  if (p.has_fans() && !(p.fans.in.is_const() && p.fans.out.is_const()))
    throw Error("param '" + g.node(param).attrs.get_str("name") + "' has the symbolic fans " +
                p.describe() + ": its InitSpec needs the sizes (ParamInit::resolved)");
  return p.resolved({});
}

}  // namespace adjoint::api
