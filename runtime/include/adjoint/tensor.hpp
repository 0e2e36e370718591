// adjoint::Tensor: a dense, contiguous, row-major array with a runtime element
// type, the value that crosses every boundary of the runtime (compiled calls,
// safetensors files, data sets, initialisers).
//
//   adjoint::Tensor x = adjoint::Tensor::f32({64, 784});   // zero-filled, owning
//   float* p = x.data<float>();                             // checked: x is f32
//   adjoint::Tensor b = adjoint::Tensor::f32({3}, {1, 2, 3});
//   adjoint::Tensor v = adjoint::Tensor::view(buf, {2, 3}, adjoint::ElemType::f64);
//
// An owning tensor holds its elements in a 64-byte aligned buffer (what the
// generated GEMM kernels prefer). A view wraps memory somebody else owns and
// must outlive it. Copying an owning tensor copies its elements; copying a view
// copies the view (both then alias the same memory), like std::vector vs
// std::span. Moving never copies elements.
#pragma once

#include <adjoint/abi.h>

#include <adjoint/error.hpp>
#include <cstddef>
#include <cstdint>
#include <memory>
#include <string>
#include <type_traits>
#include <vector>

namespace adjoint {

// The element types a tensor can hold; the values equal the ABI's adj_dtype.
// (The compiler's adjoint::DType names the same three types in the IR.)
enum class ElemType : int32_t { f32 = ADJ_F32, f64 = ADJ_F64, i32 = ADJ_I32 };

// "f32", "f64", "i32".
const char* elem_type_name(ElemType t);
// Bytes per element: 4, 8, 4.
size_t elem_size(ElemType t);

// The ElemType of a C++ element type: elem_type_of<float> == ElemType::f32.
template <class T>
inline constexpr bool is_elem_v = false;
template <>
inline constexpr bool is_elem_v<float> = true;
template <>
inline constexpr bool is_elem_v<double> = true;
template <>
inline constexpr bool is_elem_v<int32_t> = true;
template <class T>
inline constexpr ElemType elem_type_of = std::is_same_v<T, float>    ? ElemType::f32
                                         : std::is_same_v<T, double> ? ElemType::f64
                                                                     : ElemType::i32;

// "[2,3]" ("[]" for a scalar).
std::string shape_string(const std::vector<int64_t>& shape);
// Number of elements of a shape; throws adjoint::Error on a negative size or
// when the count (or its size in bytes for 8-byte elements) overflows.
int64_t shape_numel(const std::vector<int64_t>& shape);

class Tensor {
 public:
  // An empty owning f32 tensor of shape [0] (also what a moved-from tensor is).
  Tensor();

  // Owning, zero-filled tensors. Throw adjoint::Error on a negative size.
  static Tensor zeros(ElemType t, std::vector<int64_t> shape);
  static Tensor f32(std::vector<int64_t> shape) { return zeros(ElemType::f32, std::move(shape)); }
  static Tensor f64(std::vector<int64_t> shape) { return zeros(ElemType::f64, std::move(shape)); }
  static Tensor i32(std::vector<int64_t> shape) { return zeros(ElemType::i32, std::move(shape)); }
  // Owning tensors with given elements (row-major); values.size() must equal
  // the shape's element count. A scalar: Tensor::f32({}, {2.5f}).
  static Tensor f32(std::vector<int64_t> shape, const std::vector<float>& values);
  static Tensor f64(std::vector<int64_t> shape, const std::vector<double>& values);
  static Tensor i32(std::vector<int64_t> shape, const std::vector<int32_t>& values);

  // A non-owning view of `numel(shape)` elements at `data` (which may be null
  // only when the shape has no elements). The memory must outlive the view.
  static Tensor view(void* data, std::vector<int64_t> shape, ElemType t);
  // A view of an ABI tensor (e.g. one the caller of a compiled function made).
  static Tensor view(const adj_tensor& t);

  Tensor(const Tensor& other);
  Tensor& operator=(const Tensor& other);
  Tensor(Tensor&& other) noexcept;
  Tensor& operator=(Tensor&& other) noexcept;  // leaves `other` empty
  ~Tensor() = default;

  ElemType dtype() const { return dtype_; }
  const std::vector<int64_t>& shape() const { return shape_; }
  int64_t dim(size_t i) const { return shape_.at(i); }
  size_t rank() const { return shape_.size(); }
  int64_t numel() const { return numel_; }
  size_t bytes() const { return static_cast<size_t>(numel_) * elem_size(dtype_); }
  bool is_view() const { return !owning_; }
  // "f32[2,3]".
  std::string describe() const;

  // Typed access, checked against the element type: data<float>() of an f64
  // tensor throws adjoint::Error.
  template <class T>
  T* data() {
    static_assert(is_elem_v<T>, "a tensor holds float, double or int32_t");
    check_type(elem_type_of<T>);
    return static_cast<T*>(data_);
  }
  template <class T>
  const T* data() const {
    static_assert(is_elem_v<T>, "a tensor holds float, double or int32_t");
    check_type(elem_type_of<T>);
    return static_cast<const T*>(data_);
  }
  void* raw() { return data_; }
  const void* raw() const { return data_; }

  // A deep, owning copy (also of a view).
  Tensor clone() const;
  // True when both have the same type, shape and bytes.
  bool equals(const Tensor& other) const;

  // The ABI description for a compiled call. It points into this tensor (its
  // data and its shape), so it is valid while the tensor lives and is neither
  // reassigned nor destroyed. Compiled code only writes through `grads` and
  // `outputs`, which is why a const tensor may describe an input.
  adj_tensor abi() const;

 private:
  struct AlignedFree {
    void operator()(std::byte* p) const;
  };
  static constexpr size_t kAlign = 64;

  Tensor(ElemType t, std::vector<int64_t> shape);  // owning, zero-filled
  void check_type(ElemType wanted) const;
  void reset();  // to the empty state (what a moved-from tensor is)

  ElemType dtype_ = ElemType::f32;
  std::vector<int64_t> shape_;
  int64_t numel_ = 0;
  std::unique_ptr<std::byte[], AlignedFree> storage_;  // null for a view
  void* data_ = nullptr;                               // storage_.get() when owning
  bool owning_ = true;
};

}  // namespace adjoint
