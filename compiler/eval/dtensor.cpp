#include "eval/dtensor.hpp"

#include <cassert>

namespace adjoint {

DTensor::DTensor(Dims s, double fill) : shape(std::move(s)), data(product(shape), fill) {}

DTensor::DTensor(Dims s, std::vector<double> d) : shape(std::move(s)), data(std::move(d)) {
  assert(static_cast<int64_t>(data.size()) == product(shape));
}

int64_t product(const Dims& d) {
  int64_t n = 1;
  for (int64_t x : d) n *= x;
  return n;
}

Dims strides_of(const Dims& shape) {
  Dims s(shape.size(), 1);
  for (size_t i = shape.size(); i-- > 1;) s[i - 1] = s[i] * shape[i];
  return s;
}

static size_t flat(const Dims& shape, const Dims& index) {
  size_t off = 0;
  for (size_t i = 0; i < shape.size(); ++i) off = off * shape[i] + index[i];
  return off;
}

double DTensor::at(const Dims& index) const { return data[flat(shape, index)]; }
double& DTensor::at(const Dims& index) { return data[flat(shape, index)]; }

std::string dims_str(const Dims& d) {
  std::string out = "[";
  for (size_t i = 0; i < d.size(); ++i) out += (i ? "," : "") + std::to_string(d[i]);
  return out + "]";
}

void for_each_index(const Dims& shape, const std::function<void(const Dims&)>& f) {
  if (product(shape) == 0) return;
  Dims idx(shape.size(), 0);
  while (true) {
    f(idx);
    size_t i = shape.size();
    while (i > 0) {
      --i;
      if (++idx[i] < shape[i]) break;
      idx[i] = 0;
      if (i == 0) return;
    }
    if (shape.empty()) return;
  }
}

size_t broadcast_offset(const Dims& from, const Dims& out_index) {
  size_t off = 0;
  size_t lead = out_index.size() - from.size();
  for (size_t i = 0; i < from.size(); ++i) {
    int64_t x = from[i] == 1 ? 0 : out_index[lead + i];
    off = off * from[i] + x;
  }
  return off;
}

}  // namespace adjoint
