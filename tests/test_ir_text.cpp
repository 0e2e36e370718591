// The IR's text form: a golden print, the round trip print(parse(print(g)))
// == print(g) on hand-built graphs and on every example's gradient graph,
// parse errors with their locations, and garbage that must never crash.
#include <algorithm>
#include <catch2/catch.hpp>
#include <filesystem>
#include <fstream>
#include <limits>
#include <random>
#include <sstream>

#include "autodiff/reverse_mode.hpp"
#include "frontend/frontend.hpp"
#include "ir/builder.hpp"
#include "ir/ir_parser.hpp"
#include "ir/printer.hpp"
#include "ir/verifier.hpp"
#include "ops/op_table.hpp"
#include "passes/pipeline.hpp"

using namespace adjoint;

namespace {

ValueId leaf(Builder& b, OpKind kind, const std::string& name, DType dt, const Shape& shape) {
  Attrs a{{"name", name}, {"dtype", std::string(dtype_name(dt))}};
  if (!shape.empty()) a.set("shape", shape);
  ValueId v = b.make(kind, {}, a);
  b.graph().node(v).name = name;
  return v;
}

const Dim B = Dim::symbol("B");

// tanh(x @ W + b), a scalar loss, and a hand-written backward pass.
Graph small_model() {
  Graph g;
  g.model = "small";
  Builder b(g, SourceLoc{0, 3, 1});
  ValueId x = leaf(b, OpKind::input, "x", DType::f32, {B, 4});
  b.set_loc({0, 4, 1});
  ValueId W = leaf(b, OpKind::param, "W", DType::f32, {4, 3});
  b.set_loc({0, 5, 1});
  ValueId bias = leaf(b, OpKind::param, "b", DType::f32, {3});
  b.set_loc({0, 7, 10});
  ValueId xw = b.make(OpKind::matmul, {x, W});
  ValueId z = b.add(xw, bias);
  g.node(z).name = "z";
  ValueId h = b.unary(OpKind::tanh, z);
  g.node(h).name = "h";
  b.set_loc({0, 8, 8});
  ValueId sum = b.make(OpKind::sum, {h});
  ValueId loss = b.scale(sum, 0.5);
  g.node(loss).name = "loss";
  Builder ab(g, SourceLoc{0, 7, 10}, /*adjoint=*/true);
  // One node per statement: argument evaluation order is unspecified in C++.
  ValueId dh = ab.fill(0.5, {B, 3});
  ValueId one = ab.constant(1);
  ValueId hh = ab.mul(h, h);
  ValueId dz = ab.mul(dh, ab.sub(one, hh));
  ValueId dW = ab.make(OpKind::matmul, {x, dz}, Attrs{{"ta", true}});
  ValueId db = ab.sum_to(dz, {3});
  g.loss = loss;
  g.wrt = {"W", "b"};
  g.outputs = {{"h", h}};
  g.grads = {{"W", dW}, {"b", db}};
  return g;
}

const char* const kSmallModelText = R"(model small f32
%0 x = input {dtype="f32", name="x", shape=[B,4]} : f32[B,4]  @3:1
%1 W = param {dtype="f32", name="W", shape=[4,3]} : f32[4,3]  @4:1
%2 b = param {dtype="f32", name="b", shape=[3]} : f32[3]  @5:1
%3 = matmul(%0, %1) : f32[B,3]  @7:10
%4 z = add(%3, %2) : f32[B,3]  @7:10
%5 h = tanh(%4) : f32[B,3]  @7:10
%6 = sum(%5) : f32  @8:8
%7 = constant {value=0.5} : f32  @8:8
%8 loss = mul(%6, %7) : f32  @8:8
%9 = constant {shape=[B,3], value=0.5} : f32[B,3]  adjoint @7:10
%10 = constant {value=1.0} : f32  adjoint @7:10
%11 = mul(%5, %5) : f32[B,3]  adjoint @7:10
%12 = sub(%10, %11) : f32[B,3]  adjoint @7:10
%13 = mul(%9, %12) : f32[B,3]  adjoint @7:10
%14 = matmul(%0, %13) {ta=true} : f32[4,3]  adjoint @7:10
%15 = sum_to(%13) {shape=[3]} : f32[3]  adjoint @7:10
loss %8
wrt W, b
output h = %5
grad W = %14
grad b = %15
)";

std::string round_trip(const std::string& text) { return print_graph(parse_graph(text, "rt.ir")); }

// A graph touching every kind of attribute value, an f64 model, quoted
// names, symbolic products and non-finite constants.
Graph varied_model() {
  Graph g;
  g.model = "my model";
  g.float_type = DType::f64;
  Builder b(g);
  ValueId x = leaf(b, OpKind::input, "x", DType::f64, {B, 6});
  ValueId y = leaf(b, OpKind::input, "labels", DType::i32, {B});
  ValueId W = leaf(b, OpKind::param, "W.1", DType::f64, {6, 6});
  ValueId s = leaf(b, OpKind::param, "scale", DType::f64, {});
  b.set_loc({0, 12, 3});
  ValueId xw = b.make(OpKind::matmul, {x, W}, Attrs{{"tb", true}});
  ValueId r = b.make(OpKind::reshape, {xw}, Attrs{{"shape", Shape{-1}}});
  g.node(r).name = "flat \"x\"";
  ValueId r2 = b.make(OpKind::reshape, {r}, Attrs{{"shape", Shape{B * 3, 2}}});
  ValueId p = b.make(OpKind::pow, {r2}, Attrs{{"c", 2.5}});
  ValueId lr = b.make(OpKind::leaky_relu, {p}, Attrs{{"alpha", 1e-300}});
  ValueId sm = b.make(OpKind::sum, {lr}, Attrs{{"axis", int64_t{-1}}, {"keepdims", true}});
  ValueId t = b.make(OpKind::transpose, {sm});
  ValueId sl = b.make(OpKind::slice, {xw},
                      Attrs{{"axis", int64_t{1}}, {"begin", Shape{2}}, {"size", Shape{3}}});
  ValueId pd = b.make(OpKind::pad, {sl},
                      Attrs{{"axis", int64_t{1}}, {"before", Shape{1}}, {"after", Shape{2}}});
  ValueId cc = b.make(OpKind::concat, {pd, x}, Attrs{{"axis", int64_t{0}}});
  ValueId oh = b.make(OpKind::one_hot, {y}, Attrs{{"depth", int64_t{6}}});
  ValueId n = b.make(OpKind::numel, {x}, Attrs{{"axis", int64_t{0}}});
  ValueId bc = b.broadcast_to(s, {B, 6});
  ValueId inf = b.fill(-std::numeric_limits<double>::infinity(), {6});
  ValueId mz = b.fill(-0.0, {});
  ValueId e = b.mul(b.add(b.add(oh, bc), inf), b.mul(n, mz));
  b.set_adjoint(true);
  ValueId sm2 = b.make(OpKind::softmax, {e}, Attrs{{"axis", int64_t{0}}});
  ValueId loss =
      b.make(OpKind::sum, {b.add(sm2, b.broadcast_to(b.make(OpKind::sum, {t}), {B, 6}))});
  g.loss = loss;
  g.wrt = {"W.1", "scale"};
  g.outputs = {{"concat out", cc}, {"t", t}};
  g.grads = {{"W.1", W}, {"scale", s}};
  return g;
}

// Every example's forward graph, and its gradient graph where it has a loss.
std::vector<std::pair<std::string, Graph>> example_graphs() {
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
    if (!g) continue;
    out.emplace_back(f.filename().string(), *g);
    if (g->loss) out.emplace_back(f.filename().string() + " (grad)", reverse_mode(*g));
  }
  return out;
}

// Parses `text`, expecting an adjoint::Error whose first line is
// "bad.ir:LINE:COL: error: ..." containing `fragment`.
void expect_parse_error(const std::string& text, int line, int col, const std::string& fragment) {
  INFO("text:\n" << text);
  try {
    parse_graph(text, "bad.ir");
    FAIL("parsed without an error");
  } catch (const Error& e) {
    std::string msg = e.what();
    INFO("message: " << msg);
    std::string head = "bad.ir:" + std::to_string(line) + ":" + std::to_string(col) + ": error: ";
    CHECK(msg.rfind(head, 0) == 0);
    CHECK(msg.find(fragment) != std::string::npos);
  }
}

const std::string kHeader =
    "model m f32\n%0 = input {dtype=\"f32\", name=\"x\", shape=[3]} : f32[3]\n";

}  // namespace

TEST_CASE("the printer shows every field of every node and the results", "[ir]") {
  CHECK(print_graph(small_model()) == kSmallModelText);
}

TEST_CASE("printed IR parses back to the same graph", "[ir]") {
  Graph g = small_model();
  Graph back = parse_graph(kSmallModelText, "small.ir");
  CHECK(verify(back).empty());
  CHECK(print_graph(back) == kSmallModelText);
  REQUIRE(back.nodes.size() == g.nodes.size());
  for (ValueId v = 0; v < g.size(); ++v) {
    const Node& a = g.node(v);
    const Node& b = back.node(v);
    CHECK(a.op == b.op);
    CHECK(a.args == b.args);
    CHECK(a.attrs == b.attrs);
    CHECK(a.type == b.type);
    CHECK(a.name == b.name);
    CHECK(a.adjoint == b.adjoint);
    CHECK(a.loc == b.loc);
  }
  CHECK(back.loss == g.loss);
  CHECK(back.wrt == g.wrt);
  CHECK(back.outputs == g.outputs);
  CHECK(back.grads == g.grads);
}

TEST_CASE("round trip of a graph using every kind of attribute", "[ir]") {
  Graph g = varied_model();
  REQUIRE(verify(g).empty());
  std::string text = print_graph(g);
  INFO(text);
  CHECK(text.find("model \"my model\" f64\n") == 0);
  CHECK(text.find("\"flat \\\"x\\\"\" = reshape") != std::string::npos);
  CHECK(text.find("shape=[3*B,2]") != std::string::npos);
  CHECK(text.find("value=-inf") != std::string::npos);
  CHECK(text.find("value=-0.0") != std::string::npos);
  CHECK(text.find("output \"concat out\" = ") != std::string::npos);
  CHECK(round_trip(text) == text);
  Graph back = parse_graph(text, "varied.ir");
  for (ValueId v = 0; v < g.size(); ++v) CHECK(g.node(v).attrs == back.node(v).attrs);
}

TEST_CASE("round trip of every example's forward and gradient graph", "[ir]") {
  for (const auto& [name, g] : example_graphs()) {
    INFO(name);
    CHECK(verify(g).empty());
    std::string text = print_graph(g);
    CHECK(round_trip(text) == text);
  }
}

TEST_CASE("value numbers may be sparse; comments and blank lines are skipped", "[ir]") {
  std::string text =
      "# hand-written\n"
      "model m f32\n\n"
      "%10 = input {dtype=\"f32\", name=\"x\", shape=[3]} : f32[3]   # the input\n"
      "%4 = exp(%10) : f32[3]\n"
      "%7 = sum(%4) : f32 @2:5\n"
      "loss %7\n";
  Graph g = parse_graph(text, "h.ir");
  REQUIRE(g.nodes.size() == 3);
  CHECK(g.node(1).args == std::vector<ValueId>{0});
  CHECK(g.node(2).loc == SourceLoc{0, 2, 5});
  CHECK(g.loss == ValueId{2});
}

TEST_CASE("parse errors point at the offending token", "[ir]") {
  expect_parse_error("", 1, 1, "'model NAME f32|f64'");
  expect_parse_error("model m i32\n", 1, 9, "must be f32 or f64");
  expect_parse_error(kHeader + "%1 = frobnicate(%0) : f32[3]\n", 3, 6, "unknown op 'frobnicate'");
  expect_parse_error(kHeader + "%1 = exp(%5) : f32[3]\n", 3, 10, "'%5' is not defined");
  expect_parse_error(kHeader + "%1 = exp(%2) : f32[3]\n%2 = exp(%0) : f32[3]\n", 3, 10,
                     "used before its definition on line 4");
  expect_parse_error(kHeader + "%1 = exp(%1) : f32[3]\n", 3, 10, "used before its definition");
  expect_parse_error(kHeader + "%1 = exp(%0) : f32[4]\n", 3, 16,
                     "type annotation f32[4] does not match f32[3]");
  expect_parse_error(kHeader + "%1 = exp(%0) : f64[3]\n", 3, 16, "does not match");
  expect_parse_error(kHeader + "%1 = mean(%0) : f32\n", 3, 6, "composite op");
  expect_parse_error(kHeader + "%1 = add(%0) : f32[3]\n", 3, 6, "takes 2 operand(s), got 1");
  expect_parse_error(kHeader + "%0 = exp(%0) : f32[3]\n", 3, 1, "defined twice");
  expect_parse_error(kHeader + "%1 = input {dtype=\"f32\", name=\"x\"} : f32\n", 3, 6,
                     "second input/param named 'x'");
  expect_parse_error(kHeader + "%1 = input {name=\"y\"} : f32\n", 3, 6, "needs attributes");
  expect_parse_error(kHeader + "%1 = pow(%0) : f32[3]\n", 3, 6, "needs attribute 'c'");
  expect_parse_error(kHeader + "%1 = pow(%0) {c=\"two\"} : f32[3]\n", 3, 6, "wrong kind of value");
  expect_parse_error(kHeader + "%1 = sum(%0) {axis=3} : f32\n", 3, 6, "'sum' rejects (f32[3])");
  expect_parse_error(kHeader + "%1 = exp(%0) {a=1, a=2} : f32[3]\n", 3, 20, "given twice");
  expect_parse_error(kHeader + "%1 = exp(%0) : f32[3] @0:1\n", 3, 24, "line number");
  expect_parse_error(kHeader + "%1 = exp(%0) : f32[3] sideways\n", 3, 23, "unexpected 'sideways'");
  expect_parse_error(kHeader + "%1 = exp(%0 : f32[3]\n", 3, 13, "expected ')'");
  expect_parse_error(kHeader + "loss %0\n", 3, 6, "float scalar");
  expect_parse_error(kHeader + "wrt y\n", 3, 5, "'y' is not an input or param");
  expect_parse_error(kHeader + "grad x = %0\n", 3, 6, "not in the wrt list");
  expect_parse_error(kHeader + "wrt x\n%1 = sum(%0) : f32\ngrad x = %1\n", 5, 10,
                     "gradient of 'x' must be f32[3], not f32");
  expect_parse_error(kHeader + "%1 = exp(%0) : f32[3]\nmodel again f32\n", 4, 1, "second 'model'");
  expect_parse_error(kHeader + "%1 = constant {value=\"x\"} : f32\n", 3, 6, "numeric attribute");
  expect_parse_error(kHeader + "%1 = exp(%0) {s=\"abc} : f32[3]\n", 3, 17, "unterminated string");
  expect_parse_error(kHeader + "%1 = exp(%0) : f32[3] $\n", 3, 23, "unexpected character '$'");
  expect_parse_error(kHeader + "%99999999999999999999 = exp(%0) : f32[3]\n", 3, 1, "out of range");
  expect_parse_error(kHeader + "bogus\n", 3, 1, "expected a node");
}

TEST_CASE("the parse error shows the source line and a caret", "[ir]") {
  try {
    parse_graph(kHeader + "%1 = exp(%7) : f32[3]\n", "bad.ir");
    FAIL("no error");
  } catch (const Error& e) {
    CHECK(std::string(e.what()) ==
          "bad.ir:3:10: error: '%7' is not defined\n"
          "  %1 = exp(%7) : f32[3]\n"
          "           ^\n");
  }
}

TEST_CASE("garbage never crashes the parser", "[ir]") {
  const std::vector<std::string> garbage = {
      std::string("\0\0\0", 3),
      "\xff\xfe\x01",
      "model",
      "model m",
      "model m f32 extra",
      "model m f32\n%",
      "model m f32\n%0",
      "model m f32\n%0 =",
      "model m f32\n%0 = input",
      "model m f32\n%0 = input {",
      "model m f32\n%0 = input {dtype=",
      "model m f32\n%0 = input : f32[",
      "model m f32\n%0 = constant {value=1e} : f32",
      "model m f32\n%0 = constant {value=--1} : f32",
      "model m f32\n%0 = constant {value=1.0} : f32[[3]]",
      "model m f32\n%0 = constant {value=1.0} : f32[-B]",
      "model m f32\n%0 = constant {value=1.0, shape=(1,2)} : f32",
      "model m f32\n%0 = constant {value=1.0, shape=[99999999999,99999999999]} : "
      "f32[99999999999,99999999999]",
      "model m f32\n%0 = constant {value=nan} : f32\nloss %0\nloss %0",
      "model m f32\nloss %0",
      "model m f32\noutput = %0",
      "model m f32\ngrad",
      std::string(10000, '['),
      std::string(10000, '%'),
      "\"\\",
      "model \"\\q\" f32",
  };
  for (const std::string& text : garbage) {
    INFO(text.substr(0, 80));
    try {
      Graph g = parse_graph(text, "garbage.ir");
      CHECK(verify(g).empty());
    } catch (const Error&) {
    }
  }
}

TEST_CASE("randomly mutated IR either parses to a valid graph or is rejected", "[ir]") {
  const std::string bases[] = {kSmallModelText, print_graph(varied_model())};
  const std::string alphabet = "%@:=(){}[],*-\"#\n 0123456789.eBxWabtruefinsmodelgradwrt";
  std::mt19937 rng(12345);
  int parsed = 0;
  for (int iter = 0; iter < 4000; ++iter) {
    std::string text = bases[iter % 2];
    int edits = 1 + static_cast<int>(rng() % 3);
    for (int e = 0; e < edits && !text.empty(); ++e) {
      size_t at = rng() % text.size();
      switch (rng() % 3) {
        case 0:
          text.erase(at, 1 + rng() % 4);
          break;
        case 1:
          text.insert(at, 1, alphabet[rng() % alphabet.size()]);
          break;
        default:
          text[at] = alphabet[rng() % alphabet.size()];
          break;
      }
    }
    INFO(text);
    try {
      Graph g = parse_graph(text, "fuzz.ir");
      ++parsed;
      CHECK(verify(g).empty());
      std::string printed = print_graph(g);
      CHECK(round_trip(printed) == printed);
      Graph opt;
      CHECK_NOTHROW(opt = optimize(g));  // passes cope with whatever parses
      CHECK(verify(opt).empty());
    } catch (const Error&) {
    }
  }
  CHECK(parsed > 0);  // some edits (in a name, a location) keep the text valid
}
