// Composite networks: every example (and the networks in tests/networks/)
// compiled from text, differentiated, and checked against finite differences
// in f64 (f32 models are checked as their f64 twins). The gradients of the
// optimised graph must equal those of the plain reverse-mode graph.
#include <catch2/catch.hpp>

#include <cmath>
#include <fstream>
#include <regex>
#include <sstream>

#include "frontend/frontend.hpp"
#include "stages.hpp"
#include "support/gradcheck.hpp"

using namespace adjoint;
using namespace adjoint::testing;

namespace {

std::string read_source(const std::string& rel) {
  std::ifstream in(std::string(ADJOINT_SOURCE_DIR) + "/" + rel);
  REQUIRE(in);
  std::ostringstream s;
  s << in.rdbuf();
  // Finite differences need f64; the network is otherwise the same.
  return std::regex_replace(s.str(), std::regex("\\bf32\\b"), "f64");
}

Graph compile(const std::string& name, const std::string& text) {
  SourceManager sm;
  uint32_t file = sm.add(name, text);
  Diagnostics d(sm);
  auto g = compile_source(sm, file, d);
  INFO(d.text());
  REQUIRE(g);
  return *g;
}

// Conv nets: hundreds of relu inputs move with each kernel weight, so the conv
// checks use a small step that keeps the differences from straddling a kink
// (four-point differences at 1e-5 still have ~1e-10 rounding error here, far
// below the tolerance).
void check_network(const std::string& rel, const DimEnv& sizes, int64_t max_per_tensor,
                   double step = 1e-3) {
  Graph g = compile(rel, read_source(rel));
  REQUIRE(g.loss);
  for (uint64_t seed : {11u, 12u}) {
    TensorMap leaves = random_leaves(g, sizes, seed);
    GradCheckOptions opts;
    opts.max_per_tensor = max_per_tensor;
    opts.step = step;
    GradCheckResult r = check_gradients(g, leaves, opts);
    INFO(rel << " seed " << seed << "\n" << r.report);
    CHECK(r.ok);
    CHECK(r.elements > 0);

    StagedGraphs s = run_pipeline(g);
    TensorMap plain = evaluate_results(s.grad, leaves);
    TensorMap opt = evaluate_results(s.opt, leaves);
    for (const auto& [name, t] : plain)
      for (size_t i = 0; i < t.size(); ++i)
        REQUIRE(std::fabs(opt.at(name)[i] - t[i]) <= 1e-12 * (1 + std::fabs(t[i])));
  }
}

}  // namespace

TEST_CASE("network: the MLP of LANGUAGE.md", "[networks]") {
  check_network("examples/mlp.adj", {{"B", 3}}, 20);
}
TEST_CASE("network: the seed's chain, gradient w.r.t. x too", "[networks]") {
  check_network("examples/chain.adj", {}, 0);
}
TEST_CASE("network: XOR", "[networks]") { check_network("examples/xor.adj", {{"B", 4}}, 0); }
TEST_CASE("network: attention-style q @ k.T", "[networks]") {
  check_network("examples/attention.adj", {{"T", 5}}, 0);
}
TEST_CASE("network: residual block with a layer norm written as a def", "[networks]") {
  check_network("examples/residual.adj", {{"B", 3}}, 30);
}
TEST_CASE("network: conv/pool block", "[networks]") {
  check_network("tests/networks/conv_block.adj", {{"B", 2}}, 0, 1e-5);
}
TEST_CASE("network: LeNet-style CNN example (sampled elements)", "[networks]") {
  check_network("examples/cnn.adj", {{"B", 2}}, 6, 1e-5);
}
TEST_CASE("network: params sized by the inputs' symbols", "[networks]") {
  check_network("tests/networks/sized_params.adj", {{"T", 4}, {"D", 6}}, 0);
}
TEST_CASE("network: embedding with gather", "[networks]") {
  check_network("examples/embedding.adj", {{"N", 7}}, 40);
}
TEST_CASE("network: remaining builtins mixed", "[networks]") {
  check_network("tests/networks/mixed.adj", {{"B", 4}}, 0);
}
