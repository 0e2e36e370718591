// Leaves: inputs, params, constants, and numel (a size known at call time).
#include "ops/rules.hpp"

namespace adjoint {
namespace {

// input/param carry their declared type as attributes: name, dtype, shape.
TypeResult leaf_type(const std::vector<Type>&, const Attrs& attrs, const TypeContext&) {
  auto dt = parse_dtype(attrs.get_str("dtype"));
  if (!dt) return TypeResult::fail("unknown dtype '" + attrs.get_str("dtype") + "'");
  return {Type{*dt, attrs.has("shape") ? attrs.get_shape("shape") : Shape{}}, ""};
}

// constant: a tensor filled with `value`, of the model's float type.
TypeResult constant_type(const std::vector<Type>&, const Attrs& attrs, const TypeContext& cx) {
  return {Type{cx.float_type, attrs.has("shape") ? attrs.get_shape("shape") : Shape{}}, ""};
}

DTensor eval_constant(const std::vector<const DTensor*>&, const Attrs& attrs, const Dims& out) {
  return DTensor(out, attrs.get_f64("value"));
}

// numel(x[, axis]): the number of elements of x (along `axis`), as a float
// scalar. Symbolic sizes make it a value known only at call time.
TypeResult numel_type(const std::vector<Type>& args, const Attrs& attrs, const TypeContext& cx) {
  std::string err;
  const AttrValue* axis = attrs.find("axis");
  if (axis && !std::holds_alternative<int64_t>(*axis))
    return TypeResult::fail("needs an integer 'axis'");
  if (axis) rules::axis_attr(attrs, "axis", 0, args[0].rank(), err);
  if (!err.empty()) return TypeResult::fail(err);
  return {Type{cx.float_type, {}}, ""};
}

DTensor eval_numel(const std::vector<const DTensor*>& args, const Attrs& attrs, const Dims&) {
  const Dims& s = args[0]->shape;
  if (!attrs.has("axis")) return DTensor({}, static_cast<double>(product(s)));
  int64_t axis = *normalize_axis(attrs.get_int("axis"), s.size());
  return DTensor({}, static_cast<double>(s[static_cast<size_t>(axis)]));
}

}  // namespace

void define_leaf_ops(OpTableBuilder& t) {
  t.define({.kind = OpKind::input, .infer = leaf_type, .doc = "a tensor supplied on every call"});
  t.define({.kind = OpKind::param, .infer = leaf_type, .doc = "a trainable tensor"});
  t.define({.kind = OpKind::constant,
            .infer = constant_type,
            .eval = eval_constant,
            .doc = "a tensor filled with one value"});
  t.define({.kind = OpKind::numel,
            .arity = 1,
            .infer = numel_type,
            .vjp = zero_vjp,  // depends on the shape only
            .eval = eval_numel,
            .checks = {{.args = {{.shape = {3, 4}}}},
                       {.args = {{.shape = {3, 4}}}, .attrs = {{"axis", int64_t{-1}}}}},
            .doc = "number of elements (along an axis), known at call time"});
}

}  // namespace adjoint
