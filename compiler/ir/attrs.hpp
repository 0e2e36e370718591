// Op attributes: a small, sorted name -> value list that prints and parses
// generically, so no op needs its own printer.
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <utility>
#include <variant>
#include <vector>

#include "ir/type.hpp"

namespace adjoint {

using AttrValue = std::variant<int64_t, double, bool, std::string, std::vector<int64_t>, Shape>;

class Attrs {
 public:
  Attrs() = default;
  Attrs(std::initializer_list<std::pair<std::string, AttrValue>> items);

  void set(const std::string& name, AttrValue v);
  bool has(const std::string& name) const { return find(name) != nullptr; }
  const AttrValue* find(const std::string& name) const;
  const std::vector<std::pair<std::string, AttrValue>>& items() const { return items_; }

  // Typed getters; a missing or mistyped attribute is a compiler bug (asserts)
  // unless a default is given.
  int64_t get_int(const std::string& name) const;
  int64_t get_int(const std::string& name, int64_t dflt) const;
  double get_f64(const std::string& name) const;  // accepts an int value too
  double get_f64(const std::string& name, double dflt) const;
  bool get_bool(const std::string& name, bool dflt = false) const;
  const std::string& get_str(const std::string& name) const;
  const std::vector<int64_t>& get_ints(const std::string& name) const;
  const Shape& get_shape(const std::string& name) const;

  bool operator==(const Attrs& o) const { return items_ == o.items_; }
  // "{axis=1, keepdims=true}" or "" when empty.
  std::string str() const;

 private:
  std::vector<std::pair<std::string, AttrValue>> items_;  // sorted by name
};

std::string attr_value_str(const AttrValue& v);

}  // namespace adjoint
