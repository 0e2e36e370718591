// Sema, declarations: the declared types of inputs and params, and params'
// initialisers.
#include <set>

#include "frontend/sema.hpp"

namespace adjoint::frontend {

namespace {

constexpr const char* kInitialisers =
    "zeros, ones, a number, normal(mean, std), uniform(lo, hi), he_normal, glorot_uniform";
// Initialisers written as a bare name, with no arguments.
constexpr const char* kPlainInitialisers[] = {"zeros", "ones", "he_normal", "glorot_uniform"};
// A declared tensor holds at most 2^40 elements (4 TiB of f32): byte counts
// of shapes built from it then stay far from int64 overflow.
constexpr int64_t kMaxElements = int64_t{1} << 40;

}  // namespace

// Checks the dtype against the model's float type and every size; reports
// all problems it finds and returns the type only when there were none.
std::optional<Type> Sema::check_type(const TypeExpr& t, bool is_param) {
  bool ok = true;
  if (is_float(t.dtype) && t.dtype != graph_.float_type) {
    error(t.loc, std::string("mixes float types: the model is ") + dtype_name(graph_.float_type) +
                     " but this is " + dtype_name(t.dtype) + " (one float type per model)");
    note(*float_decl_,
         std::string("the model's float type is ") + dtype_name(graph_.float_type) + " from here");
    ok = false;
  }
  if (is_param && !is_float(t.dtype)) {
    error(t.loc, "a param must be f32 or f64; i32 is only for inputs (labels and indices)");
    ok = false;
  }
  Type type{t.dtype, {}};
  int64_t elements = 1;  // the constant sizes' product, capped below
  for (const DimExpr& d : t.dims) {
    if (d.size && *d.size > 0 && ok &&
        (__builtin_mul_overflow(elements, *d.size, &elements) || elements > kMaxElements)) {
      error(d.loc, "too many elements: the sizes' product exceeds 2^40");
      ok = false;
    }
    if (d.size) {
      if (*d.size <= 0) {
        error(d.loc, "sizes must be positive, got " + std::to_string(*d.size));
        ok = false;
      }
      type.shape.push_back(Dim(*d.size));
    } else if (is_param && !input_sizes_.count(d.symbol)) {
      error(d.loc,
            "a param's size must be a number or an input's size, but no input's shape has '" +
                d.symbol + "' (the inputs bind symbolic sizes at each call)");
      ok = false;
    } else {
      type.shape.push_back(Dim::symbol(d.symbol));
    }
  }
  if (!ok) return std::nullopt;
  return type;
}

// The symbolic sizes that the inputs bind at each call, wherever the inputs
// are declared: a param may use them (f32[D, 10]), and no other symbol.
void Sema::collect_input_sizes() {
  for (const Stmt& s : ast_.stmts)
    if (auto* in = s.as<InputStmt>())
      for (const DimExpr& d : in->type.dims)
        if (!d.size) input_sizes_.insert(d.symbol);
}

// Sets init (and init_a, init_b) from a param's initialiser; false on error.
bool Sema::check_init(const Expr* init, Attrs& attrs) {
  if (!init) {
    attrs.set("init", std::string("zeros"));
    return true;
  }
  if (auto v = literal_number(*init)) {
    if (!fits_float_type(*v, init->begin)) return false;
    attrs.set("init", std::string("constant"));
    attrs.set("init_a", *v);
    return true;
  }
  if (auto* name = init->as<NameRef>()) {
    for (const char* p : kPlainInitialisers)
      if (name->name == p) {
        attrs.set("init", name->name);
        return true;
      }
    if (name->name == "normal" || name->name == "uniform") {
      error(init->begin, "'" + name->name + "' needs two numbers: " + name->name +
                             (name->name == "normal" ? "(mean, std)" : "(lo, hi)"));
      return false;
    }
    error(init->begin, "unknown initialiser '" + name->name + "'; valid: " + kInitialisers);
    return false;
  }
  const Call* call = init->as<Call>();
  for (const char* p : kPlainInitialisers)
    if (call && call->callee == p) {
      error(init->begin,
            "'" + call->callee + "' takes no arguments: write `= " + call->callee + "`");
      return false;
    }
  bool two_numbers = call && (call->callee == "normal" || call->callee == "uniform");
  if (!two_numbers) {
    std::string what = call ? "unknown initialiser '" + call->callee + "'"
                            : std::string("a param's initialiser must be a constant form");
    error(init->begin, what + "; valid: " + kInitialisers);
    return false;
  }
  // normal(mean, std) / uniform(lo, hi): two numbers, by position or by name.
  bool normal = call->callee == "normal";
  const char* names[2] = {normal ? "mean" : "lo", normal ? "std" : "hi"};
  std::optional<double> vals[2];
  std::string usage = call->callee + "(" + names[0] + ", " + names[1] + ")";
  for (size_t i = 0; i < call->args.size(); ++i) {
    const Arg& a = call->args[i];
    size_t slot = i;
    if (!a.keyword.empty()) slot = a.keyword == names[0] ? 0 : a.keyword == names[1] ? 1 : 2;
    std::optional<double> v = literal_number(*a.value);
    if (slot > 1 || vals[slot] || !v) {
      error(a.loc, "'" + call->callee + "' takes two numbers: " + usage);
      return false;
    }
    if (!fits_float_type(*v, a.loc)) return false;
    vals[slot] = v;
  }
  if (!vals[0] || !vals[1]) {
    error(init->begin, "'" + call->callee + "' takes two numbers: " + usage);
    return false;
  }
  if (normal ? *vals[1] < 0 : *vals[0] > *vals[1]) {
    error(init->begin,
          normal ? "normal's std must not be negative" : "uniform's lo must not exceed hi");
    return false;
  }
  attrs.set("init", call->callee);
  attrs.set("init_a", *vals[0]);
  attrs.set("init_b", *vals[1]);
  return true;
}

}  // namespace adjoint::frontend
