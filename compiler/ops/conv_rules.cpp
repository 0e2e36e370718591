#include "ops/conv_rules.hpp"

namespace adjoint::conv_rules {

// "" when operand i is a float rank-4 tensor whose dims `fixed` are numbers;
// `dims` names its four dims for messages ({"N","C","H","W"}).
std::string expect_4d(const std::vector<Type>& args, size_t i, const std::string& what,
                      const std::array<const char*, 4>& dims, std::initializer_list<size_t> fixed,
                      const TypeContext& cx) {
  if (std::string e = rules::expect_float(args, i, cx); !e.empty()) return e;
  std::string layout =
      std::string("[") + dims[0] + "," + dims[1] + "," + dims[2] + "," + dims[3] + "]";
  const Type& t = args[i];
  if (t.rank() != 4) return "needs " + what + " of rank 4 " + layout + ", got " + t.str();
  for (size_t d : fixed)
    if (!t.shape[d].is_const())
      return std::string("needs a constant size ") + dims[d] + " in " + what + " " + layout +
             ", got " + t.str();
  return "";
}

// Reads an int attribute of at least `min`; a missing one takes `dflt` if
// given. The upper bound keeps size arithmetic far from overflow.
std::optional<int64_t> int_attr(const Attrs& attrs, const std::string& name,
                                std::optional<int64_t> dflt, int64_t min, std::string& error) {
  const AttrValue* v = attrs.find(name);
  if (!v && dflt) return dflt;
  const int64_t* i = v ? std::get_if<int64_t>(v) : nullptr;
  if (!i) {
    error = "needs an integer attribute '" + name + "'";
    return std::nullopt;
  }
  if (*i < min) {
    error = "needs " + name + " >= " + std::to_string(min) + ", got " + std::to_string(*i);
    return std::nullopt;
  }
  constexpr int64_t kMax = int64_t{1} << 30;
  if (*i > kMax) {
    error = "needs " + name + " <= " + std::to_string(kMax) + ", got " + std::to_string(*i);
    return std::nullopt;
  }
  return *i;
}

// Output extent along one axis (floor mode); nullopt when the window does not fit.
std::optional<int64_t> out_extent(int64_t in, int64_t k, int64_t stride, int64_t pad) {
  if (in + 2 * pad < k) return std::nullopt;
  return (in + 2 * pad - k) / stride + 1;
}

CheckCase conv_case(Dims a, Dims b, Attrs attrs, Domain da, Domain db) {
  return {.args = {{.shape = std::move(a), .domain = da}, {.shape = std::move(b), .domain = db}},
          .attrs = std::move(attrs)};
}

Attrs with(Attrs a, const std::string& k1, int64_t v1, const std::string& k2, int64_t v2) {
  a.set(k1, v1);
  a.set(k2, v2);
  return a;
}

}  // namespace adjoint::conv_rules
