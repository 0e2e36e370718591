// Sema, calls: inlining defs, and binding builtin arguments generically from
// the op table's signatures (tensors are operands, the rest attributes).
#include <algorithm>
#include <cmath>

#include "frontend/sema.hpp"

namespace adjoint::frontend {

namespace {

// How an argument reads in a message about its kind.
std::string what_is(const Expr& e) {
  if (e.as<ListLit>()) return "a list";
  if (auto* b = e.as<BoolLit>()) return b->value ? "'true'" : "'false'";
  if (literal_number(e)) return "the number " + literal_text(e);
  return "a computed value";
}

std::string param_list(const std::vector<ParamSpec>& sig) {
  std::string out;
  for (size_t i = 0; i < sig.size(); ++i) out += (i ? ", " : "") + sig[i].name;
  return out;
}

std::string arguments(size_t n) {
  return std::to_string(n) + (n == 1 ? " argument" : " arguments");
}

}  // namespace

// Resolution: builtins, then defs (a def cannot take a builtin's name), then
// a helpful error.
ValueId Sema::eval_call(const Expr& e, const Call& call) {
  const std::string& fn = call.callee;
  if (auto op = builtin_by_name(fn)) return call_builtin(e, call, *op);
  if (is_def_name(fn)) {
    auto def = defs_.find(fn);
    if (def != defs_.end() && !bad_defs_.count(fn)) return call_def(e, call, *def->second);
    return kPoison;  // the def's own error was reported
  }
  if (const Stmt* s = first_binding(fn)) {
    if (s->as<InvalidStmt>()) return kPoison;
    error(e.loc, "'" + fn + "' is a value, not a function");
    return kPoison;
  }
  bool local = !frames_.empty() && frames_.back().locals->count(fn);
  if (local) {
    error(e.loc,
          "'" + fn + "' is a parameter of '" + frames_.back().def->name + "', not a function");
    return kPoison;
  }
  error(e.loc, "unknown function '" + fn + "'" + suggest_function(fn));
  return kPoison;
}

// Arguments are evaluated where the call is; the body with the parameters
// bound to them. The IR has no calls: every call is a fresh copy of the body.
ValueId Sema::call_def(const Expr& e, const Call& call, const DefStmt& def) {
  std::vector<ValueId> args;
  bool ok = true;
  for (const Arg& a : call.args) {
    if (!a.keyword.empty()) {
      error(a.loc, "'" + def.name + "' is a def; its arguments are positional only");
      ok = false;
      continue;
    }
    args.push_back(eval(*a.value));
    ok = ok && args.back() != kPoison;
  }
  if (call.args.size() != def.params.size()) {
    std::string names;
    for (size_t i = 0; i < def.params.size(); ++i) names += (i ? ", " : "") + def.params[i].name;
    error(e.loc, "'" + def.name + "' takes " + arguments(def.params.size()) + " (" + names +
                     "), got " + std::to_string(call.args.size()));
    return kPoison;
  }
  if (!ok) return kPoison;
  if (++inlined_calls_ > kMaxNodes) {
    report_too_big(e.loc);
    return kPoison;
  }
  if (frames_.size() >= kMaxInlineDepth) {
    error(e.loc, "defs are nested too deeply (more than " + std::to_string(kMaxInlineDepth) +
                     " calls inside each other)");
    return kPoison;
  }
  for (const Frame& f : frames_)
    if (f.def == &def) {  // check_defs() rejects recursion; this only guards against a bug
      error(e.loc, "'" + def.name + "' calls itself");
      return kPoison;
    }
  std::pair<const DefStmt*, std::string> signature{&def, ""};
  for (ValueId a : args) signature.second += graph_.type(a).str() + ";";
  if (failed_calls_.count(signature)) return kPoison;
  std::map<std::string, ValueId> locals;
  for (size_t i = 0; i < args.size(); ++i) locals[def.params[i].name] = args[i];
  frames_.push_back({&def, e.loc, &locals});
  ValueId v = eval(*def.body);
  frames_.pop_back();
  if (v == kPoison) failed_calls_.insert(std::move(signature));
  return v;
}

ValueId Sema::call_builtin(const Expr& e, const Call& call, OpKind op) {
  const OpInfo& info = op_info(op);
  const std::string& fn = info.name;
  const std::vector<ParamSpec>& sig = info.signature;
  // Positional arguments first, then keywords, each to one parameter.
  std::vector<const Arg*> bound(sig.size(), nullptr);
  size_t next = 0;
  bool ok = true;
  for (const Arg& a : call.args) {
    if (a.keyword.empty()) {
      if (next >= sig.size()) {
        error(a.loc, "'" + fn + "' takes at most " + arguments(sig.size()) + " (" +
                         param_list(sig) + "), got " + std::to_string(call.args.size()));
        return kPoison;
      }
      bound[next++] = &a;
      continue;
    }
    auto it = std::find_if(sig.begin(), sig.end(),
                           [&](const ParamSpec& p) { return p.name == a.keyword; });
    if (it == sig.end()) {
      error(a.loc, "'" + fn + "' has no parameter '" + a.keyword + "'; valid: " + param_list(sig));
      ok = false;
    } else if (bound[static_cast<size_t>(it - sig.begin())]) {
      error(a.loc, "'" + fn + "' got two values for '" + a.keyword + "'");
      ok = false;
    } else {
      bound[static_cast<size_t>(it - sig.begin())] = &a;
    }
  }
  std::vector<ValueId> tensors;
  Attrs attrs;
  for (size_t i = 0; i < sig.size(); ++i) {
    const ParamSpec& p = sig[i];
    const Arg* a = bound[i];
    if (!a) {
      if (p.dflt)
        attrs.set(p.name, *p.dflt);
      else if (p.kind == ParamKind::Tensor || !p.optional) {
        error(e.loc, "'" + fn + "' is missing argument '" + p.name + "'");
        ok = false;
      }
      continue;
    }
    if (p.kind != ParamKind::Tensor) {
      std::optional<AttrValue> v = attr_argument(fn, p, *a);
      if (v) attrs.set(p.name, std::move(*v));
      ok = ok && v.has_value();
      continue;
    }
    if (a->value->as<ListLit>() || a->value->as<BoolLit>()) {
      error(a->loc,
            "'" + fn + "' argument '" + p.name + "' must be a tensor, got " + what_is(*a->value));
      ok = false;
      continue;
    }
    tensors.push_back(eval(*a->value));
    ok = ok && tensors.back() != kPoison;
  }
  if (!ok) return kPoison;
  return make(e.loc, op, std::move(tensors), std::move(attrs), "'" + fn + "'");
}

// An attribute argument must be written as a literal of its parameter's kind.
std::optional<AttrValue> Sema::attr_argument(const std::string& fn, const ParamSpec& p,
                                             const Arg& a) {
  const Expr& v = *a.value;
  std::string head = "'" + fn + "' argument '" + p.name + "' must be ";
  switch (p.kind) {
    case ParamKind::Int:
      if (auto i = literal_integer(v)) return AttrValue{*i};
      // A numeric literal with an integer value (axis=1.0) is that integer.
      if (auto x = literal_number(v); x && *x == std::floor(*x) && std::abs(*x) < 0x1p53)
        return AttrValue{static_cast<int64_t>(*x)};
      error(a.loc, head + "an integer literal (e.g. " + p.name + "=1), got " + what_is(v));
      return std::nullopt;
    case ParamKind::Float:
      if (auto x = literal_number(v)) return AttrValue{*x};
      error(a.loc, head + "a number literal (e.g. " + p.name + "=0.5), got " + what_is(v));
      return std::nullopt;
    case ParamKind::Bool:
      if (auto* b = v.as<BoolLit>()) return AttrValue{b->value};
      error(a.loc, head + "true or false, got " + what_is(v));
      return std::nullopt;
    case ParamKind::Dims: {
      const ListLit* list = v.as<ListLit>();
      std::vector<int64_t> dims;
      for (size_t i = 0; list && i < list->elems.size(); ++i) {
        auto d = literal_integer(*list->elems[i]);
        if (!d) {
          error(list->elems[i]->begin,
                head + "a list of integers, got " + what_is(*list->elems[i]) + " in the list");
          return std::nullopt;
        }
        dims.push_back(*d);
      }
      if (list) return AttrValue{std::move(dims)};
      error(a.loc, head + "a list of integers (e.g. [2, -1]), got " + what_is(v));
      return std::nullopt;
    }
    case ParamKind::Tensor:
      break;
  }
  throw std::logic_error("attr_argument on a tensor parameter");
}

}  // namespace adjoint::frontend
