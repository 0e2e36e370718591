// Small helpers shared by the op rows: common type rules and evaluation
// skeletons. Op-specific math stays in the rows.
#pragma once

#include <cmath>
#include <string>
#include <vector>

#include "ir/builder.hpp"
#include "ops/op_table.hpp"

namespace adjoint::rules {

// "f32[B,784]"-style list of operand types, for messages.
std::string types_str(const std::vector<Type>& ts);

// A float operand of the model's float type, result of the same type.
TypeResult same_float(const std::vector<Type>& args, const Attrs& attrs, const TypeContext& cx);
// Two float operands, NumPy-broadcast result.
TypeResult broadcast_float(const std::vector<Type>& args, const Attrs& attrs, const TypeContext& cx);
// Checks operand i is a float tensor of the model's float type; "" when fine.
std::string expect_float(const std::vector<Type>& args, size_t i, const TypeContext& cx);

// Reads an axis attribute and normalises it against `rank`; sets `error` if out of range.
int64_t axis_attr(const Attrs& attrs, const std::string& name, int64_t dflt, size_t rank,
                  std::string& error);

// Elementwise evaluation with a scalar function.
template <double (*F)(double)>
DTensor eval_unary(const std::vector<const DTensor*>& args, const Attrs&, const Dims&) {
  DTensor out = *args[0];
  for (double& x : out.data) x = F(x);
  return out;
}
template <double (*F)(double, double)>
DTensor eval_binary(const std::vector<const DTensor*>& args, const Attrs&, const Dims& out_shape) {
  DTensor out(out_shape);
  const DTensor& a = *args[0];
  const DTensor& b = *args[1];
  size_t i = 0;
  for_each_index(out_shape, [&](const Dims& idx) {
    out[i++] = F(a[broadcast_offset(a.shape, idx)], b[broadcast_offset(b.shape, idx)]);
  });
  return out;
}

}  // namespace adjoint::rules
