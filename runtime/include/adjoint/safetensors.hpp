// Reading and writing safetensors files: the format in which tensors cross the
// command line (params, inputs, gradients), readable and writable by NumPy and
// PyTorch users.
//
// Layout: an 8-byte little-endian unsigned header length N; N bytes of a JSON
// object mapping each tensor name to {"dtype", "shape", "data_offsets":
// [begin, end]} (offsets relative to the end of the header), with an optional
// "__metadata__" object of string -> string; then the raw little-endian data.
//
//   adjoint::SafeTensors st;
//   st.tensors.emplace("w", adjoint::Tensor::f32({2, 2}, {1, 2, 3, 4}));
//   st.metadata["epoch"] = "3";
//   adjoint::write_safetensors("params.safetensors", st);
//   adjoint::SafeTensors back = adjoint::read_safetensors("params.safetensors");
//
// Element types: F32, F64 and I32 are read and written as such. I64 (what
// PyTorch writes for integer labels by default) is read into an i32 tensor,
// each value checked to fit; nothing is ever written as I64. Any other dtype
// (F16, BF16, U8, BOOL, ...) is an error naming it.
//
// Reading validates everything before it trusts it: the file's length, the
// header's length (at most 100 MB) and JSON, every field's type, dtype,
// shape (non-negative, no overflow), that each data_offsets pair lies inside
// the data section and spans exactly numel x element size bytes, and that no
// two tensors' bytes overlap. Gaps between tensors are tolerated. Any problem
// is an adjoint::Error whose message starts with the file name (and names the
// tensor); nothing is read out of bounds.
#pragma once

#include <adjoint/tensor.hpp>
#include <map>
#include <string>

namespace adjoint {

struct SafeTensors {
  std::map<std::string, Tensor> tensors;
  std::map<std::string, std::string> metadata;  // the "__metadata__" object
};

// Reads a whole file; the tensors returned own their data.
SafeTensors read_safetensors(const std::string& path);

// Writes atomically: to `path.tmp.<pid>` first, flushed to disk with fsync,
// then renamed over `path`, so a reader never sees a half-written file and a
// crash leaves the old file intact. On failure the temporary file is removed
// and adjoint::Error is thrown. The JSON header is padded with spaces to a
// multiple of 8 bytes so the data section is 8-byte aligned; tensors are laid
// out contiguously, 8-byte types first, then by name. A tensor may not be
// named "__metadata__" or "" (the empty name).
void write_safetensors(const std::string& path, const SafeTensors& st);

}  // namespace adjoint
