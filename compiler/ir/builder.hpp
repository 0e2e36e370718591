// Builds nodes through the op table: every node is type-checked by its op's
// rule as it is made, and composite ops are expanded on the spot.
#pragma once

#include <string>
#include <vector>

#include "ir/graph.hpp"

namespace adjoint {

class Builder {
 public:
  explicit Builder(Graph& g, SourceLoc loc = {}, bool adjoint = false)
      : g_(g), loc_(loc), adjoint_(adjoint) {}

  Graph& graph() { return g_; }
  const Type& type(ValueId v) const { return g_.type(v); }
  const Shape& shape(ValueId v) const { return g_.type(v).shape; }
  SourceLoc loc() const { return loc_; }
  void set_loc(SourceLoc loc) { loc_ = loc; }
  bool adjoint() const { return adjoint_; }
  void set_adjoint(bool a) { adjoint_ = a; }

  // Adds a node (or, for a composite op, its expansion). On a type error the
  // graph is unchanged and `error` says why, for the user.
  struct Made {
    ValueId value = kNoValue;
    std::string error;
  };
  Made try_make(OpKind op, std::vector<ValueId> args, Attrs attrs = {});
  // Same, for callers that produce well-typed nodes by construction (VJP
  // rules, passes): a type error is a compiler bug and throws std::logic_error.
  ValueId make(OpKind op, std::vector<ValueId> args, Attrs attrs = {});

  // Shorthands used by VJP rules and passes.
  ValueId constant(double v);                       // scalar of the float type
  ValueId fill(double v, const Shape& s);           // a constant tensor
  ValueId add(ValueId a, ValueId b) { return make(OpKind::add, {a, b}); }
  ValueId sub(ValueId a, ValueId b) { return make(OpKind::sub, {a, b}); }
  ValueId mul(ValueId a, ValueId b) { return make(OpKind::mul, {a, b}); }
  ValueId div(ValueId a, ValueId b) { return make(OpKind::div, {a, b}); }
  ValueId neg(ValueId a) { return make(OpKind::neg, {a}); }
  ValueId scale(ValueId a, double c) { return mul(a, constant(c)); }
  ValueId unary(OpKind op, ValueId a) { return make(op, {a}); }
  // Sums `v` down to `target` (the adjoint of broadcasting); `v` itself when equal.
  // Shapes are taken by value: `b.sum_to(b.mul(..), b.shape(x))` would otherwise
  // hold a reference into the node vector across the mul's push_back.
  ValueId sum_to(ValueId v, Shape target);
  // Broadcasts `v` up to `target`; `v` itself when equal.
  ValueId broadcast_to(ValueId v, Shape target);
  ValueId reshape(ValueId v, Shape target);

 private:
  Graph& g_;
  SourceLoc loc_;
  bool adjoint_;
};

}  // namespace adjoint
