// adjoint::Tensor: construction, checked typed access, ownership (copies of
// owning tensors are deep, of views shallow), and the ABI description.
#include <adjoint/tensor.hpp>
#include <catch2/catch.hpp>
#include <cstdint>

using namespace adjoint;

TEST_CASE("owning tensors are zero-filled, 64-byte aligned and typed", "[runtime]") {
  Tensor x = Tensor::f32({2, 3});
  CHECK(x.dtype() == ElemType::f32);
  CHECK(x.shape() == std::vector<int64_t>{2, 3});
  CHECK(x.rank() == 2);
  CHECK(x.numel() == 6);
  CHECK(x.bytes() == 24);
  CHECK_FALSE(x.is_view());
  CHECK(reinterpret_cast<uintptr_t>(x.raw()) % 64 == 0);
  for (int i = 0; i < 6; ++i) CHECK(x.data<float>()[i] == 0.0f);
  CHECK(x.describe() == "f32[2,3]");

  CHECK(Tensor::f64({5}).bytes() == 40);
  CHECK(Tensor::i32({}).numel() == 1);  // a scalar
  CHECK(Tensor::f32({0, 7}).numel() == 0);
  CHECK(Tensor::f32({}).describe() == "f32[]");
}

TEST_CASE("typed access is checked against the element type", "[runtime]") {
  Tensor x = Tensor::f64({2});
  CHECK_NOTHROW(x.data<double>());
  CHECK_THROWS_AS(x.data<float>(), Error);
  CHECK_THROWS_WITH(x.data<int32_t>(), Catch::Contains("f64[2]") && Catch::Contains("i32"));
  const Tensor& c = x;
  CHECK_THROWS_AS(c.data<float>(), Error);
}

TEST_CASE("tensors from values, and their errors", "[runtime]") {
  Tensor b = Tensor::f32({3}, {1, 2, 3});
  CHECK(b.data<float>()[2] == 3.0f);
  Tensor s = Tensor::f64({}, {2.5});
  CHECK(s.data<double>()[0] == 2.5);
  Tensor i = Tensor::i32({2, 2}, {1, -2, 3, -4});
  CHECK(i.data<int32_t>()[3] == -4);
  CHECK_THROWS_WITH(Tensor::f32({2, 2}, {1, 2, 3}), Catch::Contains("needs 4 values, got 3"));
  CHECK_THROWS_WITH(Tensor::f32({2, -1}), Catch::Contains("negative size"));
  CHECK_THROWS_WITH(Tensor::f32({int64_t{1} << 40, int64_t{1} << 40}),
                    Catch::Contains("too many elements"));
  CHECK_THROWS_AS(shape_numel({int64_t{1} << 62, 2}), Error);
  CHECK(shape_numel({0, int64_t{1} << 62}) == 0);
}

TEST_CASE("copies of owning tensors are deep, of views shallow; moves empty the source",
          "[runtime]") {
  Tensor a = Tensor::f32({2}, {1, 2});
  Tensor b = a;
  b.data<float>()[0] = 9;
  CHECK(a.data<float>()[0] == 1);
  CHECK(reinterpret_cast<uintptr_t>(b.raw()) % 64 == 0);

  float buf[4] = {1, 2, 3, 4};
  Tensor v = Tensor::view(buf, {2, 2}, ElemType::f32);
  CHECK(v.is_view());
  Tensor w = v;
  w.data<float>()[1] = 7;
  CHECK(buf[1] == 7);
  Tensor c = v.clone();
  CHECK_FALSE(c.is_view());
  CHECK(c.equals(v));
  c.data<float>()[0] = 5;
  CHECK(buf[0] == 1);
  CHECK_FALSE(c.equals(v));

  Tensor m = std::move(a);
  CHECK(m.data<float>()[1] == 2);
  CHECK(a.numel() == 0);  // NOLINT(bugprone-use-after-move): the documented empty state
  CHECK(a.shape() == std::vector<int64_t>{0});
  a = m;  // a moved-from tensor can be assigned again
  CHECK(a.equals(m));

  CHECK_THROWS_WITH(Tensor::view(nullptr, {3}, ElemType::f32), Catch::Contains("null"));
  CHECK_NOTHROW(Tensor::view(nullptr, {0}, ElemType::f32));
}

TEST_CASE("abi() describes the tensor for a compiled call, and view() reads it back", "[runtime]") {
  Tensor x = Tensor::i32({4, 5, 6});
  adj_tensor t = x.abi();
  CHECK(t.data == x.raw());
  CHECK(t.rank == 3);
  CHECK(t.shape[2] == 6);
  CHECK(t.dtype == ADJ_I32);
  Tensor v = Tensor::view(t);
  CHECK(v.is_view());
  CHECK(v.raw() == x.raw());
  CHECK(v.shape() == x.shape());
  CHECK(v.dtype() == ElemType::i32);

  adj_tensor bad = t;
  bad.rank = -1;
  CHECK_THROWS_AS(Tensor::view(bad), Error);
  bad = t;
  bad.dtype = static_cast<adj_dtype>(3);  // (7 would be out of the enum's range: UB)
  CHECK_THROWS_AS(Tensor::view(bad), Error);
  CHECK(static_cast<int>(ElemType::f64) == ADJ_F64);
}
