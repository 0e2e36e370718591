// The simplification passes: what each one removes or rewrites, that names,
// locations, adjoint flags and leaves survive, and that values do not change
// (checked with the reference evaluator, on hand-built graphs and on every
// example's gradient graph).
#include <algorithm>
#include <catch2/catch.hpp>
#include <filesystem>
#include <fstream>
#include <random>
#include <sstream>

#include "autodiff/reverse_mode.hpp"
#include "eval/evaluator.hpp"
#include "frontend/frontend.hpp"
#include "ir/builder.hpp"
#include "ir/printer.hpp"
#include "ir/verifier.hpp"
#include "ops/op_table.hpp"
#include "passes/cse.hpp"
#include "passes/dce.hpp"
#include "passes/pipeline.hpp"
#include "passes/simplify.hpp"

using namespace adjoint;

namespace {

const Dim B = Dim::symbol("B");

ValueId leaf(Builder& b, OpKind kind, const std::string& name, const Shape& shape,
             DType dt = DType::f32) {
  Attrs a{{"name", name}, {"dtype", std::string(dtype_name(dt))}, {"shape", shape}};
  ValueId v = b.make(kind, {}, a);
  b.graph().node(v).name = name;
  return v;
}

int count_op(const Graph& g, OpKind k) {
  int n = 0;
  for (const Node& node : g.nodes) n += node.op == k;
  return n;
}

// The node computing output `name`.
const Node& output_node(const Graph& g, const std::string& name) {
  for (const NamedValue& o : g.outputs)
    if (o.name == name) return g.node(o.value);
  throw std::logic_error("no output " + name);
}

// Deterministic values for every leaf; every size symbol is 3, labels and
// indices are 0 or 1 (valid for any class count or table size >= 2).
TensorMap random_leaves(const Graph& g, unsigned seed) {
  std::mt19937 rng(seed);
  std::uniform_real_distribution<double> uni(-1.0, 1.0);
  DimEnv env;
  for (ValueId v = 0; v < g.size(); ++v)
    for (const Dim& d : g.type(v).shape)
      for (const std::string& s : d.symbols()) env[s] = 3;
  TensorMap leaves;
  for (ValueId v = 0; v < g.size(); ++v) {
    const Node& n = g.node(v);
    if (!is_leaf(n.op)) continue;
    DTensor t(eval_shape(n.type.shape, env));
    for (double& x : t.data) x = is_float(n.type.dtype) ? uni(rng) : static_cast<double>(rng() % 2);
    leaves[n.attrs.get_str("name")] = t;
  }
  return leaves;
}

// The graphs' results agree on random leaves.
void check_same_results(const Graph& a, const Graph& b) {
  for (unsigned seed : {1u, 2u}) {
    TensorMap leaves = random_leaves(a, seed);
    TensorMap ra = evaluate_results(a, leaves);
    TensorMap rb = evaluate_results(b, leaves);
    REQUIRE(ra.size() == rb.size());
    for (const auto& [name, ta] : ra) {
      INFO(name);
      const DTensor& tb = rb.at(name);
      REQUIRE(ta.shape == tb.shape);
      for (size_t i = 0; i < ta.size(); ++i)
        CHECK(tb[i] == Approx(ta[i]).epsilon(1e-12).margin(1e-12));
    }
  }
}

Graph run_simplify(const Graph& g) {
  REQUIRE(verify(g).empty());
  Graph out = simplify(g);
  INFO(print_graph(out));
  CHECK(verify(out).empty());
  return out;
}

// Every example's gradient graph (or forward graph, without a loss).
std::vector<std::pair<std::string, Graph>> example_gradient_graphs() {
  std::vector<std::pair<std::string, Graph>> out;
  std::filesystem::path dir = std::filesystem::path(ADJOINT_SOURCE_DIR) / "examples";
  std::vector<std::filesystem::path> files;
  for (const auto& e : std::filesystem::directory_iterator(dir))
    if (e.path().extension() == ".adj") files.push_back(e.path());
  std::sort(files.begin(), files.end());
  for (const auto& f : files) {
    std::ifstream in(f);
    std::stringstream ss;
    ss << in.rdbuf();
    SourceManager sm;
    uint32_t id = sm.add(f.filename().string(), ss.str());
    Diagnostics diags(sm);
    std::optional<Graph> g = compile_source(sm, id, diags);
    INFO(f.string() << "\n" << diags.text());
    CHECK(g);
    if (g) out.emplace_back(f.filename().string(), g->loss ? reverse_mode(*g) : *g);
  }
  return out;
}

}  // namespace

TEST_CASE("dce drops what no result needs and keeps every leaf", "[passes]") {
  Graph g;
  g.model = "m";
  Builder b(g, SourceLoc{0, 2, 3});
  ValueId x = leaf(b, OpKind::input, "x", {3});
  leaf(b, OpKind::param, "unused", {2});
  b.unary(OpKind::exp, x);  // dead
  ValueId t = b.unary(OpKind::tanh, x);
  g.node(t).name = "t";
  b.constant(7);  // dead
  ValueId s = b.make(OpKind::sum, {t});
  g.loss = s;
  g.outputs = {{"t", t}};

  Graph out = dce(g);
  CHECK(verify(out).empty());
  CHECK(out.nodes.size() == 4);
  CHECK(out.params().size() == 1);
  CHECK(count_op(out, OpKind::exp) == 0);
  CHECK(count_op(out, OpKind::constant) == 0);
  CHECK(out.node(*out.loss).op == OpKind::sum);
  CHECK(output_node(out, "t").name == "t");
  CHECK(output_node(out, "t").loc == SourceLoc{0, 2, 3});
}

TEST_CASE("cse merges identical nodes, constants included, but never leaves", "[passes]") {
  Graph g;
  g.model = "m";
  Builder b(g);
  ValueId x = leaf(b, OpKind::input, "x", {3});
  ValueId c1 = b.constant(2);
  ValueId c2 = b.constant(2);
  ValueId c3 = b.constant(3);
  ValueId m1 = b.mul(x, c1);
  b.set_adjoint(true);
  ValueId m2 = b.mul(x, c2);  // same as m1 once c2 is c1
  g.node(m2).name = "twice";
  ValueId m3 = b.mul(x, c3);
  ValueId s = b.make(OpKind::sum, {b.add(b.add(m1, m2), m3)});
  g.loss = s;

  Graph out = cse(g);
  CHECK(verify(out).empty());
  CHECK(count_op(out, OpKind::constant) == 2);
  CHECK(count_op(out, OpKind::mul) == 2);
  const Node& add = out.node(out.node(*out.loss).args[0]);
  const Node& inner = out.node(add.args[0]);
  REQUIRE(inner.args[0] == inner.args[1]);  // add(m1, m1)
  const Node& merged = out.node(inner.args[0]);
  CHECK(merged.name == "twice");  // the first had no name; it takes the later one's
  CHECK_FALSE(merged.adjoint);    // a forward value stays forward
}

TEST_CASE("simplify applies the algebraic identities", "[passes]") {
  Graph g;
  g.model = "m";
  Builder b(g);
  ValueId x = leaf(b, OpKind::input, "x", {B, 3});
  ValueId a = leaf(b, OpKind::param, "A", {3, 4});
  ValueId c = leaf(b, OpKind::param, "C", {3, 3});
  auto out_is = [&](const Graph& out, const std::string& name, ValueId expected) {
    for (const NamedValue& o : out.outputs)
      if (o.name == name) return o.value == expected;
    return false;
  };

  SECTION("x*1, 1*x, x+0, 0+x, x-0, x/1 are x") {
    g.outputs = {{"m1", b.mul(x, b.constant(1))}, {"m2", b.mul(b.constant(1), x)},
                 {"a1", b.add(x, b.constant(0))}, {"a2", b.add(b.constant(0), x)},
                 {"s", b.sub(x, b.constant(0))},  {"d", b.div(x, b.constant(1))}};
    Graph out = run_simplify(g);
    for (const char* n : {"m1", "m2", "a1", "a2", "s", "d"}) CHECK(out_is(out, n, 0));
    CHECK(out.nodes.size() == 3);  // the leaves
  }
  SECTION("an identity that widens x becomes broadcast_to") {
    g.outputs = {{"w", b.mul(x, b.fill(1, {2, B, 3}))}};
    Graph out = run_simplify(g);
    const Node& w = output_node(out, "w");
    CHECK(w.op == OpKind::broadcast_to);
    CHECK(w.args == std::vector<ValueId>{0});
    CHECK(w.type.shape == Shape{2, B, 3});
  }
  SECTION("x*0 and 0*x are a zero constant of the result's shape") {
    g.outputs = {{"z1", b.mul(x, b.constant(0))}, {"z2", b.mul(b.fill(0, {2, 1, 3}), x)}};
    Graph out = run_simplify(g);
    const Node& z1 = output_node(out, "z1");
    CHECK(z1.op == OpKind::constant);
    CHECK(z1.attrs.get_f64("value") == 0);
    CHECK(z1.type.shape == Shape{B, 3});
    CHECK(output_node(out, "z2").type.shape == Shape{2, B, 3});
  }
  SECTION("neg(neg(x)), transpose(transpose(x)) and pow(x, 1) are x; 0-x is neg(x)") {
    ValueId t = b.make(OpKind::transpose, {b.make(OpKind::transpose, {x})});
    ValueId p = b.make(OpKind::pow, {x}, Attrs{{"c", 1.0}});
    b.set_loc({0, 9, 4});
    b.set_adjoint(true);
    ValueId n = b.sub(b.constant(0), x);
    g.node(n).name = "minus";
    g.outputs = {{"nn", b.neg(b.neg(x))}, {"tt", t}, {"p", p}, {"n", n}};
    Graph out = run_simplify(g);
    CHECK(out_is(out, "nn", 0));
    CHECK(out_is(out, "tt", 0));
    CHECK(out_is(out, "p", 0));
    const Node& neg = output_node(out, "n");
    CHECK(neg.op == OpKind::neg);
    CHECK(neg.args == std::vector<ValueId>{0});
    CHECK(neg.name == "minus");  // the replacement keeps name, location and flag
    CHECK(neg.loc == SourceLoc{0, 9, 4});
    CHECK(neg.adjoint);
  }
  SECTION("reshape chains collapse; shape ops to x's own shape are x") {
    ValueId r = b.reshape(b.reshape(x, {3, B}), {B * 3});
    ValueId same = b.make(OpKind::reshape, {x}, Attrs{{"shape", Shape{B, 3}}});
    ValueId bc = b.make(OpKind::broadcast_to, {x}, Attrs{{"shape", Shape{B, 3}}});
    ValueId st = b.make(OpKind::sum_to, {x}, Attrs{{"shape", Shape{B, 3}}});
    g.outputs = {{"r", r}, {"same", same}, {"bc", bc}, {"st", st}};
    Graph out = run_simplify(g);
    const Node& rn = output_node(out, "r");
    CHECK(rn.op == OpKind::reshape);
    CHECK(rn.args == std::vector<ValueId>{0});
    CHECK(count_op(out, OpKind::reshape) == 1);
    for (const char* n : {"same", "bc", "st"}) CHECK(out_is(out, n, 0));
  }
  SECTION("explicit false matmul flags are dropped, so cse merges equal products") {
    ValueId m1 = b.make(OpKind::matmul, {x, a}, Attrs{{"ta", false}, {"tb", false}});
    ValueId m2 = b.make(OpKind::matmul, {x, a});
    g.outputs = {{"m1", m1}, {"m2", m2}};
    Graph out = run_simplify(g);
    CHECK(count_op(out, OpKind::matmul) == 1);
    CHECK(output_node(out, "m1").attrs == Attrs{});
  }
  SECTION("a removed node's name moves to an unnamed value it became") {
    ValueId e = b.unary(OpKind::exp, x);
    ValueId named = b.mul(e, b.constant(1));
    g.node(named).name = "y";
    g.outputs = {{"y", named}};
    Graph out = run_simplify(g);
    CHECK(output_node(out, "y").op == OpKind::exp);
    CHECK(output_node(out, "y").name == "y");
  }
  SECTION("a graph with nothing to simplify is unchanged") {
    g.outputs = {{"e", b.unary(OpKind::exp, x)}};
    bool changed = true;
    Graph out = simplify_once(g, changed);
    CHECK_FALSE(changed);
    CHECK(print_graph(out) == print_graph(g));
  }
  SECTION("transposes feeding a matmul become its flags") {
    ValueId d = leaf(b, OpKind::param, "D", {4, 3});
    ValueId at = b.make(OpKind::transpose, {a});                               // A^T [4,3]
    ValueId dt = b.make(OpKind::transpose, {d});                               // D^T [3,4]
    ValueId m1 = b.make(OpKind::matmul, {at, c});                              // A^T C     [4,3]
    ValueId m2 = b.make(OpKind::matmul, {x, dt});                              // x D^T     [B,4]
    ValueId m3 = b.make(OpKind::matmul, {at, dt});                             // A^T D^T   [4,4]
    ValueId m4 = b.make(OpKind::matmul, {at, d}, Attrs{{"ta", true}});         // (A^T)^T D [3,3]
    ValueId tm = b.make(OpKind::transpose, {b.make(OpKind::matmul, {a, d})});  // (A D)^T = D^T A^T
    ValueId shared = b.make(OpKind::matmul, {a, d});                           // used twice:
    ValueId ts = b.make(OpKind::transpose, {shared});                          // kept as is
    g.outputs = {{"m1", m1}, {"m2", m2},         {"m3", m3}, {"m4", m4},
                 {"tm", tm}, {"shared", shared}, {"ts", ts}};
    Graph out = run_simplify(g);
    CHECK(count_op(out, OpKind::transpose) == 1);
    CHECK(output_node(out, "ts").op == OpKind::transpose);
    CHECK(output_node(out, "tm").attrs == Attrs{{"ta", true}, {"tb", true}});
    CHECK(output_node(out, "tm").args == std::vector<ValueId>{3, 1});
    CHECK(output_node(out, "m1").attrs == Attrs{{"ta", true}});
    CHECK(output_node(out, "m1").args == std::vector<ValueId>{1, 2});
    CHECK(output_node(out, "m2").attrs == Attrs{{"tb", true}});
    CHECK(output_node(out, "m2").args == std::vector<ValueId>{0, 3});
    CHECK(output_node(out, "m3").attrs == Attrs{{"ta", true}, {"tb", true}});
    CHECK(output_node(out, "m4").attrs == Attrs{});  // the flag flips back off
    check_same_results(g, out);
  }
}

TEST_CASE("simplify folds constants with static shapes", "[passes]") {
  Graph g;
  g.model = "m";
  Builder b(g);
  ValueId x = leaf(b, OpKind::input, "x", {B});

  SECTION("a uniform result becomes one constant") {
    ValueId e = b.unary(OpKind::exp, b.fill(0, {2, 3}));
    ValueId s = b.make(OpKind::sum, {b.add(e, b.constant(2))});  // sum of 3.0 over 6 = 18
    g.outputs = {{"e", e}, {"s", s}};
    Graph out = run_simplify(g);
    const Node& en = output_node(out, "e");
    CHECK(en.op == OpKind::constant);
    CHECK(en.attrs.get_f64("value") == 1.0);
    CHECK(en.type.shape == Shape{2, 3});
    const Node& sn = output_node(out, "s");
    CHECK(sn.op == OpKind::constant);
    CHECK(sn.attrs.get_f64("value") == 18.0);
    CHECK(out.nodes.size() == 3);  // x and the two constants
  }
  SECTION("a result that is not uniform is kept") {
    ValueId p = b.make(OpKind::pad, {b.fill(1, {2})},
                       Attrs{{"axis", int64_t{0}}, {"before", Shape{1}}, {"after", Shape{1}}});
    g.outputs = {{"p", p}};
    Graph out = run_simplify(g);
    CHECK(output_node(out, "p").op == OpKind::pad);
  }
  SECTION("symbolic shapes are not folded, but numel of a static shape is") {
    ValueId sym = b.unary(OpKind::exp, b.fill(0, {B}));
    ValueId n1 = b.make(OpKind::numel, {b.fill(5, {4, 6})});
    ValueId n2 = b.make(OpKind::numel, {x});
    g.outputs = {{"sym", sym}, {"n1", n1}, {"n2", n2}};
    Graph out = run_simplify(g);
    CHECK(output_node(out, "sym").op == OpKind::exp);
    CHECK(output_node(out, "n1").op == OpKind::constant);
    CHECK(output_node(out, "n1").attrs.get_f64("value") == 24.0);
    CHECK(output_node(out, "n2").op == OpKind::numel);
  }
}

TEST_CASE("simplify reaches a fixed point on long chains", "[passes]") {
  Graph g;
  g.model = "m";
  Builder b(g);
  ValueId x = leaf(b, OpKind::input, "x", {3});
  ValueId v = x;
  for (int i = 0; i < 101; ++i) v = b.neg(v);
  for (int i = 0; i < 50; ++i) v = b.mul(b.add(v, b.constant(0)), b.constant(1));
  g.outputs = {{"v", v}};
  Graph out = run_simplify(g);
  CHECK(out.nodes.size() == 2);
  CHECK(output_node(out, "v").op == OpKind::neg);
  CHECK(print_graph(simplify(out)) == print_graph(out));
}

TEST_CASE("optimize folds x @ W.T's transposes through reverse mode", "[passes]") {
  Graph g;
  g.model = "m";
  Builder b(g, SourceLoc{0, 4, 8});
  ValueId x = leaf(b, OpKind::input, "x", {B, 5});
  ValueId W = leaf(b, OpKind::param, "W", {3, 5});  // [out, in]
  ValueId z = b.make(OpKind::matmul, {x, b.make(OpKind::transpose, {W})});
  g.node(z).name = "z";
  ValueId loss = b.make(OpKind::sum, {b.unary(OpKind::tanh, z)});
  g.loss = loss;
  g.wrt = {"W", "x"};
  Graph grad = reverse_mode(g);
  REQUIRE(verify(grad).empty());

  std::vector<std::string> stages;
  Graph out = optimize(
      grad, {.verify = true,
             .after_pass = [&](const std::string& p, const Graph&) { stages.push_back(p); }});
  INFO(print_graph(out));
  CHECK(stages == std::vector<std::string>{"simplify", "cse", "dce"});
  // z = x W^T ; dx = dz W ; dW = (x^T dz)^T = dz^T x: three products, no transpose.
  CHECK(count_op(out, OpKind::transpose) == 0);
  CHECK(count_op(out, OpKind::matmul) == 3);
  for (const NamedValue& gr : out.grads) CHECK(out.node(gr.value).op == OpKind::matmul);
  bool named_z = false;
  for (const Node& n : out.nodes) named_z |= n.name == "z" && n.attrs == Attrs{{"tb", true}};
  CHECK(named_z);
  check_same_results(grad, out);
  CHECK(print_graph(optimize(out)) == print_graph(out));  // idempotent
}

TEST_CASE("optimize keeps every example's values and leaves no transpose under a matmul",
          "[passes]") {
  for (const auto& [name, g] : example_gradient_graphs()) {
    INFO(name);
    Graph out;
    REQUIRE_NOTHROW(out = optimize(g));
    INFO(print_graph(out));
    CHECK(out.nodes.size() <= g.nodes.size());
    CHECK(out.inputs().size() == g.inputs().size());
    CHECK(out.params().size() == g.params().size());
    for (const Node& n : out.nodes)
      if (n.op == OpKind::matmul)
        for (ValueId a : n.args) CHECK(out.node(a).op != OpKind::transpose);
    check_same_results(g, out);
  }
}

TEST_CASE("optimize rejects a broken input graph when verifying", "[passes]") {
  Graph g;
  g.model = "m";
  Builder b(g);
  ValueId x = leaf(b, OpKind::input, "x", {3});
  g.loss = x;  // not a scalar
  CHECK_THROWS_AS(optimize(g), std::logic_error);
  CHECK_NOTHROW(optimize(g, {.verify = false}));
}
