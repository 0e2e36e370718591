#include "adjoint/tensor.hpp"

#include <cstdio>
#include <cstring>
#include <limits>
#include <new>

namespace adjoint {

const char* elem_type_name(ElemType t) {
  switch (t) {
    case ElemType::f32:
      return "f32";
    case ElemType::f64:
      return "f64";
    case ElemType::i32:
      return "i32";
  }
  return "?";
}

size_t elem_size(ElemType t) { return t == ElemType::f64 ? 8 : 4; }

std::string shape_string(const std::vector<int64_t>& shape) {
  std::string s = "[";
  for (size_t i = 0; i < shape.size(); ++i) {
    if (i) s += ",";
    s += std::to_string(shape[i]);
  }
  return s + "]";
}

int64_t shape_numel(const std::vector<int64_t>& shape) {
  // Bounded so that numel * 8 bytes (and the 64-byte rounding) fits size_t
  // and int64_t: no caller ever has to think about overflow again.
  constexpr int64_t kMax = std::numeric_limits<int64_t>::max() / 16;
  int64_t n = 1;
  for (int64_t d : shape) {
    if (d < 0) throw Error("negative size in shape " + shape_string(shape));
    if (d != 0 && n > kMax / d)
      throw Error("shape " + shape_string(shape) + " has too many elements");
    n *= d;
  }
  return n;
}

std::string OutOfMemory::message(uint64_t bytes, const std::string& what) {
  const char* units[] = {"bytes", "KB", "MB", "GB", "TB", "PB", "EB"};
  double v = static_cast<double>(bytes);
  int u = 0;
  while (v >= 1000 && u < 6) v /= 1000, ++u;
  char human[32];
  std::snprintf(human, sizeof human, "%.1f %s", v, units[u]);
  std::string size = std::to_string(bytes) + " bytes" + (u ? std::string(" (") + human + ")" : "");
  return "out of memory (while allocating " + size + " for " + what + ")";
}

void Tensor::AlignedFree::operator()(std::byte* p) const {
  ::operator delete[](p, std::align_val_t(kAlign));
}

Tensor::Tensor() : shape_{0} {}

Tensor::Tensor(ElemType t, std::vector<int64_t> shape)
    : dtype_(t), shape_(std::move(shape)), numel_(shape_numel(shape_)) {
  // Rounded up to whole 64-byte lines so vector kernels may read a full line.
  size_t n = (bytes() + kAlign - 1) / kAlign * kAlign;
  if (n == 0) n = kAlign;
  try {
    storage_.reset(new (std::align_val_t(kAlign)) std::byte[n]);
  } catch (const std::bad_alloc&) {
    throw OutOfMemory(n, "a tensor of " + describe());
  }
  std::memset(storage_.get(), 0, n);
  data_ = storage_.get();
}

Tensor Tensor::zeros(ElemType t, std::vector<int64_t> shape) { return Tensor(t, std::move(shape)); }

namespace {

template <class T>
Tensor filled(ElemType t, std::vector<int64_t> shape, const std::vector<T>& values) {
  Tensor x = Tensor::zeros(t, std::move(shape));
  if (static_cast<int64_t>(values.size()) != x.numel())
    throw Error("tensor of shape " + shape_string(x.shape()) + " needs " +
                std::to_string(x.numel()) + " values, got " + std::to_string(values.size()));
  if (!values.empty()) std::memcpy(x.raw(), values.data(), x.bytes());
  return x;
}

}  // namespace

Tensor Tensor::f32(std::vector<int64_t> shape, const std::vector<float>& values) {
  return filled(ElemType::f32, std::move(shape), values);
}
Tensor Tensor::f64(std::vector<int64_t> shape, const std::vector<double>& values) {
  return filled(ElemType::f64, std::move(shape), values);
}
Tensor Tensor::i32(std::vector<int64_t> shape, const std::vector<int32_t>& values) {
  return filled(ElemType::i32, std::move(shape), values);
}

Tensor Tensor::view(void* data, std::vector<int64_t> shape, ElemType t) {
  Tensor v;
  v.numel_ = shape_numel(shape);
  if (!data && v.numel_ > 0)
    throw Error("view of " + shape_string(shape) + " elements at a null pointer");
  v.dtype_ = t;
  v.shape_ = std::move(shape);
  v.data_ = data;
  v.owning_ = false;
  return v;
}

Tensor Tensor::view(const adj_tensor& t) {
  if (t.rank < 0 || (t.rank > 0 && !t.shape))
    throw Error("adj_tensor with an invalid rank or shape");
  if (t.dtype != ADJ_F32 && t.dtype != ADJ_F64 && t.dtype != ADJ_I32)
    throw Error("adj_tensor with unknown dtype " + std::to_string(static_cast<int>(t.dtype)));
  return view(t.data, std::vector<int64_t>(t.shape, t.shape + t.rank),
              static_cast<ElemType>(t.dtype));
}

Tensor::Tensor(const Tensor& other)
    : dtype_(other.dtype_), shape_(other.shape_), numel_(other.numel_) {
  if (other.owning_) {
    Tensor copy(other.dtype_, other.shape_);
    if (other.bytes()) std::memcpy(copy.data_, other.data_, other.bytes());
    storage_ = std::move(copy.storage_);
    data_ = storage_.get();
  } else {
    data_ = other.data_;
    owning_ = false;
  }
}

Tensor& Tensor::operator=(const Tensor& other) {
  if (this != &other) *this = Tensor(other);
  return *this;
}

Tensor::Tensor(Tensor&& other) noexcept
    : dtype_(other.dtype_),
      shape_(std::move(other.shape_)),
      numel_(other.numel_),
      storage_(std::move(other.storage_)),
      data_(other.data_),
      owning_(other.owning_) {
  other.reset();
}

Tensor& Tensor::operator=(Tensor&& other) noexcept {
  if (this != &other) {
    dtype_ = other.dtype_;
    shape_ = std::move(other.shape_);
    numel_ = other.numel_;
    storage_ = std::move(other.storage_);
    data_ = other.data_;
    owning_ = other.owning_;
    other.reset();
  }
  return *this;
}

void Tensor::reset() {
  dtype_ = ElemType::f32;
  shape_.assign(1, 0);  // cannot throw in practice: one element, after a move
  numel_ = 0;
  storage_.reset();
  data_ = nullptr;
  owning_ = true;
}

std::string Tensor::describe() const {
  return std::string(elem_type_name(dtype_)) + shape_string(shape_);
}

void Tensor::check_type(ElemType wanted) const {
  if (wanted != dtype_)
    throw Error("tensor " + describe() + " accessed as " + elem_type_name(wanted));
}

Tensor Tensor::clone() const {
  Tensor copy(dtype_, shape_);
  if (bytes()) std::memcpy(copy.data_, data_, bytes());
  return copy;
}

bool Tensor::equals(const Tensor& other) const {
  return dtype_ == other.dtype_ && shape_ == other.shape_ &&
         (bytes() == 0 || std::memcmp(data_, other.data_, bytes()) == 0);
}

adj_tensor Tensor::abi() const {
  adj_tensor t;
  t.data = data_;
  t.shape = shape_.data();
  t.rank = static_cast<int32_t>(shape_.size());
  t.dtype = static_cast<adj_dtype>(dtype_);
  return t;
}

}  // namespace adjoint
