// The verifier accepts well-formed graphs and names each broken invariant.
#include <catch2/catch.hpp>

#include "ir/builder.hpp"
#include "ir/verifier.hpp"
#include "ops/op_table.hpp"

using namespace adjoint;

namespace {

ValueId leaf(Builder& b, OpKind kind, const std::string& name, DType dt, const Shape& shape) {
  Attrs a{{"name", name}, {"dtype", std::string(dtype_name(dt))}, {"shape", shape}};
  return b.make(kind, {}, a);
}

// loss = sum(exp(x) * W), grad W = exp(x) (a stand-in of the right type).
struct Fixture {
  Graph g;
  ValueId x, y, W, e, m, loss;
  Fixture() {
    Builder b(g);
    x = leaf(b, OpKind::input, "x", DType::f32, {3});
    y = leaf(b, OpKind::input, "y", DType::i32, {3});
    W = leaf(b, OpKind::param, "W", DType::f32, {3});
    e = b.unary(OpKind::exp, x);
    m = b.mul(e, W);
    loss = b.make(OpKind::sum, {m});
    g.loss = loss;
    g.wrt = {"W"};
    g.outputs = {{"e", e}};
    g.grads = {{"W", e}};
  }
};

// The problems of `g`, as one string, for substring checks.
std::string problems(const Graph& g) {
  std::string out;
  for (const std::string& p : verify(g)) out += p + "\n";
  return out;
}

}  // namespace

TEST_CASE("a well-formed graph verifies", "[ir]") {
  Fixture f;
  CHECK(verify(f.g).empty());
  CHECK_NOTHROW(verify_or_throw(f.g, "test"));
}

TEST_CASE("the verifier names each broken invariant", "[ir]") {
  Fixture f;
  Graph& g = f.g;

  SECTION("an operand after its user") {
    g.node(f.e).args = {f.m};
    CHECK_THAT(problems(g), Catch::Contains("%3 = exp: operand %4 does not precede it"));
  }
  SECTION("an operand that is not a node") {
    g.node(f.e).args = {-1};
    CHECK_THAT(problems(g), Catch::Contains("operand %-1 does not precede it"));
  }
  SECTION("wrong arity") {
    g.node(f.m).args = {f.e};
    CHECK_THAT(problems(g), Catch::Contains("%4 = mul: has 1 operand(s), the op takes 2"));
  }
  SECTION("a type the op's rule does not give") {
    g.node(f.e).type = Type{DType::f32, {4}};
    CHECK_THAT(problems(g), Catch::Contains("%3 = exp: has type f32[4] but its rule gives f32[3]"));
  }
  SECTION("an operand the op's rule rejects") {
    g.node(f.e).args = {f.y};
    CHECK_THAT(problems(g), Catch::Contains("%3 = exp: its type rule rejects it"));
  }
  SECTION("a composite op") {
    Node mean = g.node(f.loss);
    mean.op = OpKind::mean;
    g.nodes.push_back(mean);
    CHECK_THAT(problems(g), Catch::Contains("composite op left in the graph"));
  }
  SECTION("a loss that is not a float scalar") {
    g.loss = f.m;
    CHECK_THAT(problems(g), Catch::Contains("loss %4 is f32[3], not a float scalar"));
  }
  SECTION("results that are not nodes") {
    g.loss = 99;
    g.outputs.push_back({"o", 42});
    g.grads[0].value = -3;
    std::string p = problems(g);
    CHECK_THAT(p, Catch::Contains("loss %99 is not a node"));
    CHECK_THAT(p, Catch::Contains("output 'o' is %42, not a node"));
    CHECK_THAT(p, Catch::Contains("grad 'W' is %-3, not a node"));
  }
  SECTION("a grad whose type differs from its leaf's") {
    g.grads[0].value = f.loss;
    CHECK_THAT(problems(g), Catch::Contains("grad 'W' has type f32 but the leaf is f32[3]"));
  }
  SECTION("a grad for a name outside wrt") {
    g.grads.push_back({"x", f.e});
    CHECK_THAT(problems(g), Catch::Contains("grad 'x' is not in the wrt list"));
  }
  SECTION("wrt names that are not float leaves") {
    g.wrt = {"W", "nope", "y"};
    std::string p = problems(g);
    CHECK_THAT(p, Catch::Contains("wrt 'nope' is not an input or param"));
    CHECK_THAT(p, Catch::Contains("wrt 'y' is not a float tensor"));
  }
  SECTION("two leaves with one name") {
    g.node(f.W).attrs.set("name", std::string("x"));
    CHECK_THAT(problems(g), Catch::Contains("leaf name 'x' is declared twice (%0 and %2)"));
  }
  SECTION("a leaf without its attributes") {
    g.node(f.W).attrs = Attrs{};
    CHECK_THAT(problems(g), Catch::Contains("a leaf needs string attributes"));
  }
  SECTION("verify_or_throw names the stage and lists the problems") {
    g.loss = f.m;
    try {
      verify_or_throw(g, "my_pass");
      FAIL("no throw");
    } catch (const std::logic_error& e) {
      CHECK_THAT(e.what(), Catch::StartsWith("IR verification failed after my_pass:"));
      CHECK_THAT(e.what(), Catch::Contains("not a float scalar"));
      CHECK_THAT(e.what(), Catch::Contains("%4 = mul(%3, %2) : f32[3]"));  // the graph
    }
  }
}
