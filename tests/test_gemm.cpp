// The generated GEMM and GEMV against a plain f64 triple loop: every
// transpose combination, sizes on and across the tile, block and vector
// edges (M = 1 and N = 1 take the matrix-vector path), f32 and f64; and the
// same bits for every thread count.
#include <adjoint/adjoint.hpp>
#include <catch2/catch.hpp>
#include <cmath>
#include <cstring>
#include <random>
#include <string>
#include <vector>

namespace {

using adjoint::ElemType;
using adjoint::Tensor;

struct Case {
  int64_t m, n, k;
};

// c = op(a) @ op(b), with a stored [m,k] (or [k,m] when ta), b [k,n] (or [n,k]).
std::string program(bool ta, bool tb, const char* dtype) {
  std::string a_shape = ta ? "[K, M]" : "[M, K]";
  std::string b_shape = tb ? "[N, K]" : "[K, N]";
  std::string t = dtype;
  return "model g\ninput a : " + t + a_shape + "\ninput b : " + t + b_shape +
         "\nc = " + (ta ? "a.T" : "a") + " @ " + (tb ? "b.T" : "b") + "\noutput c\n";
}

double at(const Tensor& x, int64_t i) {
  return x.dtype() == ElemType::f32 ? x.data<float>()[i] : x.data<double>()[i];
}

Tensor random_tensor(ElemType t, std::vector<int64_t> shape, std::mt19937& rng) {
  Tensor x = Tensor::zeros(t, shape);
  std::uniform_real_distribution<double> u(-1, 1);
  for (int64_t i = 0; i < x.numel(); ++i) {
    if (t == ElemType::f32)
      x.data<float>()[i] = static_cast<float>(u(rng));
    else
      x.data<double>()[i] = u(rng);
  }
  return x;
}

// Reference in f64; also the sum of |terms| per element, for the error bound.
void reference(const Tensor& a, const Tensor& b, bool ta, bool tb, const Case& c,
               std::vector<double>& out, std::vector<double>& mag) {
  out.assign(static_cast<size_t>(c.m * c.n), 0.0);
  mag.assign(out.size(), 0.0);
  for (int64_t i = 0; i < c.m; ++i)
    for (int64_t j = 0; j < c.n; ++j)
      for (int64_t p = 0; p < c.k; ++p) {
        double x = at(a, ta ? p * c.m + i : i * c.k + p);
        double y = at(b, tb ? j * c.k + p : p * c.n + j);
        out[static_cast<size_t>(i * c.n + j)] += x * y;
        mag[static_cast<size_t>(i * c.n + j)] += std::abs(x * y);
      }
}

const std::vector<Case> kCases = {{1, 1, 1},
                                  {1, 37, 5},
                                  {1, 64, 64},
                                  {1, 100, 300},
                                  {64, 1, 64},
                                  {37, 1, 300},
                                  {2, 3, 1},
                                  {12, 32, 1},
                                  {13, 33, 2},
                                  {11, 31, 7},
                                  {12, 32, 64},
                                  {25, 65, 100},
                                  {64, 10, 128},
                                  {10, 128, 64},
                                  {100, 600, 3},
                                  {30, 40, 600},
                                  {3, 5, 0},
                                  {0, 4, 3},
                                  {130, 70, 257},
                                  // several blocks of rows, of columns and of k: each k
                                  // block's B panels are packed with the first block of rows
                                  // and reused by the others
                                  {390, 520, 257}};

}  // namespace

TEST_CASE("generated GEMM matches a plain product for every transpose and edge", "[gemm]") {
  adjoint::Compiler cc(adjoint::CompileOptions{.cache = false});
  std::mt19937 rng(7);
  for (const char* dtype : {"f32", "f64"}) {
    ElemType et = std::string(dtype) == "f32" ? ElemType::f32 : ElemType::f64;
    // Rounding bound: k-term sums in the element type, relative to sum |terms|.
    double unit = et == ElemType::f32 ? 6e-8 : 1.2e-16;
    for (bool ta : {false, true})
      for (bool tb : {false, true}) {
        adjoint::Model model = cc.compile_string(program(ta, tb, dtype), "gemm.adj");
        for (const Case& c : kCases) {
          INFO(dtype << " ta=" << ta << " tb=" << tb << " m=" << c.m << " n=" << c.n
                     << " k=" << c.k);
          Tensor a = random_tensor(et, ta ? std::vector{c.k, c.m} : std::vector{c.m, c.k}, rng);
          Tensor b = random_tensor(et, tb ? std::vector{c.n, c.k} : std::vector{c.k, c.n}, rng);
          adjoint::Inputs in{{"a", a}, {"b", b}};
          Tensor out = model.forward(in, {})["c"];
          std::vector<double> want, mag;
          reference(a, b, ta, tb, c, want, mag);
          REQUIRE(out.numel() == c.m * c.n);
          for (size_t i = 0; i < want.size(); ++i) {
            double tol = 2.0 * unit * static_cast<double>(c.k + 2) * mag[i] + 1e-300;
            if (std::abs(at(out, static_cast<int64_t>(i)) - want[i]) > tol) {
              FAIL("element " << i << ": got " << at(out, static_cast<int64_t>(i)) << ", want "
                              << want[i] << " (tolerance " << tol << ")");
            }
          }
        }
      }
  }
}

TEST_CASE("GEMM results are the same bits for 1, 2 and 3 threads", "[gemm][threads]") {
  // Big enough for the pool: C is cut into one region per thread, along n
  // when n >= m, else along m, each region with its own share of scratch.
  const std::vector<Case> cases = {
      {300, 700, 520},  // along n; several k blocks, n blocks and strips
      {700, 300, 37},   // along m; several blocks of rows; a short last region
      {294, 200, 37},   // along m; scratch shares that are not whole vectors
                        // unless rounded (AVX-512 and AVX2, f32 and f64)
      {128, 512, 10},   // along n, k below a vector (unaligned too, AVX-512 f32)
      {33, 40, 600},    // along n: regions of one panel and a partial one
      {40, 33, 600}};   // along m: regions of two strips and a partial one
  adjoint::Compiler cc(adjoint::CompileOptions{.cache = false});
  std::mt19937 rng(11);
  for (const char* dtype : {"f32", "f64"}) {
    ElemType et = std::string(dtype) == "f32" ? ElemType::f32 : ElemType::f64;
    adjoint::Model model = cc.compile_string(program(true, false, dtype), "gemm.adj");
    for (const Case& c : cases) {
      INFO(dtype << " m=" << c.m << " n=" << c.n << " k=" << c.k);
      Tensor a = random_tensor(et, {c.k, c.m}, rng);
      Tensor b = random_tensor(et, {c.k, c.n}, rng);
      adjoint::Inputs in{{"a", a}, {"b", b}};
      std::vector<Tensor> results;
      for (int threads : {1, 2, 3}) {
        adjoint::set_num_threads(threads);
        REQUIRE(adjoint::num_threads() == threads);
        results.push_back(model.forward(in, {})["c"]);
      }
      adjoint::set_num_threads(0);
      std::vector<double> want, mag;
      reference(a, b, true, false, c, want, mag);
      double unit = et == ElemType::f32 ? 6e-8 : 1.2e-16;
      for (size_t i = 0; i < want.size(); ++i) {
        double tol = 2.0 * unit * static_cast<double>(c.k + 2) * mag[i] + 1e-300;
        if (std::abs(at(results[0], static_cast<int64_t>(i)) - want[i]) > tol)
          FAIL("element " << i << ": got " << at(results[0], static_cast<int64_t>(i)) << ", want "
                          << want[i]);
      }
      for (size_t r = 1; r < results.size(); ++r)
        REQUIRE(std::memcmp(results[0].raw(), results[r].raw(), results[0].bytes()) == 0);
    }
  }
}

TEST_CASE("a whole training step is the same bits for 1, 2 and 3 threads", "[gemm][threads]") {
  adjoint::Compiler cc(adjoint::CompileOptions{.cache = false});
  adjoint::Model model = cc.compile_string(R"(model net
input x : f32[B, 300]
input y : i32[B]
param W1 : f32[256, 300] = he_normal
param b1 : f32[256]
param W2 : f32[10, 256] = glorot_uniform
param b2 : f32[10]
h = relu(x @ W1.T + b1)
loss = mean(softmax_cross_entropy(h @ W2.T + b2, y))
minimize loss
)",
                                           "net.adj");
  std::mt19937 rng(5);
  Tensor x = random_tensor(ElemType::f32, {200, 300}, rng);
  Tensor y = Tensor::zeros(ElemType::i32, {200});
  for (int64_t i = 0; i < 200; ++i) y.data<int32_t>()[i] = static_cast<int32_t>(rng() % 10);
  adjoint::Inputs in{{"x", x}, {"y", y}};
  adjoint::Params params = model.init_params(3);
  std::vector<adjoint::Grads> grads;
  std::vector<double> losses;
  for (int threads : {1, 2, 3}) {
    adjoint::set_num_threads(threads);
    grads.push_back(model.make_grads());
    losses.push_back(model.grad(in, params, grads.back()));
  }
  adjoint::set_num_threads(0);
  for (size_t r = 1; r < grads.size(); ++r) {
    CHECK(losses[r] == losses[0]);
    for (const auto& [name, t] : grads[0]) {
      CAPTURE(name);
      CHECK(t.equals(grads[r][name]));
    }
  }
}

namespace {

// relu(P + bias) * h - col over P = a @ b, one float operation at a time
// (volatile: no contraction into a fused multiply-add).
template <typename T>
std::vector<T> epilogue_by_hand(const Tensor& p, const Tensor& bias, const Tensor& col,
                                const Tensor& h, const Case& c) {
  std::vector<T> out(static_cast<size_t>(c.m * c.n));
  for (int64_t i = 0; i < c.m; ++i)
    for (int64_t j = 0; j < c.n; ++j) {
      int64_t at = i * c.n + j;
      volatile T t = p.data<T>()[at] + bias.data<T>()[j];
      volatile T r = t > 0 ? static_cast<T>(t) : T(0);
      volatile T u = r * h.data<T>()[at];
      out[static_cast<size_t>(at)] = u - col.data<T>()[i];
    }
  return out;
}

template <typename T>
void check_epilogue(adjoint::Compiler& cc, ElemType et, const char* dtype) {
  std::string t = dtype;
  std::string decl = "input a : " + t + "[M, K]\ninput b : " + t + "[K, N]\ninput bias : " + t +
                     "[N]\ninput col : " + t + "[M, 1]\ninput h : " + t + "[M, N]\n";
  // The product is read only by the tree: the GEMM applies it as an epilogue.
  adjoint::Model fused = cc.compile_string(
      "model e\n" + decl + "c = relu(a @ b + bias) * h - col\noutput c\n", "e.adj");
  adjoint::Model plain = cc.compile_string("model p\n" + decl + "p = a @ b\noutput p\n", "p.adj");
  std::mt19937 rng(13);
  // Each path of the GEMM: matrix-vector (m = 1, n = 1), outer product
  // (k = 1), k = 0, inline loops, tile edges, several k blocks, several n
  // blocks, several m blocks.
  for (Case c : std::vector<Case>{{1, 70, 33},
                                  {45, 1, 20},
                                  {17, 40, 1},
                                  {6, 9, 0},
                                  {3, 4, 5},
                                  {13, 33, 7},
                                  {64, 128, 784},
                                  {30, 600, 40},
                                  {400, 20, 50}}) {
    INFO(dtype << " m=" << c.m << " n=" << c.n << " k=" << c.k);
    adjoint::Inputs in{{"a", random_tensor(et, {c.m, c.k}, rng)},
                       {"b", random_tensor(et, {c.k, c.n}, rng)},
                       {"bias", random_tensor(et, {c.n}, rng)},
                       {"col", random_tensor(et, {c.m, 1}, rng)},
                       {"h", random_tensor(et, {c.m, c.n}, rng)}};
    std::vector<T> want =
        epilogue_by_hand<T>(plain.forward(in, {})["p"], in["bias"], in["col"], in["h"], c);
    for (int threads : {1, 2}) {
      adjoint::set_num_threads(threads);
      Tensor got = fused.forward(in, {})["c"];
      REQUIRE(got.numel() == c.m * c.n);
      CHECK(std::memcmp(got.raw(), want.data(), want.size() * sizeof(T)) == 0);
    }
    adjoint::set_num_threads(0);
  }
}

}  // namespace

TEST_CASE("a GEMM epilogue gives the same bits as the product and then the tree", "[gemm]") {
  adjoint::Compiler cc(adjoint::CompileOptions{.cache = false});
  check_epilogue<float>(cc, ElemType::f32, "f32");
  check_epilogue<double>(cc, ElemType::f64, "f64");
}
