// adjc explain / graph / cost: golden outputs, every example, and the printed
// formula evaluated as an expression tree against the gradient graph.
//
// To regenerate the golden files after an intended change:
//   ADJOINT_UPDATE_GOLDEN=1 adjoint_tests "[explain]", then review the diff.
#include <catch2/catch.hpp>
#include <cmath>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <random>
#include <sstream>

#include "eval/evaluator.hpp"
#include "explain/explain.hpp"
#include "frontend/frontend.hpp"
#include "stages.hpp"

using namespace adjoint;
namespace fs = std::filesystem;

namespace {

std::string slurp(const fs::path& p) {
  std::ifstream in(p, std::ios::binary);
  std::ostringstream s;
  s << in.rdbuf();
  return s.str();
}

Graph opt_of_source(const std::string& text) {
  SourceManager sm;
  uint32_t file = sm.add("test.adj", text);
  Diagnostics d(sm);
  std::optional<Graph> ir = compile_source(sm, file, d);
  REQUIRE(ir);
  return run_pipeline(*ir).opt;
}

Graph opt_of_example(const std::string& name) {
  return opt_of_source(slurp(fs::path(ADJOINT_SOURCE_DIR) / "examples" / (name + ".adj")));
}

explain::Explanation explanation_of(const Graph& g) {
  std::string error;
  auto e = explain::build_explanation(g, "", error);
  REQUIRE(e);
  return *e;
}

void check_golden(const std::string& file, const std::string& actual) {
  fs::path p = fs::path(ADJOINT_SOURCE_DIR) / "tests/golden_explain" / file;
  if (std::getenv("ADJOINT_UPDATE_GOLDEN")) {
    std::ofstream(p, std::ios::binary) << actual;
    return;
  }
  INFO("golden file " << p.string() << " (regenerate with ADJOINT_UPDATE_GOLDEN=1)");
  REQUIRE(fs::exists(p));
  CHECK(slurp(p) == actual);
}

// Random leaves: floats in [-1, 1], labels in [0, 2); symbols bound to 3.
TensorMap random_leaves(const Graph& g, uint32_t seed) {
  std::mt19937 rng(seed);
  std::uniform_real_distribution<double> u(-1.0, 1.0);
  DimEnv env;
  for (const std::string& s : g.size_symbols()) env[s] = 3;
  TensorMap m;
  for (ValueId v : g.inputs()) {
    const Node& n = g.node(v);
    DTensor t(eval_shape(n.type.shape, env));
    for (double& x : t.data) x = is_float(n.type.dtype) ? u(rng) : static_cast<double>(rng() % 2);
    m[n.attrs.get_str("name")] = t;
  }
  for (ValueId v : g.params()) {
    const Node& n = g.node(v);
    DTensor t(eval_shape(n.type.shape, env));
    for (double& x : t.data) x = u(rng);
    m[n.attrs.get_str("name")] = t;
  }
  return m;
}

// The explanation's tree, evaluated on its own, equals the gradient graph.
void check_tree_matches_graph(const Graph& g, uint32_t seed) {
  explain::Explanation e = explanation_of(g);
  TensorMap leaves = random_leaves(g, seed);
  TensorMap want = evaluate_results(g, leaves);
  TensorMap got = explain::evaluate_explanation(e, leaves);
  REQUIRE(got.size() == g.grads.size());
  for (const auto& [name, t] : got) {
    INFO(name);
    const DTensor& w = want.at(name);
    REQUIRE(t.shape == w.shape);
    for (size_t i = 0; i < t.size(); ++i) CHECK(t[i] == Approx(w[i]).margin(1e-12));
  }
}

// A random dense network: column-vector layers (W @ a) or batched rows with a
// bias (a @ W + b), random widths and activations.
std::string random_network(uint32_t seed) {
  std::mt19937 rng(seed);
  const char* acts[] = {"tanh", "sigmoid", "softplus", "relu"};
  bool rows = rng() % 2;
  int layers = 2 + static_cast<int>(rng() % 2);
  std::vector<int> width{2 + static_cast<int>(rng() % 4)};
  for (int l = 0; l < layers; ++l) width.push_back(2 + static_cast<int>(rng() % 4));
  std::ostringstream s;
  s << "model rnd\n";
  s << "input x : f64[" << (rows ? "B, " : "") << width[0] << "]\n";
  s << "input t : f64[" << (rows ? "B, " : "") << width.back() << "]\n";
  std::string wrt;
  for (int l = 1; l <= layers; ++l) {
    if (rows) {
      s << "param W" << l << " : f64[" << width[l - 1] << ", " << width[l]
        << "] = glorot_uniform\n";
      s << "param b" << l << " : f64[" << width[l] << "] = zeros\n";
    } else {
      s << "param W" << l << " : f64[" << width[l] << ", " << width[l - 1]
        << "] = glorot_uniform\n";
    }
    wrt += "W" + std::to_string(l) + ", ";
  }
  std::string prev = "x";
  for (int l = 1; l <= layers; ++l) {
    std::string a = "a" + std::to_string(l), W = "W" + std::to_string(l);
    std::string lin = rows ? prev + " @ " + W + " + b" + std::to_string(l) : W + " @ " + prev;
    s << a << " = " << acts[rng() % 4] << "(" << lin << ")\n";
    prev = a;
  }
  s << "loss = 0.5 * sum((" << prev << " - t) ^ 2)\n";
  s << "minimize loss wrt " << wrt << "x\n";
  return s.str();
}

}  // namespace

TEST_CASE("explain, graph: golden outputs for chain and mlp", "[explain]") {
  for (const std::string name : {"chain", "mlp"}) {
    Graph g = opt_of_example(name);
    explain::Explanation e = explanation_of(g);
    check_golden(name + ".explain.txt", explain::render_explanation(e, explain::Notation::unicode));
    check_golden(name + ".explain.ascii.txt",
                 explain::render_explanation(e, explain::Notation::ascii));
    check_golden(name + ".explain.tex", explain::render_explanation(e, explain::Notation::latex));
    check_golden(name + ".graph.dot", explain::graph_dot(g));
  }
}

TEST_CASE("explain: a reduction along one axis says which", "[explain]") {
  explain::Explanation e = explanation_of(opt_of_source(
      "input x : f64[3, 4]\nparam W : f64[4, 4]\n"
      "loss = sum(softmax(x @ W) * logsumexp(x @ W, axis=0, keepdims=true))\nminimize loss\n"));
  std::string text = explain::render_explanation(e, explain::Notation::unicode);
  INFO(text);
  CHECK(text.find("logsumexp(x · W, axis=0, keepdims)") != std::string::npos);
  CHECK(text.find(", axis=1, keepdims)") != std::string::npos);  // softmax's adjoint sums rows
  CHECK(text.find("softmax(x · W)") != std::string::npos);       // the last axis goes unsaid
}

TEST_CASE("explain: the chain shows transposes in reverse order", "[explain]") {
  explain::Explanation e = explanation_of(opt_of_example("chain"));
  std::string text = explain::render_explanation(e, explain::Notation::unicode);
  CHECK(text.find("∇x loss = W1ᵀ · δ_1") != std::string::npos);
  CHECK(text.find("δ_1 = (W2ᵀ · δ_2) ⊙ tanh′(W1 · x)") != std::string::npos);
  CHECK(text.find("∇W2 loss = δ_2 · a1ᵀ") != std::string::npos);
  std::string error;
  CHECK_FALSE(explain::build_explanation(opt_of_example("chain"), "nope", error));
  CHECK(error.find("nope") != std::string::npos);
}

TEST_CASE("explain, graph, cost: every example", "[explain]") {
  int seen = 0;
  for (const auto& entry : fs::directory_iterator(fs::path(ADJOINT_SOURCE_DIR) / "examples")) {
    if (entry.path().extension() != ".adj") continue;
    INFO(entry.path().string());
    Graph g = opt_of_source(slurp(entry.path()));
    ++seen;
    CHECK(explain::graph_dot(g).find("digraph") == 0);
    std::string cost = explain::cost_report(g, {}, nullptr);
    CHECK(cost.find("total") != std::string::npos);
    CHECK(cost.find("materialised transposes: ") != std::string::npos);
    if (g.grads.empty()) continue;
    explain::Explanation e = explanation_of(g);
    for (auto n : {explain::Notation::unicode, explain::Notation::ascii, explain::Notation::latex})
      CHECK_FALSE(explain::render_explanation(e, n).empty());
    std::string ascii = explain::render_explanation(e, explain::Notation::ascii);
    bool all_ascii = true;
    for (char c : ascii) all_ascii = all_ascii && static_cast<unsigned char>(c) < 128;
    CHECK(all_ascii);
  }
  CHECK(seen >= 2);
}

TEST_CASE("explain: the printed tree evaluates to the gradient", "[explain]") {
  check_tree_matches_graph(opt_of_example("chain"), 1);
  check_tree_matches_graph(opt_of_example("mlp"), 2);
  for (uint32_t seed = 10; seed < 14; ++seed) {
    std::string src = random_network(seed);
    INFO(src);
    check_tree_matches_graph(opt_of_source(src), seed);
  }
}

TEST_CASE("cost: chain has no materialised transpose and matrix-vector FLOPs", "[explain]") {
  std::string c = explain::cost_report(opt_of_example("chain"), {}, nullptr);
  CHECK(c.find("materialised transposes: 0 (goal met") != std::string::npos);
  // W1 @ x: 2*32*16 = 1024 FLOPs forward on line 12 (plus 32 for tanh).
  CHECK(c.find("1056") != std::string::npos);
}

TEST_CASE("cost: a gather copies its rows and its adjoint adds them", "[explain]") {
  Graph g = opt_of_source(
      "input i : i32[N]\nparam T : f32[100, 4]\ne = gather(T, i)\nloss = sum(e)\n"
      "minimize loss\n");
  std::string c = explain::cost_report(g, {{"N", 3}}, nullptr);
  INFO(c);
  // Line 3: no forward FLOPs, 3 rows of 4 read and written plus 3 indices
  // (108 B); backward, 12 adds into the 100-row table (not 400).
  std::istringstream lines(c);
  std::string line;
  bool seen = false;
  while (std::getline(lines, line))
    if (line.rfind("3 ", 0) == 0) {
      std::istringstream cols(line);
      std::string n, fwd_flop, fwd_b, bwd_flop;
      cols >> n >> fwd_flop >> fwd_b >> bwd_flop;
      CHECK(fwd_flop == "0");
      CHECK(fwd_b == "108");
      CHECK(bwd_flop == "12");
      seen = true;
    }
  CHECK(seen);
}

TEST_CASE("explain: a gradient too deep to print is an error, not a crash", "[explain]") {
  auto chain = [](int n) {
    std::string text = "input x : f32[4]\nparam W : f32[4]\nv0 = x * W\n";
    for (int i = 1; i < n; ++i)
      text += "v" + std::to_string(i) + " = v" + std::to_string(i - 1) + " * W\n";
    return text + "loss = sum(v" + std::to_string(n - 1) + ")\nminimize loss\n";
  };
  std::string error;
  CHECK(explain::build_explanation(opt_of_source(chain(600)), "", error));
  // 6000 levels overflowed the stack before the depth limit.
  CHECK_THROWS_WITH(explain::build_explanation(opt_of_source(chain(6000)), "", error),
                    Catch::Contains("too deep to explain"));
}

TEST_CASE("explain: LaTeX writes W_1 and W1 alike, as W_{1}", "[explain]") {
  explain::Explanation e = explanation_of(
      opt_of_source("input x : f32[3]\nparam W_1 : f32[3]\nloss = sum(x * W_1)\nminimize loss\n"));
  std::string tex = explain::render_explanation(e, explain::Notation::latex);
  CHECK(tex.find("W_{1}") != std::string::npos);
  CHECK(tex.find("W\\_") == std::string::npos);
}
