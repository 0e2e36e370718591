#include "ir/ir_parser.hpp"

#include <algorithm>
#include <charconv>
#include <cstdio>
#include <cstdlib>

#include "ir/ir_parser_impl.hpp"
#include "ir/verifier.hpp"

namespace adjoint {
namespace ir_text {

void IrParser::prescan_definitions() {
  uint32_t line_no = 0;
  size_t start = 0;
  while (start <= text_.size()) {
    size_t end = text_.find('\n', start);
    if (end == std::string_view::npos) end = text_.size();
    ++line_no;
    size_t i = start;
    while (i < end && (text_[i] == ' ' || text_[i] == '\t')) ++i;
    if (i < end && text_[i] == '%') {
      size_t j = i + 1;
      int64_t v = 0;
      auto r = std::from_chars(text_.data() + j, text_.data() + end, v);
      if (r.ec == std::errc() && r.ptr != text_.data() + j) defined_on_.emplace(v, line_no);
    }
    start = end + 1;
  }
}

// --- Token cursor ---

bool IrParser::accept(char c) {
  if (!peek().is(c)) return false;
  next();
  return true;
}

Token IrParser::expect(char c, const std::string& context) {
  if (!peek().is(c))
    fail_at(peek(),
            std::string("expected '") + c + "' " + context + ", found " + describe_token(peek()));
  return next();
}

void IrParser::expect_end() {
  if (peek().kind != Token::End)
    fail_at(peek(), "unexpected " + describe_token(peek()) + " at end of line");
}

// --- Pieces ---

int64_t IrParser::int_value(const Token& t) const {
  int64_t v = 0;
  auto r = std::from_chars(t.text.data(), t.text.data() + t.text.size(), v);
  if (r.ec != std::errc() || r.ptr != t.text.data() + t.text.size())
    fail_at(t, "number out of range");
  return v;
}

ValueId IrParser::parse_ref() {
  Token t = next();
  if (t.kind != Token::Ref) fail_at(t, "expected a value (%N), found " + describe_token(t));
  int64_t n = int_value(t);
  auto it = values_.find(n);
  if (it != values_.end()) return it->second;
  auto def = defined_on_.find(n);
  if (def != defined_on_.end() && def->second >= line_)
    fail_at(t, "'%" + t.text + "' is used before its definition on line " +
                   std::to_string(def->second) + " (operands must come first)");
  fail_at(t, "'%" + t.text + "' is not defined");
}

std::string IrParser::parse_name(const std::string& what) {
  Token t = next();
  if (t.kind != Token::Ident && t.kind != Token::String)
    fail_at(t, "expected " + what + ", found " + describe_token(t));
  return t.text;
}

DType IrParser::parse_dtype_word(const std::string& context) {
  Token t = next();
  auto dt = t.kind == Token::Ident ? parse_dtype(t.text) : std::nullopt;
  if (!dt)
    fail_at(t, "expected an element type (f32, f64 or i32) " + context + ", found " +
                   describe_token(t));
  return *dt;
}

// A dimension: a product of integer and symbol factors, as Dim::str prints it.
Dim IrParser::parse_dim() {
  Dim d = 1;
  do {
    Token t = next();
    Dim factor;
    if (t.is('-') && peek().kind == Token::Int)
      factor = Dim(-int_value(next()));
    else if (t.kind == Token::Int)
      factor = Dim(int_value(t));
    else if (t.kind == Token::Ident)
      factor = Dim::symbol(t.text);
    else
      fail_at(t, "expected a size (a number or a symbol), found " + describe_token(t));
    int64_t product = 0;
    if (__builtin_mul_overflow(d.coeff(), factor.coeff(), &product))
      fail_at(t, "size out of range");
    d = d * factor;
  } while (accept('*'));
  return d;
}

Shape IrParser::parse_shape() {
  expect('[', "to start a shape");
  Shape s;
  if (accept(']')) return s;
  do s.push_back(parse_dim());
  while (accept(','));
  expect(']', "to end the shape");
  return s;
}

Type IrParser::parse_type() {
  Type t;
  t.dtype = parse_dtype_word("in the type");
  if (peek().is('[')) t.shape = parse_shape();
  return t;
}

AttrValue IrParser::parse_attr_value() {
  const Token& t = peek();
  if (t.is('[')) return parse_shape();
  if (t.is('(')) {
    next();
    std::vector<int64_t> xs;
    if (accept(')')) return xs;
    do {
      bool negative = accept('-');
      Token n = next();
      if (n.kind != Token::Int) fail_at(n, "expected an integer, found " + describe_token(n));
      xs.push_back(negative ? -int_value(n) : int_value(n));
    } while (accept(','));
    expect(')', "to end the integer list");
    return xs;
  }
  if (t.kind == Token::String) return next().text;
  if (t.is_word("true") || t.is_word("false")) return next().text == "true";
  bool negative = accept('-');
  Token n = next();
  if (n.kind == Token::Int) return negative ? -int_value(n) : int_value(n);
  if (n.kind == Token::Float || n.is_word("inf") || n.is_word("nan")) {
    double v = std::strtod(n.text.c_str(), nullptr);
    return negative ? -v : v;
  }
  fail_at(n, "expected an attribute value, found " + describe_token(n));
}

Attrs IrParser::parse_attrs() {
  expect('{', "to start the attributes");
  Attrs attrs;
  if (accept('}')) return attrs;
  do {
    Token key = next();
    if (key.kind != Token::Ident)
      fail_at(key, "expected an attribute name, found " + describe_token(key));
    if (attrs.has(key.text)) fail_at(key, "attribute '" + key.text + "' is given twice");
    expect('=', "after the attribute name");
    attrs.set(key.text, parse_attr_value());
  } while (accept(','));
  expect('}', "to end the attributes");
  return attrs;
}

SourceLoc IrParser::parse_loc() {
  expect('@', "before a location");
  Token l = next();
  if (l.kind != Token::Int) fail_at(l, "expected a line number, found " + describe_token(l));
  expect(':', "between line and column");
  Token c = next();
  if (c.kind != Token::Int) fail_at(c, "expected a column number, found " + describe_token(c));
  int64_t line = int_value(l), col = int_value(c);
  if (line < 1 || line > UINT32_MAX) fail_at(l, "line number out of range");
  if (col < 0 || col > UINT32_MAX) fail_at(c, "column number out of range");
  return SourceLoc{0, static_cast<uint32_t>(line), static_cast<uint32_t>(col)};
}

// --- Lines ---

void IrParser::parse_model() {
  Token kw = next();
  if (have_model_) fail_at(kw, "a second 'model' line");
  if (g_.size() > 0) fail_at(kw, "the 'model' line must come before the nodes");
  g_.model = parse_name("the model's name");
  Token at = peek();
  g_.float_type = parse_dtype_word("after the model's name");
  if (!is_float(g_.float_type)) fail_at(at, "the model's float type must be f32 or f64");
  expect_end();
  have_model_ = true;
}

void IrParser::check_attrs(const OpInfo& info, const Attrs& attrs, const Token& op_tok) const {
  auto holds_string = [&](const char* name) {
    const AttrValue* v = attrs.find(name);
    return v && std::holds_alternative<std::string>(*v);
  };
  auto shape_ok = [&] {
    const AttrValue* v = attrs.find("shape");
    return !v || std::holds_alternative<Shape>(*v);
  };
  std::string op = "'" + info.name + "' ";
  if (is_leaf(info.kind) && !(holds_string("name") && holds_string("dtype") && shape_ok()))
    fail_at(op_tok, op + "needs attributes name=\"...\", dtype=\"...\" and optionally shape=[...]");
  if (info.kind == OpKind::constant) {
    const AttrValue* v = attrs.find("value");
    bool numeric = v && (std::holds_alternative<double>(*v) || std::holds_alternative<int64_t>(*v));
    if (!numeric || !shape_ok())
      fail_at(op_tok, op + "needs a numeric attribute value=... and optionally shape=[...]");
  }
  // Builtins declare their attributes in their signature.
  for (const ParamSpec& p : info.signature) {
    if (p.kind == ParamKind::Tensor) continue;
    const AttrValue* v = attrs.find(p.name);
    if (!v) {
      if (!p.optional && !p.dflt) fail_at(op_tok, op + "needs attribute '" + p.name + "'");
      continue;
    }
    bool ok = false;
    switch (p.kind) {
      case ParamKind::Int:
        ok = std::holds_alternative<int64_t>(*v);
        break;
      case ParamKind::Float:
        ok = std::holds_alternative<double>(*v) || std::holds_alternative<int64_t>(*v);
        break;
      case ParamKind::Bool:
        ok = std::holds_alternative<bool>(*v);
        break;
      case ParamKind::Dims:
        ok = std::holds_alternative<Shape>(*v) || std::holds_alternative<std::vector<int64_t>>(*v);
        break;
      case ParamKind::Tensor:
        break;
    }
    if (!ok) fail_at(op_tok, op + "attribute '" + p.name + "' has the wrong kind of value");
  }
}

void IrParser::parse_node() {
  Token id = next();
  int64_t number = int_value(id);
  if (auto it = values_.find(number); it != values_.end())
    fail_at(id, "'%" + id.text + "' is defined twice");
  if (!have_model_) fail_at(id, "expected a 'model NAME f32|f64' line before the nodes");
  Node n;
  if (!peek().is('=')) n.name = parse_name("a name or '='");
  expect('=', "after the value");
  Token op_tok = next();
  auto kind = op_tok.kind == Token::Ident ? op_by_name(op_tok.text) : std::nullopt;
  if (!kind) fail_at(op_tok, "unknown op " + describe_token(op_tok));
  if (!op_defined(*kind)) fail_at(op_tok, "op '" + op_tok.text + "' has no row in the op table");
  const OpInfo& info = op_info(*kind);
  if (info.expand)
    fail_at(op_tok, "'" + info.name + "' is a composite op; IR text holds only primitives");
  n.op = *kind;
  if (accept('(') && !accept(')')) {
    do n.args.push_back(parse_ref());
    while (accept(','));
    expect(')', "to end the operands");
  }
  if (peek().is('{')) n.attrs = parse_attrs();
  expect(':', "before the type");
  Token type_tok = peek();
  Type annotated = parse_type();
  if (peek().is_word("adjoint")) {
    next();
    n.adjoint = true;
  }
  if (peek().is('@')) n.loc = parse_loc();
  expect_end();

  if (static_cast<int>(n.args.size()) != info.arity)
    fail_at(op_tok, "'" + info.name + "' takes " + std::to_string(info.arity) +
                        " operand(s), got " + std::to_string(n.args.size()));
  check_attrs(info, n.attrs, op_tok);
  std::vector<Type> arg_types;
  for (ValueId a : n.args) arg_types.push_back(g_.type(a));
  TypeResult r;
  try {
    r = info.infer(arg_types, n.attrs, TypeContext{g_.float_type});
  } catch (const std::exception& e) {
    fail_at(op_tok, "malformed attributes for '" + info.name + "': " + e.what());
  }
  if (!r.ok())
    fail_at(op_tok, "'" + info.name + "' rejects " + types_text(arg_types) + ": " + r.error);
  if (r.type != annotated)
    fail_at(type_tok, "type annotation " + annotated.str() + " does not match " + r.type.str() +
                          ", the type '" + info.name + "' gives");
  n.type = r.type;
  if (is_leaf(n.op)) {
    const std::string& leaf_name = n.attrs.get_str("name");
    if (!leaves_.emplace(leaf_name, g_.size()).second)
      fail_at(op_tok, "a second input/param named '" + leaf_name + "'");
  }
  values_[number] = g_.size();
  g_.nodes.push_back(std::move(n));
}

void IrParser::parse_loss() {
  Token kw = next();
  if (have_loss_) fail_at(kw, "a second 'loss' line");
  Token at = peek();
  ValueId v = parse_ref();
  expect_end();
  const Type& t = g_.type(v);
  if (!is_float(t.dtype) || t.rank() != 0)
    fail_at(at, "the loss must be a float scalar, not " + t.str());
  g_.loss = v;
  have_loss_ = true;
}

const Type& IrParser::leaf_type(const std::string& name, const Token& at) const {
  auto it = leaves_.find(name);
  if (it == leaves_.end()) fail_at(at, "'" + name + "' is not an input or param defined above");
  return g_.type(it->second);
}

void IrParser::parse_wrt() {
  Token kw = next();
  if (have_wrt_) fail_at(kw, "a second 'wrt' line");
  do {
    Token at = peek();
    std::string name = parse_name("an input or param name");
    if (!is_float(leaf_type(name, at).dtype)) fail_at(at, "'" + name + "' is not a float tensor");
    g_.wrt.push_back(name);
  } while (accept(','));
  expect_end();
  have_wrt_ = true;
}

void IrParser::parse_named_result(bool is_grad) {
  next();
  Token name_tok = peek();
  std::string name = parse_name(is_grad ? "the name of a wrt tensor" : "the output's name");
  expect('=', "after the name");
  Token value_tok = peek();
  ValueId v = parse_ref();
  expect_end();
  if (!is_grad) {
    g_.outputs.push_back({name, v});
    return;
  }
  if (std::find(g_.wrt.begin(), g_.wrt.end(), name) == g_.wrt.end())
    fail_at(name_tok, "'" + name + "' is not in the wrt list above");
  const Type& want = leaf_type(name, name_tok);
  if (g_.type(v) != want)
    fail_at(value_tok,
            "the gradient of '" + name + "' must be " + want.str() + ", not " + g_.type(v).str());
  g_.grads.push_back({name, v});
}

void IrParser::parse_line() {
  const Token& t = peek();
  if (t.kind == Token::End) return;
  if (t.kind == Token::Ref) return parse_node();
  if (!have_model_ && !t.is_word("model")) fail_at(t, "expected a 'model NAME f32|f64' line first");
  if (t.is_word("model")) return parse_model();
  if (t.is_word("loss")) return parse_loss();
  if (t.is_word("wrt")) return parse_wrt();
  if (t.is_word("output")) return parse_named_result(false);
  if (t.is_word("grad")) return parse_named_result(true);
  fail_at(t, "expected a node (%N = ...) or one of model, loss, wrt, output, grad; found " +
                 describe_token(t));
}

Graph IrParser::run() {
  prescan_definitions();
  size_t start = 0;
  while (start <= text_.size()) {
    size_t end = text_.find('\n', start);
    if (end == std::string_view::npos) end = text_.size();
    std::string_view line = text_.substr(start, end - start);
    if (!line.empty() && line.back() == '\r') line.remove_suffix(1);
    ++line_;
    lex_line(line);
    parse_line();
    start = end + 1;
  }
  if (!have_model_) {
    line_ = 1;
    fail(1, "expected a 'model NAME f32|f64' line first");
  }
  std::vector<std::string> problems = verify(g_);
  if (!problems.empty()) throw Error(filename_ + ": error: " + problems.front());
  return std::move(g_);
}

}  // namespace ir_text

Graph parse_graph(std::string_view text, const std::string& filename) {
  return ir_text::IrParser(text, filename).run();
}

}  // namespace adjoint
