// Shared helpers for the op-row unit tests (test_ops_a, test_ops_b): types,
// a row's type rule and reference evaluation called directly, and an
// elementwise comparison with hand-computed values.
#pragma once

#include <catch2/catch.hpp>
#include <utility>
#include <vector>

#include "ops/op_table.hpp"

namespace adjoint::optest {

inline Type f32(Shape s) { return Type{DType::f32, std::move(s)}; }
inline Type i32(Shape s) { return Type{DType::i32, std::move(s)}; }
inline const Dim B = Dim::symbol("B");

inline TypeResult infer(OpKind k, std::vector<Type> args, Attrs attrs = {}) {
  return op_info(k).infer(args, attrs, TypeContext{DType::f32});
}

inline DTensor eval(OpKind k, std::vector<DTensor> args, Attrs attrs, Dims out_shape) {
  std::vector<const DTensor*> ptrs;
  for (const DTensor& a : args) ptrs.push_back(&a);
  return op_info(k).eval(ptrs, attrs, out_shape);
}

inline void check_close(const DTensor& got, const std::vector<double>& want) {
  REQUIRE(got.size() == want.size());
  for (size_t i = 0; i < want.size(); ++i) {
    INFO("element " << i);
    CHECK(got[i] == Approx(want[i]).margin(1e-12));
  }
}

}  // namespace adjoint::optest
