// Element types, symbolic dimensions and tensor types of the IR.
//
// A dimension is a monomial: an integer coefficient times a product of size
// symbols (`784`, `B`, `784*B`). That is closed under the products and exact
// quotients that reshape and flatten need, and compares structurally.
#pragma once

#include <cstdint>
#include <map>
#include <optional>
#include <string>
#include <vector>

namespace adjoint {

enum class DType { f32, f64, i32 };
const char* dtype_name(DType t);
std::optional<DType> parse_dtype(std::string_view s);
inline bool is_float(DType t) { return t != DType::i32; }

// Values bound to size symbols at call time.
using DimEnv = std::map<std::string, int64_t>;

class Dim {
 public:
  Dim() = default;
  Dim(int64_t value) : coeff_(value) {}  // NOLINT: a plain number is a dimension
  static Dim symbol(std::string name);

  bool is_const() const { return syms_.empty(); }
  int64_t coeff() const { return coeff_; }
  const std::vector<std::string>& symbols() const { return syms_; }
  // The constant value; only valid when is_const().
  int64_t value() const { return coeff_; }
  bool is_one() const { return is_const() && coeff_ == 1; }

  Dim operator*(const Dim& o) const;
  // Exact quotient, or nullopt when `o` does not divide this monomial.
  std::optional<Dim> divide(const Dim& o) const;
  bool operator==(const Dim& o) const { return coeff_ == o.coeff_ && syms_ == o.syms_; }
  bool operator!=(const Dim& o) const { return !(*this == o); }

  // Value under an environment; throws adjoint::Error naming an unbound symbol.
  int64_t eval(const DimEnv& env) const;
  std::string str() const;

 private:
  int64_t coeff_ = 1;
  std::vector<std::string> syms_;  // sorted; repeated for powers
};

using Shape = std::vector<Dim>;
std::string shape_str(const Shape& s);  // "[B,784]"
Dim num_elements(const Shape& s);
std::vector<int64_t> eval_shape(const Shape& s, const DimEnv& env);

struct Type {
  DType dtype = DType::f32;
  Shape shape;
  size_t rank() const { return shape.size(); }
  bool operator==(const Type& o) const { return dtype == o.dtype && shape == o.shape; }
  bool operator!=(const Type& o) const { return !(*this == o); }
  std::string str() const;  // "f32[B,784]", or "f32" for a scalar
};

// NumPy broadcasting of two shapes; nullopt if they are incompatible.
// A symbolic size only broadcasts with itself or with 1.
std::optional<Shape> broadcast_shapes(const Shape& a, const Shape& b);

// Normalises a possibly negative axis; nullopt when out of range for `rank`.
std::optional<int64_t> normalize_axis(int64_t axis, size_t rank);

}  // namespace adjoint
