// The C++ API from plain C++: compiling, introspection, initialisation and
// fans, grad/forward against the reference evaluator for every example
// network, several models in one process, repeated calls and symbolic sizes.
#include <adjoint/adjoint.hpp>
#include <adjoint/init.hpp>
#include <adjoint/rng.hpp>
#include <catch2/catch.hpp>
#include <filesystem>

#include "support/native_check.hpp"
#include "test_api_support.hpp"

using namespace adjoint;
using namespace adjoint::apitest;

namespace {

constexpr const char* kSmall = R"(model small
input x : f64[B, 3]
input t : f64[B, 2]
param W : f64[3, 2] = glorot_uniform
param b : f64[2] = 0.5
h = tanh(x @ W + b)
loss = mse(h, t)
minimize loss
output h
)";

double tolerance(ElemType ft) { return ft == ElemType::f64 ? 1e-12 : 1e-5; }

// grad and forward of `m` on random tensors, against the reference evaluator.
void check_against_reference(const Model& m, const std::string& text, int64_t size, uint64_t seed) {
  Inputs in = random_inputs(m, size, seed);
  Params p = m.init_params(seed);
  TensorMap ref = reference_results(text, in, p);
  TensorMap native;
  if (m.has_loss()) {
    Grads g = m.make_grads(in);
    double loss = m.grad(in, p, g);
    native = to_map(g, "grad.");
    native["loss"] = DTensor({}, loss);
  }
  Outputs out = m.forward(in, p);
  for (const auto& [name, t] : to_map(out)) {
    if (name == "loss") {
      // forward's loss is the same number grad returned (rounded to the float type).
      if (m.has_loss())
        CHECK(t[0] == Approx(native.at("loss")[0]).epsilon(tolerance(m.float_type())));
      continue;
    }
    native[name] = t;
  }
  testing::Comparison c = testing::compare_results(native, ref, tolerance(m.float_type()));
  INFO(c.report);
  CHECK(c.ok);
  CHECK(native.size() == ref.size());
}

std::string as_f64(std::string text) {
  for (size_t at = text.find("f32"); at != std::string::npos; at = text.find("f32", at))
    text.replace(at, 3, "f64");
  return text;
}

}  // namespace

TEST_CASE("a model compiled from a string describes itself", "[api]") {
  Compiler cc;
  Model m = cc.compile_string(kSmall);
  CHECK(m.name() == "small");
  CHECK(m.float_type() == ElemType::f64);
  CHECK(m.has_loss());
  CHECK(m.input_names() == std::vector<std::string>{"x", "t"});
  CHECK(m.param_names() == std::vector<std::string>{"W", "b"});
  CHECK(m.output_names() == std::vector<std::string>{"h"});
  CHECK(m.wrt() == std::vector<std::string>{"W", "b"});
  CHECK(m.size_symbols() == std::vector<std::string>{"B"});
  const TensorInfo& x = m.info("x");
  CHECK(x.type == "f64[B,3]");
  CHECK(x.dims == std::vector<std::string>{"B", "3"});
  CHECK_FALSE(x.is_fixed());
  CHECK_THROWS_WITH(x.fixed_shape(), Catch::Contains("symbolic"));
  CHECK(m.info("W").fixed_shape() == std::vector<int64_t>{3, 2});
  CHECK(m.outputs()[0].type == "f64[B,2]");
  CHECK_THROWS_WITH(m.info("nope"), Catch::Contains("no input or param 'nope'"));
  CHECK(m.init_description("b") == describe(InitSpec::constant(0.5)));
}

TEST_CASE("a program with errors throws the full diagnostics", "[api]") {
  Compiler cc;
  try {
    cc.compile_string("input x : f32[4, 3]\nparam W : f32[2, 5]\ny = x @ W\n", "bad.adj");
    FAIL("no error");
  } catch (const CompileError& e) {  // a kind of Error, for callers that tell them apart
    std::string msg = e.what();
    CHECK_THAT(msg, Catch::Contains("bad.adj:3:"));
    CHECK_THAT(msg, Catch::Contains("error:"));
    CHECK_THAT(msg, Catch::Contains("y = x @ W"));  // the source line
    CHECK_THAT(msg, Catch::Contains("^"));          // and a caret
  }
  CHECK_THROWS_WITH(cc.compile_file("/nonexistent/dir/m.adj"),
                    Catch::Contains("cannot read '/nonexistent/dir/m.adj'"));
  // A directory or an endless file is an error, not an empty model or a hang.
  std::string dir = temp_dir("api_dir");
  CHECK_THROWS_WITH(cc.compile_file(dir), Catch::Contains("is a directory"));
  CHECK_THROWS_WITH(cc.compile_file("/dev/zero"), Catch::Contains("larger than 64 MiB"));
  std::filesystem::remove_all(dir);
  // The compiler stays usable after an error.
  CHECK(cc.compile_string(kSmall).has_loss());
}

TEST_CASE("init_params is deterministic and follows every initialiser", "[api]") {
  Compiler cc;
  Model m = cc.compile_string(R"(
input x : f32[B, 6]
param a : f32[4] = zeros
param o : f32[2, 2] = ones
param c : f32[3] = -0.25
param n : f32[5, 5] = normal(1, 0.5)
param u : f32[7] = uniform(-2, 3)
param W : f32[6, 4] = he_normal
param v : f32[4] = he_normal
y = sum(x @ W * v + a) + sum(o) + sum(c) + sum(n) + sum(u)
minimize y
)");
  Params p1 = m.init_params(7), p2 = m.init_params(7), p3 = m.init_params(8);
  CHECK(p1.names() == m.param_names());  // declaration order
  for (const auto& [name, t] : p1) {
    INFO(name);
    CHECK(t.equals(p2[name]));
    CHECK(t.shape() == m.info(name).fixed_shape());
    CHECK(t.dtype() == ElemType::f32);
  }
  CHECK_FALSE(p1["n"].equals(p3["n"]));
  CHECK(p1["o"].data<float>()[3] == 1.0f);
  CHECK(p1["c"].data<float>()[2] == -0.25f);
  CHECK(p1["a"].data<float>()[0] == 0.0f);
  // Each random param is exactly init_tensor with its spec, seed and name's stream.
  auto same_as = [&](const std::string& name, const InitSpec& spec) {
    Tensor want = Tensor::f32(m.info(name).fixed_shape());
    init_tensor(want, spec, 7, stream_of(name));
    CHECK(p1[name].equals(want));
    CHECK(m.init_description(name) == describe(spec));
  };
  same_as("n", InitSpec::normal(1, 0.5));
  same_as("u", InitSpec::uniform(-2, 3));
  same_as("W", InitSpec::he_normal(6));  // x @ W contracts W's first size
  same_as("v", InitSpec::he_normal(4));  // no matmul: the last size
}

TEST_CASE("fans follow the first matmul or conv2d use of a param", "[api]") {
  Compiler cc;
  Model m = cc.compile_string(R"(
input x : f64[5]
input X : f64[B, 3]
input img : f64[B, 2, 9, 9]
param A : f64[7, 5] = glorot_uniform   # A @ x: [out, in]
param C : f64[4, 3] = glorot_uniform   # X @ C.T: [out, in]
param D : f64[3, 4] = glorot_uniform   # X @ D: [in, out]
param K : f64[6, 2, 3, 3] = he_normal  # conv kernel [K, C, R, S]
param R : f64[12] = glorot_uniform     # reshaped to [3, 4] before X @ .
param E : f64[4, 8] = glorot_uniform   # first used elementwise, then in a matmul
param L : f64[2, 3, 4] = he_normal     # never in a matmul
y = sum(A @ x) + sum(X @ C.T) + sum(X @ D) + sum(conv2d(img, K))
z = sum(X @ reshape(R, [3, 4])) + sum(sum(E * 2) + (X @ D) @ E) + sum(L)
loss = y + z
minimize loss
)");
  CHECK(m.init_description("A") == describe(InitSpec::glorot_uniform(5, 7)));
  CHECK(m.init_description("C") == describe(InitSpec::glorot_uniform(3, 4)));
  CHECK(m.init_description("D") == describe(InitSpec::glorot_uniform(3, 4)));
  CHECK(m.init_description("K") == describe(InitSpec::he_normal(2 * 3 * 3)));
  CHECK(m.init_description("R") == describe(InitSpec::glorot_uniform(3, 4)));
  CHECK(m.init_description("E") == describe(InitSpec::glorot_uniform(4, 8)));
  CHECK(m.init_description("L") == describe(InitSpec::he_normal(4)));
  // The conv kernel's fan-out is K*R*S.
  Model k = cc.compile_string(R"(
input img : f64[B, 2, 9, 9]
param K : f64[6, 2, 3, 3] = glorot_uniform
loss = sum(conv2d(img, K))
minimize loss
)");
  CHECK(k.init_description("K") == describe(InitSpec::glorot_uniform(18, 54)));
}

TEST_CASE("grad matches the reference evaluator for every example network", "[api]") {
  namespace fs = std::filesystem;
  Compiler cc;
  int checked = 0;
  for (const auto& entry : fs::directory_iterator(fs::path(ADJOINT_SOURCE_DIR) / "examples")) {
    if (entry.path().extension() != ".adj") continue;
    std::string file = entry.path().filename().string();
    std::string text = example_text(file);
    // As written (f32 or f64), and every one in f64 too.
    for (const std::string& variant : {text, as_f64(text)}) {
      INFO(file << (variant == text ? "" : " in f64"));
      Model m = cc.compile_string(variant, file);
      check_against_reference(m, variant, 3, 5);
      ++checked;
    }
  }
  CHECK(checked >= 14);
}

TEST_CASE("forward returns every output and the loss", "[api]") {
  Compiler cc;
  Model m = cc.compile_string(example_text("mlp.adj"), "mlp.adj");
  Inputs in = random_inputs(m, 4, 1);
  Params p = m.init_params(1);
  Outputs out = m.forward(in, p);
  CHECK(out.names() == std::vector<std::string>{"logits", "loss"});
  CHECK(out["logits"].shape() == std::vector<int64_t>{4, 10});
  CHECK(out["loss"].shape().empty());
  CHECK(out["loss"].dtype() == ElemType::f32);
  Grads g = m.make_grads();
  CHECK(out["loss"].data<float>()[0] == Approx(m.grad(in, p, g)).epsilon(1e-6));

  Model inference = cc.compile_string(
      "input x : f64[B, 2]\nparam W : f64[2, 2] = ones\n"
      "y = x @ W\noutput y\n");
  CHECK_FALSE(inference.has_loss());
  CHECK(inference.wrt().empty());
  Params pi = inference.init_params(0);
  Outputs y = inference.forward({{"x", Tensor::f64({1, 2}, {1, 2})}}, pi);
  CHECK(y.names() == std::vector<std::string>{"y"});
  CHECK(y["y"].data<double>()[0] == 3.0);
  CHECK(y["y"].data<double>()[1] == 3.0);
}

TEST_CASE("two models live in one process and outlive their compiler", "[api]") {
  std::optional<Model> a, b, c;
  {
    Compiler cc;
    a.emplace(cc.compile_string(kSmall));
    b.emplace(cc.compile_string(kSmall));  // same model name, same JIT
    c.emplace(cc.compile_string(example_text("chain.adj"), "chain.adj"));
  }
  Compiler other;
  Model d = other.compile_string(example_text("xor.adj"), "xor.adj");
  check_against_reference(*a, kSmall, 4, 1);
  check_against_reference(*b, kSmall, 2, 2);
  check_against_reference(*c, example_text("chain.adj"), 1, 3);
  check_against_reference(d, example_text("xor.adj"), 4, 4);
  a.reset();  // freeing one leaves the others working
  check_against_reference(*b, kSmall, 5, 6);
  Model moved = std::move(d);
  check_against_reference(moved, example_text("xor.adj"), 3, 7);
}

TEST_CASE("a Model called many times gives the same answers", "[api]") {
  Compiler cc;
  Model m = cc.compile_string(example_text("mlp.adj"), "mlp.adj");
  Inputs in = random_inputs(m, 8, 2);
  Params p = m.init_params(2);
  Grads first = m.make_grads();
  double loss = m.grad(in, p, first);
  Grads g = m.make_grads();
  for (int i = 0; i < 200; ++i) {
    // Gradients are overwritten, not accumulated.
    REQUIRE(m.grad(in, p, g) == loss);
    for (const auto& [name, t] : first) REQUIRE(g[name].equals(t));
  }
  check_against_reference(m, example_text("mlp.adj"), 8, 9);
}

TEST_CASE("a Model serves batch sizes 1, 3 and 64", "[api]") {
  Compiler cc;
  std::string text = example_text("mlp.adj");
  Model m = cc.compile_string(text, "mlp.adj");
  for (int64_t batch : {1, 3, 64, 3, 1}) {
    INFO("B=" << batch);
    check_against_reference(m, text, batch, static_cast<uint64_t>(batch));
  }
}

TEST_CASE("a wrt input with a symbolic size needs the inputs for make_grads", "[api]") {
  Compiler cc;
  Model m = cc.compile_string(R"(
input x : f64[B, 2]
param W : f64[2, 2] = ones
loss = sum(tanh(x @ W))
minimize loss wrt W, x
)");
  CHECK_THROWS_WITH(m.make_grads(),
                    Catch::Contains("'B'") && Catch::Contains("make_grads(inputs)"));
  Inputs in{{"x", Tensor::f64({3, 2}, {1, 2, 3, 4, 5, 6})}};
  Grads g = m.make_grads(in);
  CHECK(g.names() == std::vector<std::string>{"W", "x"});
  CHECK(g["x"].shape() == std::vector<int64_t>{3, 2});
  Params p = m.init_params(0);
  m.grad(in, p, g);
  // d/dx sum(tanh(x @ W)) with W = ones: each row's two gradients are equal.
  const double* dx = g["x"].data<double>();
  CHECK(dx[0] == dx[1]);
  CHECK(dx[0] > 0);
}

TEST_CASE("tensors given as views are read in place", "[api]") {
  Compiler cc;
  Model m = cc.compile_string(kSmall);
  std::vector<double> xs = {0.1, 0.2, 0.3, -0.4, 0.5, -0.6}, ts = {0.5, -0.5, 0.25, 0};
  Inputs views{{"x", Tensor::view(xs.data(), {2, 3}, ElemType::f64)},
               {"t", Tensor::view(ts.data(), {2, 2}, ElemType::f64)}};
  CHECK(views["x"].is_view());
  Params p = m.init_params(3);
  Grads g = m.make_grads();
  double before = m.grad(views, p, g);
  xs[0] = 0.9;  // the call reads the caller's memory, not a copy
  CHECK(m.grad(views, p, g) != before);
}
