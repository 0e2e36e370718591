#include "ir/builder.hpp"

#include <stdexcept>

#include "ops/op_table.hpp"

namespace adjoint {

Builder::Made Builder::try_make(OpKind op, std::vector<ValueId> args, Attrs attrs) {
  const OpInfo& info = op_info(op);
  if (static_cast<int>(args.size()) != info.arity)
    return {kNoValue, "'" + info.name + "' takes " + std::to_string(info.arity) + " operand(s), got " +
                          std::to_string(args.size())};
  std::vector<Type> types;
  for (ValueId a : args) types.push_back(g_.type(a));
  TypeResult r = info.infer(types, attrs, TypeContext{g_.float_type});
  if (!r.ok()) return {kNoValue, r.error};
  if (info.expand) return {info.expand(*this, args, attrs), ""};
  Node n;
  n.op = op;
  n.args = std::move(args);
  n.attrs = std::move(attrs);
  n.type = std::move(r.type);
  n.loc = loc_;
  n.adjoint = adjoint_;
  g_.nodes.push_back(std::move(n));
  return {g_.size() - 1, ""};
}

ValueId Builder::make(OpKind op, std::vector<ValueId> args, Attrs attrs) {
  std::string sig = op_name(op) + "(";
  for (size_t i = 0; i < args.size(); ++i) sig += (i ? ", " : "") + g_.type(args[i]).str();
  sig += ")" + attrs.str();
  Made m = try_make(op, std::move(args), std::move(attrs));
  if (m.value == kNoValue) throw std::logic_error("ill-typed node " + sig + ": " + m.error);
  return m.value;
}

ValueId Builder::constant(double v) { return make(OpKind::constant, {}, Attrs{{"value", v}}); }

ValueId Builder::fill(double v, const Shape& s) {
  if (s.empty()) return constant(v);
  return make(OpKind::constant, {}, Attrs{{"value", v}, {"shape", s}});
}

ValueId Builder::sum_to(ValueId v, Shape target) {
  if (shape(v) == target) return v;
  return make(OpKind::sum_to, {v}, Attrs{{"shape", target}});
}

ValueId Builder::broadcast_to(ValueId v, Shape target) {
  if (shape(v) == target) return v;
  return make(OpKind::broadcast_to, {v}, Attrs{{"shape", target}});
}

ValueId Builder::reshape(ValueId v, Shape target) {
  if (shape(v) == target) return v;
  return make(OpKind::reshape, {v}, Attrs{{"shape", target}});
}

}  // namespace adjoint
