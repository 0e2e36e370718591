#include "ir/type.hpp"

#include <algorithm>

#include "support/diagnostics.hpp"

namespace adjoint {

const char* dtype_name(DType t) {
  switch (t) {
    case DType::f32: return "f32";
    case DType::f64: return "f64";
    case DType::i32: return "i32";
  }
  return "?";
}

std::optional<DType> parse_dtype(std::string_view s) {
  if (s == "f32") return DType::f32;
  if (s == "f64") return DType::f64;
  if (s == "i32") return DType::i32;
  return std::nullopt;
}

Dim Dim::symbol(std::string name) {
  Dim d;
  d.syms_.push_back(std::move(name));
  return d;
}

Dim Dim::operator*(const Dim& o) const {
  Dim r;
  r.coeff_ = coeff_ * o.coeff_;
  r.syms_ = syms_;
  r.syms_.insert(r.syms_.end(), o.syms_.begin(), o.syms_.end());
  std::sort(r.syms_.begin(), r.syms_.end());
  if (r.coeff_ == 0) r.syms_.clear();
  return r;
}

std::optional<Dim> Dim::divide(const Dim& o) const {
  if (o.coeff_ == 0 || coeff_ % o.coeff_ != 0) return std::nullopt;
  Dim r;
  r.coeff_ = coeff_ / o.coeff_;
  r.syms_ = syms_;
  for (const std::string& s : o.syms_) {
    auto it = std::find(r.syms_.begin(), r.syms_.end(), s);
    if (it == r.syms_.end()) return std::nullopt;
    r.syms_.erase(it);
  }
  return r;
}

int64_t Dim::eval(const DimEnv& env) const {
  int64_t v = coeff_;
  for (const std::string& s : syms_) {
    auto it = env.find(s);
    if (it == env.end()) throw Error("size '" + s + "' is not bound by any input");
    v *= it->second;
  }
  return v;
}

std::string Dim::str() const {
  std::string out;
  if (coeff_ != 1 || syms_.empty()) out = std::to_string(coeff_);
  for (const std::string& s : syms_) out += (out.empty() ? "" : "*") + s;
  return out;
}

std::string shape_str(const Shape& s) {
  std::string out = "[";
  for (size_t i = 0; i < s.size(); ++i) out += (i ? "," : "") + s[i].str();
  return out + "]";
}

Dim num_elements(const Shape& s) {
  Dim n = 1;
  for (const Dim& d : s) n = n * d;
  return n;
}

std::vector<int64_t> eval_shape(const Shape& s, const DimEnv& env) {
  std::vector<int64_t> out;
  for (const Dim& d : s) out.push_back(d.eval(env));
  return out;
}

std::string Type::str() const {
  std::string out = dtype_name(dtype);
  if (!shape.empty()) out += shape_str(shape);
  return out;
}

std::optional<Shape> broadcast_shapes(const Shape& a, const Shape& b) {
  size_t n = std::max(a.size(), b.size());
  Shape out(n);
  for (size_t i = 0; i < n; ++i) {
    const Dim* da = i < n - a.size() ? nullptr : &a[i - (n - a.size())];
    const Dim* db = i < n - b.size() ? nullptr : &b[i - (n - b.size())];
    if (!da) out[i] = *db;
    else if (!db) out[i] = *da;
    else if (*da == *db) out[i] = *da;
    else if (da->is_one()) out[i] = *db;
    else if (db->is_one()) out[i] = *da;
    else return std::nullopt;
  }
  return out;
}

std::optional<int64_t> normalize_axis(int64_t axis, size_t rank) {
  int64_t r = static_cast<int64_t>(rank);
  if (axis < -r || axis >= r) return std::nullopt;
  return axis < 0 ? axis + r : axis;
}

}  // namespace adjoint
