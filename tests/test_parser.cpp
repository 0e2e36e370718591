#include <catch2/catch.hpp>
#include <random>

#include "frontend/ast_printer.hpp"
#include "frontend/frontend.hpp"
#include "frontend/parser.hpp"

using namespace adjoint;
using namespace adjoint::frontend;

namespace {

struct Parsed {
  SourceManager sm;
  std::unique_ptr<Diagnostics> diags;
  std::unique_ptr<Ast> ast;
};

std::unique_ptr<Parsed> parse(const std::string& text) {
  auto p = std::make_unique<Parsed>();
  uint32_t id = p->sm.add("test.adj", text);
  p->diags = std::make_unique<Diagnostics>(p->sm);
  p->ast = parse_source(p->sm, id, *p->diags);
  return p;
}

// The s-expression of `y = <expr>`.
std::string sexpr(const std::string& expr) {
  auto p = parse("y = " + expr + "\n");
  INFO(p->diags->text());
  REQUIRE_FALSE(p->diags->has_errors());
  REQUIRE(p->ast->stmts.size() == 1);
  return expr_str(*p->ast->stmts[0].as<LetStmt>()->value);
}

// Parse and compile must both come back (with errors) on any input.
void survives(const std::string& text, int min_errors = 1) {
  SourceManager sm;
  uint32_t id = sm.add("bad.adj", text);
  Diagnostics diags(sm);
  bool compiled = compile_source(sm, id, diags).has_value();
  CHECK(compiled == (min_errors == 0));
  CHECK(diags.error_count() >= min_errors);
}

}  // namespace

TEST_CASE("parser: precedence and associativity", "[frontend]") {
  CHECK(sexpr("a + b * c") == "(+ a (* b c))");
  CHECK(sexpr("a - b - c") == "(- (- a b) c)");
  CHECK(sexpr("a * b / c @ d") == "(@ (/ (* a b) c) d)");
  CHECK(sexpr("x @ W + b") == "(+ (@ x W) b)");
  CHECK(sexpr("-x ^ 2") == "(neg (^ x 2))");
  CHECK(sexpr("a ^ b ^ c") == "(^ a (^ b c))");
  CHECK(sexpr("a ^ -2") == "(^ a (neg 2))");
  CHECK(sexpr("2 * -x") == "(* 2 (neg x))");
  CHECK(sexpr("- - x") == "(neg (neg x))");
  CHECK(sexpr("x.T ^ 2") == "(^ (.T x) 2)");
  CHECK(sexpr("x.T.T") == "(.T (.T x))");
  CHECK(sexpr("(a + b).T @ c") == "(@ (.T (+ a b)) c)");
  CHECK(sexpr("(a + b) * c") == "(* (+ a b) c)");
  CHECK(sexpr("0.5 * sum((a2 - t) ^ 2)") == "(* 0.5 (call sum (^ (- a2 t) 2)))");
}

TEST_CASE("parser: calls, keyword arguments and lists", "[frontend]") {
  CHECK(sexpr("f()") == "(call f)");
  CHECK(sexpr("sum(x, axis=-1, keepdims=true)") == "(call sum x axis=(neg 1) keepdims=true)");
  CHECK(sexpr("reshape(x, [-1, 1, 28, 28])") == "(call reshape x [(neg 1), 1, 28, 28])");
  CHECK(sexpr("f(x,)") == "(call f x)");
  CHECK(sexpr("g(f(x), y)") == "(call g (call f x) y)");
  CHECK(sexpr("1e-3 + 2.5E+4") == "(+ 1e-3 2.5E+4)");
}

TEST_CASE("parser: a newline inside ( ) or [ ] continues the statement", "[frontend]") {
  auto p = parse("y = f(a,\n      b) +\n    c\n");
  CHECK(p->diags->has_errors());  // '+' at the end of a line does not continue it
  CHECK(sexpr("f(a,\n  b,\n  axis=1\n)") == "(call f a b axis=1)");
  CHECK(sexpr("(a\n + b)") == "(+ a b)");
  CHECK(sexpr("[1,\n 2]") == "[1, 2]");
  auto q = parse("input x : f32[B,\n 784]\n");
  CHECK_FALSE(q->diags->has_errors());
  CHECK(print_ast(*q->ast) == "1:1 input x : f32[B, 784]\n");
}

TEST_CASE("parser: every statement form, printed", "[frontend]") {
  const char* src =
      "# Two-layer classifier for 28x28 images.\n"
      "model mlp\n"
      "\n"
      "input x : f32[B, 784]          # B is a size\n"
      "input y : i32[B]\n"
      "input s : f64\n"
      "param W1 : f32[784, 128] = he_normal\n"
      "param b1 : f32[128]\n"
      "param W2 : f32[128, 10]  = normal(0, 0.02)\n"
      "param c : f32 = -0.5\n"
      "def dense(x, W, b) = x @ W + b\n"
      "h      = relu(dense(x, W1, b1))\n"
      "logits = dense(h, W2, b2)\n"
      "loss   = mean(softmax_cross_entropy(logits, y))\n"
      "minimize loss wrt W1, b1\n"
      "output logits, h\n";
  auto p = parse(src);
  INFO(p->diags->text());
  CHECK_FALSE(p->diags->has_errors());
  CHECK(print_ast(*p->ast) ==
        "2:1 model mlp\n"
        "4:1 input x : f32[B, 784]\n"
        "5:1 input y : i32[B]\n"
        "6:1 input s : f64\n"
        "7:1 param W1 : f32[784, 128] = he_normal\n"
        "8:1 param b1 : f32[128]\n"
        "9:1 param W2 : f32[128, 10] = (call normal 0 0.02)\n"
        "10:1 param c : f32 = (neg 0.5)\n"
        "11:1 def dense(x, W, b) = (+ (@ x W) b)\n"
        "12:1 h = (call relu (call dense x W1 b1))\n"
        "13:1 logits = (call dense h W2 b2)\n"
        "14:1 loss = (call mean (call softmax_cross_entropy logits y))\n"
        "15:1 minimize loss wrt W1, b1\n"
        "16:1 output logits, h\n");
}

TEST_CASE("parser: node locations", "[frontend]") {
  auto p = parse("input x : f32[B, 784]\ny = relu(x @ W + b)\n");
  REQUIRE(p->ast->stmts.size() == 2);
  const Stmt& in = p->ast->stmts[0];
  CHECK(in.name_loc == SourceLoc{0, 1, 7});
  CHECK(in.as<InputStmt>()->type.loc == SourceLoc{0, 1, 11});
  CHECK(in.as<InputStmt>()->type.dims[1].loc == SourceLoc{0, 1, 18});
  const Expr& call = *p->ast->stmts[1].as<LetStmt>()->value;
  CHECK(call.loc == SourceLoc{0, 2, 5});
  const Expr& plus = *call.as<Call>()->args[0].value;
  CHECK(plus.loc == SourceLoc{0, 2, 16});    // the operator
  CHECK(plus.begin == SourceLoc{0, 2, 10});  // the start of its text
  CHECK(plus.as<Binary>()->lhs->loc == SourceLoc{0, 2, 12});
}

TEST_CASE("parser: a failed statement is kept as invalid, with its name", "[frontend]") {
  auto p = parse("a = (1 +\ninput b : f32\nc = $\nd = relu(2\ne = 3\n");
  INFO(p->diags->text());
  CHECK(p->diags->error_count() == 3);
  CHECK(p->diags->text().find("test.adj:1:5: error: unclosed '(' (expected ')')") !=
        std::string::npos);
  CHECK(p->diags->text().find("test.adj:4:9: error: unclosed '(' (expected ')')") !=
        std::string::npos);
  REQUIRE(p->ast->stmts.size() == 5);
  // The unclosed brackets did not swallow the lines after them.
  CHECK(print_ast(*p->ast) ==
        "1:1 <invalid> a\n2:1 input b : f32\n3:1 <invalid> c\n4:1 <invalid> d\n5:1 e = 3\n");
}

TEST_CASE("parser: deep nesting is an error, not a stack overflow", "[frontend]") {
  const size_t n = 10000;
  for (const auto& [open, close] : {std::pair{"(", ")"}, std::pair{"[", "]"}, std::pair{"f(", ")"},
                                    std::pair{"-", ""}, std::pair{"x ^ ", ""}}) {
    std::string text = "y = ";
    for (size_t i = 0; i < n; ++i) text += open;
    text += "1";
    for (size_t i = 0; i < n; ++i) text += close;
    text += "\nz = 2\n";
    auto p = parse(text);
    INFO(open);
    CHECK(p->diags->error_count() == 1);
    CHECK(p->diags->text().find("nested too deeply") != std::string::npos);
    REQUIRE(p->ast);
    CHECK(p->ast->stmts.size() == 2);  // recovered at the next line
  }
  // Just under the limit is fine.
  std::string ok = "y = ";
  for (size_t i = 0; i < 200; ++i) ok += "(";
  ok += "1";
  for (size_t i = 0; i < 200; ++i) ok += ")";
  CHECK(sexpr(ok.substr(4)) == "1");
}

TEST_CASE("parser: very long expressions are bounded too", "[frontend]") {
  std::string chain = "y = x";
  while (chain.size() < (1 << 20)) chain += " + x";  // a 1 MB line
  auto p = parse("input x : f32\n" + chain + "\n");
  CHECK(p->diags->error_count() == 1);
  CHECK(p->diags->text().find("expression is too large") != std::string::npos);
  survives("input x : f32\n" + chain + "\n");

  std::string ok = "y = x";
  for (int i = 0; i < 900; ++i) ok += " * x";
  SourceManager sm;
  uint32_t id = sm.add("ok.adj", "input x : f32\n" + ok + "\n");
  Diagnostics diags(sm);
  CHECK(compile_source(sm, id, diags).has_value());
}

TEST_CASE("parser and sema survive hostile input", "[frontend]") {
  survives("", 0);
  survives("\n\n# nothing\n", 0);
  survives(std::string("x = 1\0 + 2\n\0\0\0", 14));
  survives("y = (");
  survives("y = f(x,");
  survives("y = [1, 2");
  survives("def f(");
  survives("def f(a) =");
  survives("input x : f32[4");
  survives("input x : f32[");
  survives("param p : f32[2] = normal(");
  survives("minimize loss wrt");
  survives("output");
  survives("y = x.");
  survives(")))]]]");
  survives("= = = =");
  std::mt19937 rng(7);
  for (int round = 0; round < 20; ++round) {
    std::string junk;
    for (int i = 0; i < 4096; ++i) junk += static_cast<char>(rng() & 0xff);
    SourceManager sm;
    uint32_t id = sm.add("junk.bin", junk);
    Diagnostics diags(sm);
    CHECK_FALSE(compile_source(sm, id, diags).has_value());
  }
  // Fragments of valid text in random order: parses, may fail sema, never crashes.
  const char* parts[] = {"input",  "param", "x",    "y",      ":",    "f32", "[",        "]",
                         "(",      ")",     "=",    "+",      "@",    "^",   ".T",       "relu",
                         "sum",    "def",   "1",    "-",      ",",    "\n",  "minimize", "wrt",
                         "output", "axis",  "true", "[B, 3]", "model"};
  for (int round = 0; round < 200; ++round) {
    std::string text;
    for (int i = 0; i < 60; ++i) text += std::string(parts[rng() % std::size(parts)]) + " ";
    SourceManager sm;
    uint32_t id = sm.add("mix.adj", text);
    Diagnostics diags(sm);
    compile_source(sm, id, diags);
  }
  SUCCEED();
}

TEST_CASE("parser: a 1 MB file of garbage stops early as a hard failure", "[frontend]") {
  std::string junk;
  for (int i = 0; i < (1 << 20); ++i) junk += (i % 64 == 63) ? '\n' : '$';
  SourceManager sm;
  uint32_t id = sm.add("junk.adj", junk);
  Diagnostics diags(sm);
  CHECK(parse_source(sm, id, diags) == nullptr);
  CHECK(diags.error_count() > Diagnostics::kMaxErrors);
}
