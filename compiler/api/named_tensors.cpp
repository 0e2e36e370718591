// NamedTensors and TensorInfo: the small value types of the C++ API.
#include <adjoint/adjoint.hpp>
#include <cctype>

namespace adjoint {

namespace {

std::string join(const std::vector<std::string>& names) {
  std::string out;
  for (const std::string& n : names) out += (out.empty() ? "" : ", ") + n;
  return out.empty() ? "none" : out;
}

}  // namespace

NamedTensors::NamedTensors(std::initializer_list<Item> items) {
  for (const Item& i : items) {
    if (contains(i.name)) throw Error("'" + i.name + "' is given twice");
    entries_.emplace_back(i.name, *i.tensor);
  }
}

NamedTensors::NamedTensors(std::map<std::string, Tensor> tensors) {
  for (auto& [name, t] : tensors) entries_.emplace_back(name, std::move(t));
}

Tensor* NamedTensors::find(const std::string& name) {
  for (Entry& e : entries_)
    if (e.first == name) return &e.second;
  return nullptr;
}

const Tensor* NamedTensors::find(const std::string& name) const {
  for (const Entry& e : entries_)
    if (e.first == name) return &e.second;
  return nullptr;
}

Tensor& NamedTensors::operator[](const std::string& name) {
  if (Tensor* t = find(name)) return *t;
  throw Error("no tensor named '" + name + "' (have: " + join(names()) + ")");
}

const Tensor& NamedTensors::operator[](const std::string& name) const {
  if (const Tensor* t = find(name)) return *t;
  throw Error("no tensor named '" + name + "' (have: " + join(names()) + ")");
}

void NamedTensors::set(const std::string& name, Tensor t) {
  if (Tensor* old = find(name))
    *old = std::move(t);
  else
    entries_.emplace_back(name, std::move(t));
}

std::vector<std::string> NamedTensors::names() const {
  std::vector<std::string> out;
  for (const Entry& e : entries_) out.push_back(e.first);
  return out;
}

bool TensorInfo::is_fixed() const {
  for (const std::string& d : dims)
    for (char c : d)
      if (!std::isdigit(static_cast<unsigned char>(c))) return false;
  return true;
}

std::vector<int64_t> TensorInfo::fixed_shape() const {
  if (!is_fixed())
    throw Error("'" + name + "' has a symbolic size: " + type + " (bound only by a call's inputs)");
  std::vector<int64_t> out;
  for (const std::string& d : dims) out.push_back(std::stoll(d));
  return out;
}

}  // namespace adjoint
