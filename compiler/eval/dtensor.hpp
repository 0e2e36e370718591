// A dense row-major tensor of doubles: the reference evaluator's value type.
// Integer tensors (labels, indices) are held as exact doubles too.
#pragma once

#include <cstdint>
#include <functional>
#include <string>
#include <vector>

namespace adjoint {

using Dims = std::vector<int64_t>;

struct DTensor {
  Dims shape;
  std::vector<double> data;

  DTensor() = default;
  explicit DTensor(Dims s, double fill = 0.0);
  DTensor(Dims s, std::vector<double> d);
  size_t size() const { return data.size(); }
  size_t rank() const { return shape.size(); }
  double& operator[](size_t i) { return data[i]; }
  double operator[](size_t i) const { return data[i]; }
  // Element at a multi-index (row-major).
  double at(const Dims& index) const;
  double& at(const Dims& index);
};

int64_t product(const Dims& d);
Dims strides_of(const Dims& shape);
std::string dims_str(const Dims& d);

// Calls f(index) for every multi-index of `shape` in row-major order.
void for_each_index(const Dims& shape, const std::function<void(const Dims&)>& f);

// Flat offset into a tensor of shape `from` for output multi-index `out_index`
// under NumPy broadcasting (trailing alignment, size-1 dims read index 0).
size_t broadcast_offset(const Dims& from, const Dims& out_index);

}  // namespace adjoint
