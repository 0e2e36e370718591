// Building the gradient's expression tree from the adjoint IR, and evaluating it.
#include "explain/explain.hpp"

#include <algorithm>
#include <map>
#include <set>

#include "ops/op_table.hpp"
#include "support/diagnostics.hpp"

namespace adjoint::explain {
namespace {

bool is_reshape(const Graph& g, ValueId v) { return g.node(v).op == OpKind::reshape; }

// Reshapes of vectors to [n,1] and back are notation noise: look through them.
ValueId strip(const Graph& g, ValueId v) {
  while (is_reshape(g, v)) v = g.node(v).args[0];
  return v;
}

// Distinct non-reshape users of each node, seen through reshapes.
std::vector<std::set<ValueId>> users_through_reshapes(const Graph& g) {
  std::vector<std::set<ValueId>> users(g.nodes.size());
  for (ValueId u = 0; u < g.size(); ++u) {
    if (is_reshape(g, u)) continue;
    for (ValueId a : g.node(u).args) users[strip(g, a)].insert(u);
  }
  return users;
}

// Deeper gradients are refused: the tree is built and printed recursively,
// and text that deep is no explanation anyway.
constexpr int kMaxDepth = 1500;

class TreeBuilder {
 public:
  TreeBuilder(const Graph& g, Explanation& e) : g_(g), e_(e), users_(users_through_reshapes(g)) {}

  int expr(ValueId v) {
    if (auto it = memo_.find(v); it != memo_.end()) return it->second;
    if (depth_ >= kMaxDepth)
      throw Error("the gradient is too deep to explain (more than " + std::to_string(kMaxDepth) +
                  " nested operations); `adjc emit FILE --stage=opt` prints it as IR");
    ++depth_;
    struct Leave {
      int& depth;
      ~Leave() { --depth; }
    } leave{depth_};
    const Node& n = g_.node(v);
    int id;
    if (is_leaf(n.op)) {
      Expr x{.kind = Expr::Kind::Leaf, .op = n.op, .type = n.type, .name = n.attrs.get_str("name")};
      id = push(std::move(x));
    } else if (names_a_definition(v)) {
      int body = body_of(v);
      std::string name = n.adjoint ? "" : n.name.empty() ? "s" + std::to_string(++shared_) : n.name;
      e_.defs.push_back({.name = name, .delta = 0, .root = body});
      delta_value_.push_back(n.adjoint ? v : kNoValue);
      id = push({.kind = Expr::Kind::Ref,
                 .op = n.op,
                 .type = n.type,
                 .def = static_cast<int>(e_.defs.size()) - 1});
    } else {
      id = body_of(v);
    }
    memo_[v] = id;
    return id;
  }

  // δ numbers: δ_1 is the shared term farthest from the loss (the first layer).
  void number_deltas() {
    std::vector<ValueId> vs;
    for (ValueId v : delta_value_)
      if (v != kNoValue) vs.push_back(v);
    std::sort(vs.rbegin(), vs.rend());
    for (size_t d = 0; d < e_.defs.size(); ++d) {
      if (delta_value_[d] == kNoValue) continue;
      auto pos = std::find(vs.begin(), vs.end(), delta_value_[d]) - vs.begin();
      e_.defs[d].delta = static_cast<int>(pos) + 1;
    }
  }

 private:
  // A user-named forward value, or an adjoint term shared by several users
  // (the δ of a layer feeds both its weight's gradient and the next δ).
  bool names_a_definition(ValueId v) const {
    const Node& n = g_.node(v);
    if (n.op == OpKind::constant || n.op == OpKind::reshape) return false;
    if (!n.adjoint) return !n.name.empty() || (users_[v].size() >= 2 && inlined_size(v) >= 6);
    return users_[v].size() >= 2;
  }

  // Printed size of a forward value's expression, up to named values.
  int inlined_size(ValueId v) const {
    const Node& n = g_.node(v);
    if (n.op == OpKind::reshape) return inlined_size(n.args[0]);
    int size = 1;
    for (ValueId a : n.args) {
      const Node& m = g_.node(strip(g_, a));
      if (is_leaf(m.op) || !m.name.empty())
        ++size;
      else
        size += inlined_size(a);
      if (size > 100) break;
    }
    return size;
  }

  int body_of(ValueId v) {
    const Node& n = g_.node(v);
    Expr x{.kind = Expr::Kind::Op, .op = n.op, .attrs = n.attrs, .type = n.type};
    for (ValueId a : n.args) x.args.push_back(expr(a));
    return push(std::move(x));
  }

  int push(Expr x) {
    e_.exprs.push_back(std::move(x));
    return static_cast<int>(e_.exprs.size()) - 1;
  }

  const Graph& g_;
  Explanation& e_;
  std::vector<std::set<ValueId>> users_;
  std::map<ValueId, int> memo_;
  int shared_ = 0;                    // unnamed shared forward terms s1, s2, ...
  int depth_ = 0;                     // of expr's recursion
  std::vector<ValueId> delta_value_;  // per definition: its adjoint value, or none
};

// Binds size symbols from the leaves the tree reads.
void bind_from_leaves(const Explanation& e, const TensorMap& leaves, DimEnv& env) {
  for (const Expr& x : e.exprs) {
    if (x.kind != Expr::Kind::Leaf) continue;
    auto it = leaves.find(x.name);
    if (it == leaves.end()) throw Error("missing tensor '" + x.name + "'");
    if (it->second.shape.size() != x.type.rank())
      throw Error("tensor '" + x.name + "' has the wrong rank");
    for (size_t i = 0; i < x.type.rank(); ++i) {
      const Dim& d = x.type.shape[i];
      if (!d.is_const() && d.coeff() == 1 && d.symbols().size() == 1)
        env[d.symbols()[0]] = it->second.shape[i];
    }
  }
}

}  // namespace

std::optional<Explanation> build_explanation(const Graph& opt, const std::string& wrt,
                                             std::string& error) {
  if (opt.grads.empty()) {
    error = "model '" + opt.model + "' has no gradient (no `minimize`)";
    return std::nullopt;
  }
  Explanation e;
  e.model = opt.model;
  e.loss = opt.loss && !opt.node(*opt.loss).name.empty() ? opt.node(*opt.loss).name : "C";
  TreeBuilder b(opt, e);
  for (const NamedValue& g : opt.grads) {
    if (!wrt.empty() && g.name != wrt) continue;
    e.grads.push_back({g.name, b.expr(g.value)});
  }
  if (e.grads.empty()) {
    std::string names;
    for (const NamedValue& g : opt.grads) names += (names.empty() ? "" : ", ") + g.name;
    error = "no gradient w.r.t. '" + wrt + "' (the model has: " + names + ")";
    return std::nullopt;
  }
  b.number_deltas();
  return e;
}

TensorMap evaluate_explanation(const Explanation& e, const TensorMap& leaves) {
  DimEnv env;
  bind_from_leaves(e, leaves, env);
  std::vector<std::optional<DTensor>> memo(e.exprs.size());
  // Children precede parents in `exprs`, so one forward sweep evaluates all.
  auto value = [&](int i) -> const DTensor& { return *memo[static_cast<size_t>(i)]; };
  for (size_t i = 0; i < e.exprs.size(); ++i) {
    const Expr& x = e.exprs[i];
    if (x.kind == Expr::Kind::Leaf) {
      memo[i] = leaves.at(x.name);
    } else if (x.kind == Expr::Kind::Ref) {
      memo[i] = value(e.defs[static_cast<size_t>(x.def)].root);
    } else {
      std::vector<const DTensor*> args;
      for (int a : x.args) args.push_back(&value(a));
      memo[i] = op_info(x.op).eval(args, x.attrs, eval_shape(x.type.shape, env));
    }
  }
  TensorMap out;
  for (const GradExpr& g : e.grads) out["grad." + g.wrt] = value(g.root);
  return out;
}

}  // namespace adjoint::explain
