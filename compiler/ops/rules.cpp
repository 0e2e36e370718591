#include "ops/rules.hpp"

namespace adjoint::rules {

std::string types_str(const std::vector<Type>& ts) {
  std::string out;
  for (size_t i = 0; i < ts.size(); ++i) out += (i ? ", " : "") + ts[i].str();
  return out;
}

std::string expect_float(const std::vector<Type>& args, size_t i, const TypeContext& cx) {
  if (!is_float(args[i].dtype))
    return "needs a float operand, got " + args[i].str() + " (i32 is only for labels and indices)";
  if (args[i].dtype != cx.float_type)
    return std::string("mixes float types: got ") + args[i].str() + " in a " +
           dtype_name(cx.float_type) + " model";
  return "";
}

TypeResult same_float(const std::vector<Type>& args, const Attrs&, const TypeContext& cx) {
  if (std::string e = expect_float(args, 0, cx); !e.empty()) return TypeResult::fail(e);
  return {args[0], ""};
}

TypeResult broadcast_float(const std::vector<Type>& args, const Attrs&, const TypeContext& cx) {
  for (size_t i = 0; i < 2; ++i)
    if (std::string e = expect_float(args, i, cx); !e.empty()) return TypeResult::fail(e);
  auto s = broadcast_shapes(args[0].shape, args[1].shape);
  if (!s)
    return TypeResult::fail("cannot broadcast " + args[0].str() + " with " + args[1].str());
  return {Type{args[0].dtype, *s}, ""};
}

int64_t axis_attr(const Attrs& attrs, const std::string& name, int64_t dflt, size_t rank,
                  std::string& error) {
  int64_t axis = attrs.get_int(name, dflt);
  auto n = normalize_axis(axis, rank);
  if (!n) {
    error = "axis " + std::to_string(axis) + " is out of range for a rank-" +
            std::to_string(rank) + " operand";
    return 0;
  }
  return *n;
}

}  // namespace adjoint::rules
