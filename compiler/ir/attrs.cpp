#include "ir/attrs.hpp"

#include <algorithm>
#include <stdexcept>
#include <cmath>
#include <cstdio>

namespace adjoint {

namespace {
// A missing or mistyped attribute here is a compiler bug (type rules and the IR
// parser check attributes first), reported even in release builds.
void require(bool ok, const std::string& name, const char* what) {
  if (!ok) throw std::logic_error("attribute '" + name + "' is missing or not " + what);
}
}  // namespace

Attrs::Attrs(std::initializer_list<std::pair<std::string, AttrValue>> items) {
  for (const auto& [k, v] : items) set(k, v);
}

void Attrs::set(const std::string& name, AttrValue v) {
  auto it = std::lower_bound(items_.begin(), items_.end(), name,
                             [](const auto& item, const std::string& n) { return item.first < n; });
  if (it != items_.end() && it->first == name) it->second = std::move(v);
  else items_.insert(it, {name, std::move(v)});
}

const AttrValue* Attrs::find(const std::string& name) const {
  for (const auto& [k, v] : items_)
    if (k == name) return &v;
  return nullptr;
}

int64_t Attrs::get_int(const std::string& name) const {
  const AttrValue* v = find(name);
  require(v && std::holds_alternative<int64_t>(*v), name, "an integer");
  return std::get<int64_t>(*v);
}

int64_t Attrs::get_int(const std::string& name, int64_t dflt) const {
  const AttrValue* v = find(name);
  return v && std::holds_alternative<int64_t>(*v) ? std::get<int64_t>(*v) : dflt;
}

double Attrs::get_f64(const std::string& name) const {
  const AttrValue* v = find(name);
  require(v != nullptr, name, "a number");
  if (std::holds_alternative<int64_t>(*v)) return static_cast<double>(std::get<int64_t>(*v));
  require(std::holds_alternative<double>(*v), name, "a number");
  return std::get<double>(*v);
}

double Attrs::get_f64(const std::string& name, double dflt) const {
  return has(name) ? get_f64(name) : dflt;
}

bool Attrs::get_bool(const std::string& name, bool dflt) const {
  const AttrValue* v = find(name);
  if (!v) return dflt;
  if (std::holds_alternative<int64_t>(*v)) return std::get<int64_t>(*v) != 0;
  require(std::holds_alternative<bool>(*v), name, "a bool");
  return std::get<bool>(*v);
}

const std::string& Attrs::get_str(const std::string& name) const {
  const AttrValue* v = find(name);
  require(v && std::holds_alternative<std::string>(*v), name, "a string");
  return std::get<std::string>(*v);
}

const std::vector<int64_t>& Attrs::get_ints(const std::string& name) const {
  const AttrValue* v = find(name);
  require(v && std::holds_alternative<std::vector<int64_t>>(*v), name, "an integer list");
  return std::get<std::vector<int64_t>>(*v);
}

const Shape& Attrs::get_shape(const std::string& name) const {
  const AttrValue* v = find(name);
  require(v && std::holds_alternative<Shape>(*v), name, "a shape");
  return std::get<Shape>(*v);
}

std::string attr_value_str(const AttrValue& v) {
  struct Printer {
    std::string operator()(int64_t i) const { return std::to_string(i); }
    std::string operator()(double d) const {
      // Shortest text that reads back to the same double, always with a '.',
      // 'e', "inf" or "nan" so it parses back as a float.
      char buf[64];
      for (int prec = 1; prec <= 17; ++prec) {
        std::snprintf(buf, sizeof buf, "%.*g", prec, d);
        if (std::strtod(buf, nullptr) == d) break;
      }
      std::string s = buf;
      if (std::isfinite(d) && s.find_first_of(".e") == std::string::npos) s += ".0";
      return s;
    }
    std::string operator()(bool b) const { return b ? "true" : "false"; }
    std::string operator()(const std::string& s) const { return "\"" + s + "\""; }
    std::string operator()(const std::vector<int64_t>& xs) const {
      std::string out = "(";
      for (size_t i = 0; i < xs.size(); ++i) out += (i ? "," : "") + std::to_string(xs[i]);
      return out + ")";
    }
    std::string operator()(const Shape& s) const { return shape_str(s); }
  };
  return std::visit(Printer{}, v);
}

std::string Attrs::str() const {
  if (items_.empty()) return "";
  std::string out = "{";
  for (size_t i = 0; i < items_.size(); ++i)
    out += (i ? ", " : "") + items_[i].first + "=" + attr_value_str(items_[i].second);
  return out + "}";
}

}  // namespace adjoint
