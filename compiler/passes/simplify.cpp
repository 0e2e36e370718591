#include "passes/simplify.hpp"

#include <cmath>
#include <optional>

#include "ir/builder.hpp"
#include "ir/verifier.hpp"
#include "ops/op_table.hpp"
#include "passes/cse.hpp"
#include "passes/dce.hpp"
#include "passes/rewrite.hpp"

namespace adjoint {
namespace {

// Folding allocates the operands and the result in double precision; larger
// constants are left for the generated code.
constexpr int64_t kMaxFoldElements = int64_t{1} << 20;
// Each sweep applies every rule once per node; chains of rewrites converge
// in a few sweeps, and the bound keeps a buggy rule from looping.
constexpr int kMaxSweeps = 16;

// The static sizes of `s`, or nullopt when a size is symbolic or the tensor
// has more than `limit` elements.
std::optional<Dims> static_dims(const Shape& s, int64_t limit) {
  Dims dims;
  int64_t count = 1;
  for (const Dim& d : s) {
    if (!d.is_const() || d.value() < 0) return std::nullopt;
    if (__builtin_mul_overflow(count, d.value(), &count) || count > limit) return std::nullopt;
    dims.push_back(d.value());
  }
  return dims;
}

bool same_value(double a, double b) { return a == b || (std::isnan(a) && std::isnan(b)); }

// Rewrites one graph into a new one, node by node. Rules look at operands in
// the new graph, so a rewrite sees its operands already simplified.
class Simplifier {
 public:
  explicit Simplifier(const Graph& in)
      : in_(in), in_uses_(in.use_counts()), out_(empty_like(in)), b_(out_) {}

  Graph run(bool& changed) {
    std::vector<ValueId> map(in_.nodes.size(), kNoValue);
    for (ValueId v = 0; v < in_.size(); ++v) {
      const Node& n = in_.node(v);
      std::vector<ValueId> args;
      for (ValueId a : n.args) args.push_back(map[static_cast<size_t>(a)]);
      ValueId size_before = out_.size();
      ValueId r = simplify_node(n, args);
      map[static_cast<size_t>(v)] = r;
      // A node that now also stands for `v` has users we do not count.
      origin_.resize(out_.nodes.size(), kNoValue);
      origin_[static_cast<size_t>(r)] = r >= size_before ? v : kShared;
    }
    copy_results(in_, out_, map);
    changed = changed_;
    return std::move(out_);
  }

 private:
  ValueId simplify_node(const Node& n, const std::vector<ValueId>& args);
  ValueId fold_constant(const Node& n, const std::vector<ValueId>& args);
  ValueId apply_identities(const Node& n, const std::vector<ValueId>& args);
  ValueId fold_matmul_transposes(const Node& n, const std::vector<ValueId>& args);
  ValueId transpose_matmul(ValueId product);
  ValueId numel_of_ancestor(const Node& n, ValueId x);

  // Whether out-node `v` stands for an input node with a single user, so
  // that rewriting that user leaves it dead.
  bool used_once(ValueId v) const {
    ValueId o = origin_[static_cast<size_t>(v)];
    return o >= 0 && in_uses_[static_cast<size_t>(o)] == 1;
  }

  const Node& def(ValueId v) const { return out_.node(v); }
  bool is_constant(ValueId v, double c) const {
    const Node& d = def(v);
    return d.op == OpKind::constant && d.attrs.get_f64("value", c + 1) == c;
  }
  // The node unchanged, on its already simplified operands.
  ValueId keep(const Node& n, const std::vector<ValueId>& args) {
    Node copy = n;
    copy.args = args;
    out_.nodes.push_back(std::move(copy));
    return out_.size() - 1;
  }
  // A new node, or kNoValue when the op has no row yet or rejects the operands.
  ValueId try_node(OpKind op, std::vector<ValueId> args, Attrs attrs = {}) {
    if (!op_defined(op)) return kNoValue;
    return b_.try_make(op, std::move(args), std::move(attrs)).value;
  }
  // `x` standing for a value of type `t`: x itself, or x broadcast up to t.
  ValueId as_type(ValueId x, const Type& t) {
    if (out_.type(x) == t) return x;
    if (out_.type(x).dtype != t.dtype) return kNoValue;
    return try_node(OpKind::broadcast_to, {x}, Attrs{{"shape", t.shape}});
  }
  ValueId zeros(const Type& t) { return b_.fill(0.0, t.shape); }

  const Graph& in_;
  std::vector<int> in_uses_;
  static constexpr ValueId kShared = -2;
  std::vector<ValueId> origin_;  // out-node -> the input node it stands for, or kShared
  Graph out_;
  Builder b_;
  bool changed_ = false;
};

ValueId Simplifier::simplify_node(const Node& n, const std::vector<ValueId>& args) {
  ValueId size_before = out_.size();
  b_.set_loc(n.loc);
  b_.set_adjoint(n.adjoint);
  ValueId r = fold_constant(n, args);
  if (r == kNoValue) r = apply_identities(n, args);
  // A rule must give exactly the node's type; anything else keeps the node.
  if (r == kNoValue || out_.type(r) != n.type) return keep(n, args);
  changed_ = true;
  Node& result = out_.node(r);
  bool fresh = r >= size_before;
  if (!n.name.empty() && (fresh || (result.name.empty() && !is_leaf(result.op))))
    result.name = n.name;
  return r;
}

// Evaluates a node whose operands are all constants (or, for numel, whose
// operand's shape is static) and, if the result is one repeated value,
// returns a constant of the node's shape.
ValueId Simplifier::fold_constant(const Node& n, const std::vector<ValueId>& args) {
  const OpInfo& info = op_info(n.op);
  if (args.empty() || !info.eval || n.type.dtype != out_.float_type) return kNoValue;
  auto out_dims = static_dims(n.type.shape, kMaxFoldElements);
  if (!out_dims) return kNoValue;
  // numel depends on its operand's shape only; its rule never reads the data.
  bool shape_only = n.op == OpKind::numel;
  std::vector<DTensor> values;
  for (ValueId a : args) {
    const Node& d = def(a);
    auto dims = static_dims(d.type.shape, shape_only ? INT64_MAX : kMaxFoldElements);
    if (!dims) return kNoValue;
    if (shape_only) {
      DTensor t;
      t.shape = *dims;
      values.push_back(std::move(t));
    } else if (d.op == OpKind::constant) {
      values.emplace_back(*dims, d.attrs.get_f64("value"));
    } else {
      return kNoValue;
    }
  }
  std::vector<const DTensor*> ptrs;
  for (const DTensor& t : values) ptrs.push_back(&t);
  DTensor result;
  try {
    result = info.eval(ptrs, n.attrs, *out_dims);
  } catch (const std::exception&) {
    return kNoValue;  // e.g. an index out of range: leave it to run time
  }
  if (result.shape != *out_dims || static_cast<int64_t>(result.size()) != product(*out_dims))
    return kNoValue;
  double value = result.size() ? result[0] : 0.0;
  for (double x : result.data)
    if (!same_value(x, value)) return kNoValue;
  return b_.fill(value, n.type.shape);
}

// numel(x) -> numel(y) for the earliest ancestor y of x along operands of
// x's shape (an input, often): the count reads only the shape, and a read
// of x itself would keep x from being computed inside the loop of its one
// real reader (mean(e^2): the sum computes e^2 as it reads it).
ValueId Simplifier::numel_of_ancestor(const Node& n, ValueId x) {
  const Shape& s = out_.type(x).shape;
  ValueId y = x;
  for (bool found = true; found;) {
    found = false;
    for (ValueId a : def(y).args)
      if (out_.type(a).shape == s) {
        y = a;
        found = true;
        break;
      }
  }
  return y == x ? kNoValue : try_node(OpKind::numel, {y}, n.attrs);
}

// matmul(transpose(a), b){ta} -> matmul(a, b){!ta}, and the same for b.
// Flags are written only when true, as the matmul row's VJP writes them, so
// equal products look equal to cse; a node with an explicit false flag is
// rewritten to that form too.
ValueId Simplifier::fold_matmul_transposes(const Node& n, const std::vector<ValueId>& args) {
  bool flags[2] = {n.attrs.get_bool("ta"), n.attrs.get_bool("tb")};
  std::vector<ValueId> operands = args;
  bool rewrite = (n.attrs.has("ta") && !flags[0]) || (n.attrs.has("tb") && !flags[1]);
  for (size_t i = 0; i < 2; ++i) {
    if (def(operands[i]).op != OpKind::transpose) continue;
    operands[i] = def(operands[i]).args[0];
    flags[i] = !flags[i];
    rewrite = true;
  }
  if (!rewrite) return kNoValue;
  Attrs attrs;
  for (const auto& [name, value] : n.attrs.items())
    if (name != "ta" && name != "tb") attrs.set(name, value);
  if (flags[0]) attrs.set("ta", true);
  if (flags[1]) attrs.set("tb", true);
  return try_node(OpKind::matmul, std::move(operands), std::move(attrs));
}

// transpose(matmul(a, b){ta, tb}) = (A B)^T = B^T A^T -> matmul(b, a){!tb, !ta},
// when nothing else uses the product (else a second product would replace a
// cheap transpose).
ValueId Simplifier::transpose_matmul(ValueId product) {
  const Node& m = def(product);
  if (m.op != OpKind::matmul || !used_once(product)) return kNoValue;
  Attrs attrs;
  for (const auto& [name, value] : m.attrs.items())
    if (name != "ta" && name != "tb") attrs.set(name, value);
  if (!m.attrs.get_bool("tb")) attrs.set("ta", true);
  if (!m.attrs.get_bool("ta")) attrs.set("tb", true);
  return try_node(OpKind::matmul, {m.args[1], m.args[0]}, std::move(attrs));
}

ValueId Simplifier::apply_identities(const Node& n, const std::vector<ValueId>& args) {
  const Type& t = n.type;
  switch (n.op) {
    case OpKind::mul:
      if (is_constant(args[0], 0) || is_constant(args[1], 0)) return zeros(t);
      if (is_constant(args[1], 1)) return as_type(args[0], t);
      if (is_constant(args[0], 1)) return as_type(args[1], t);
      return kNoValue;
    case OpKind::add:
      if (is_constant(args[1], 0)) return as_type(args[0], t);
      if (is_constant(args[0], 0)) return as_type(args[1], t);
      return kNoValue;
    case OpKind::sub:
      if (is_constant(args[1], 0)) return as_type(args[0], t);
      if (is_constant(args[0], 0)) {
        ValueId x = as_type(args[1], t);
        return x == kNoValue ? kNoValue : try_node(OpKind::neg, {x});
      }
      return kNoValue;
    case OpKind::div:
      return is_constant(args[1], 1) ? as_type(args[0], t) : kNoValue;
    case OpKind::transpose:
      if (def(args[0]).op == OpKind::transpose) return def(args[0]).args[0];
      return transpose_matmul(args[0]);
    case OpKind::neg:
      return def(args[0]).op == OpKind::neg ? def(args[0]).args[0] : kNoValue;
    case OpKind::pow:
      return n.attrs.get_f64("c") == 1 ? args[0] : kNoValue;
    case OpKind::matmul:
      return fold_matmul_transposes(n, args);
    case OpKind::reshape:
      if (out_.type(args[0]) == t) return args[0];
      if (def(args[0]).op == OpKind::reshape)
        return try_node(OpKind::reshape, {def(args[0]).args[0]}, n.attrs);
      return kNoValue;
    case OpKind::broadcast_to:
    case OpKind::sum_to:
      return out_.type(args[0]) == t ? args[0] : kNoValue;
    case OpKind::numel:
      return numel_of_ancestor(n, args[0]);
    default:
      return kNoValue;
  }
}

}  // namespace

Graph simplify_once(const Graph& g, bool& changed) {
  changed = false;
  return Simplifier(g).run(changed);
}

Graph simplify(const Graph& g) {
  Graph cur = g;
  for (int i = 0; i < kMaxSweeps; ++i) {
    bool changed = false;
    cur = dce(simplify_once(cur, changed));
    if (!changed) break;
  }
  return dce(cse(cur));
}

}  // namespace adjoint
