// Helpers shared by the convolution and pooling rows (conv_ops.cpp,
// pool_ops.cpp): operand and attribute checks, output extents, check cases.
#pragma once

#include <array>
#include <optional>
#include <string>
#include <vector>

#include "ops/rules.hpp"

namespace adjoint::conv_rules {

using V = std::vector<ValueId>;

// Names of the four dims of an image, a kernel and a conv result, for messages.
constexpr std::array<const char*, 4> kNCHW = {"N", "C", "H", "W"};
constexpr std::array<const char*, 4> kKCRS = {"K", "C", "R", "S"};
constexpr std::array<const char*, 4> kNKHW = {"N", "K", "Ho", "Wo"};

// The constant size at dim i of a shape the type rule has checked.
inline int64_t num(const Shape& s, size_t i) { return s[i].value(); }

// "" when operand i is a float rank-4 tensor whose dims `fixed` are numbers;
// `dims` names its four dims for messages ({"N","C","H","W"}).
std::string expect_4d(const std::vector<Type>& args, size_t i, const std::string& what,
                      const std::array<const char*, 4>& dims, std::initializer_list<size_t> fixed,
                      const TypeContext& cx);

// Reads an int attribute of at least `min`; a missing one takes `dflt` if
// given. The upper bound keeps size arithmetic far from overflow.
std::optional<int64_t> int_attr(const Attrs& attrs, const std::string& name,
                                std::optional<int64_t> dflt, int64_t min, std::string& error);

// Output extent along one axis (floor mode); nullopt when the window does not fit.
std::optional<int64_t> out_extent(int64_t in, int64_t k, int64_t stride, int64_t pad);

inline std::string hw(int64_t h, int64_t w) { return std::to_string(h) + "x" + std::to_string(w); }

// A two-operand gradient-check case.
CheckCase conv_case(Dims a, Dims b, Attrs attrs, Domain da = Domain::Real,
                    Domain db = Domain::Real);
// `a` with two more int attributes.
Attrs with(Attrs a, const std::string& k1, int64_t v1, const std::string& k2, int64_t v2);

}  // namespace adjoint::conv_rules
