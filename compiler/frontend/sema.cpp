// Sema, statement level: bindings, declarations, minimize and output.
#include "frontend/sema.hpp"

#include <algorithm>

namespace adjoint::frontend {

namespace {

std::string line_col(SourceLoc loc) {
  return std::to_string(loc.line) + ":" + std::to_string(loc.col);
}

// Something `NAME` can be in C (the compiled functions are NAME_forward, ...).
std::string identifier_from(std::string s) {
  for (char& c : s)
    if (!std::isalnum(static_cast<unsigned char>(c)) && c != '_') c = '_';
  if (s.empty()) return "model";
  if (std::isdigit(static_cast<unsigned char>(s[0]))) s = "_" + s;
  return s;
}

}  // namespace

Sema::Sema(const Ast& ast, const SourceManager& sm, uint32_t file, Diagnostics& diags)
    : ast_(ast), sm_(sm), file_(file), diags_(diags), b_(graph_) {}

std::optional<Graph> Sema::run() {
  collect_bindings();
  choose_float_type();
  graph_.model = default_model_name();
  check_defs();
  collect_input_sizes();
  for (const Stmt& s : ast_.stmts) run_statement(s);
  resolve_minimize();
  resolve_outputs();
  if (diags_.has_errors()) return std::nullopt;
  return std::move(graph_);
}

// ---------------------------------------------------------------- diagnostics

// Each distinct error is shown once (an error in a def body that does not
// depend on the arguments would otherwise repeat at every call), with a note
// at every call site that led to it.
void Sema::error(SourceLoc loc, std::string message) {
  std::string key = line_col(loc) + "|" + message;
  if (!reported_.insert(key).second) return;
  diags_.error(loc, std::move(message));
  for (auto f = frames_.rbegin(); f != frames_.rend(); ++f)
    diags_.note(f->call_loc, "in the call to '" + f->def->name + "' here");
}

void Sema::note(SourceLoc loc, std::string message) { diags_.note(loc, std::move(message)); }

// ---------------------------------------------------------------- first pass

void Sema::collect_bindings() {
  for (const Stmt& s : ast_.stmts) {
    if (const std::string* name = bound_name(s)) first_binding_.emplace(*name, &s);
    // A def named like a builtin is reported by check_defs() and never called:
    // the name keeps meaning the builtin.
    if (const DefStmt* d = s.as<DefStmt>();
        d && first_binding_.at(d->name) == &s && !builtin_by_name(d->name))
      defs_.emplace(d->name, d);
  }
}

// The first f32/f64 declaration fixes the model's float type (f32 if none).
void Sema::choose_float_type() {
  for (const Stmt& s : ast_.stmts) {
    const TypeExpr* t = nullptr;
    if (auto* in = s.as<InputStmt>()) t = &in->type;
    if (auto* p = s.as<ParamStmt>()) t = &p->type;
    if (t && is_float(t->dtype)) {
      graph_.float_type = t->dtype;
      float_decl_ = t->loc;
      return;
    }
  }
}

std::string Sema::default_model_name() const {
  std::string name = sm_.name(file_);
  size_t slash = name.find_last_of("/\\");
  if (slash != std::string::npos) name = name.substr(slash + 1);
  size_t dot = name.find_last_of('.');
  if (dot != std::string::npos && dot > 0) name = name.substr(0, dot);
  return identifier_from(name);
}

const Stmt* Sema::first_binding(const std::string& name) const {
  auto it = first_binding_.find(name);
  return it == first_binding_.end() ? nullptr : it->second;
}

bool Sema::is_def_name(const std::string& name) const {
  const Stmt* s = first_binding(name);
  return s && s->as<DefStmt>() && !builtin_by_name(name);
}

// ---------------------------------------------------------------- statements

void Sema::run_statement(const Stmt& s) {
  if (auto* m = s.as<ModelStmt>()) {
    if (model_stmt_) {
      error(s.loc, "the model is already named '" + graph_.model + "' (one 'model' per file)");
      note(model_stmt_->loc, "named here");
      return;
    }
    model_stmt_ = &s;
    graph_.model = m->name;
  } else if (auto* in = s.as<InputStmt>()) {
    declare_leaf(s, OpKind::input, in->name, in->type, nullptr);
  } else if (auto* p = s.as<ParamStmt>()) {
    declare_leaf(s, OpKind::param, p->name, p->type, p->init.get());
  } else if (auto* d = s.as<DefStmt>()) {
    claim_name(s, d->name);  // checked in check_defs(); only the name is left
  } else if (auto* let = s.as<LetStmt>()) {
    run_let(s, *let);
  } else if (s.as<MinimizeStmt>()) {
    if (minimize_stmt_) {
      error(s.loc, "only one 'minimize' per model");
      note(minimize_stmt_->loc, "the first 'minimize' is here");
      return;
    }
    minimize_stmt_ = &s;
  } else if (s.as<OutputStmt>()) {
    output_stmts_.push_back(&s);
  } else if (auto* bad = s.as<InvalidStmt>()) {
    if (!bad->name.empty() && first_binding(bad->name) == &s)
      bind(bad->name, SymKind::Poison, kPoison);
  }
}

// True when `s` is the statement that binds `name`; otherwise reports the rebinding.
bool Sema::claim_name(const Stmt& s, const std::string& name) {
  const Stmt* first = first_binding(name);
  if (first == &s) return true;
  error(s.name_loc, "'" + name + "' is already bound; each name is bound once");
  note(first->name_loc, "'" + name + "' was first bound here");
  return false;
}

void Sema::bind(const std::string& name, SymKind kind, ValueId v) {
  globals_[name] = Symbol{kind, v};
}

void Sema::declare_leaf(const Stmt& s, OpKind kind, const std::string& name, const TypeExpr& type,
                        const Expr* init) {
  bool owner = claim_name(s, name);
  std::optional<Type> t = check_type(type, kind == OpKind::param);
  Attrs attrs{{"name", name}, {"dtype", std::string(dtype_name(type.dtype))}};
  bool init_ok = kind != OpKind::param || check_init(init, attrs);
  if (!owner) return;
  if (!t || !init_ok) return bind(name, SymKind::Poison, kPoison);
  attrs.set("shape", t->shape);
  ValueId v = make(s.name_loc, kind, {}, std::move(attrs), "'" + name + "'");
  if (v != kPoison) graph_.node(v).name = name;
  bind(name,
       v == kPoison            ? SymKind::Poison
       : kind == OpKind::input ? SymKind::Input
                               : SymKind::Param,
       v);
}

void Sema::run_let(const Stmt& s, const LetStmt& let) {
  bool owner = claim_name(s, let.name);
  ValueId v = eval(*let.value);
  if (!owner) return;
  if (v == kPoison) return bind(let.name, SymKind::Poison, kPoison);
  if (graph_.node(v).name.empty()) graph_.node(v).name = let.name;
  bind(let.name, SymKind::Value, v);
}

// ---------------------------------------------------------------- results

// The value a `minimize` or `output` names; nullopt (reported, or poison) if none.
std::optional<ValueId> Sema::result_value(const NameUse& use, const char* role) {
  auto it = globals_.find(use.name);
  if (it != globals_.end()) {
    if (it->second.kind == SymKind::Poison) return std::nullopt;
    return it->second.value;
  }
  if (is_def_name(use.name) || builtin_by_name(use.name)) {
    error(use.loc, "'" + use.name + "' is a function, not a value; " + role + " needs a value");
    return std::nullopt;
  }
  std::string hint = suggest_value(use.name);
  error(use.loc, "unknown name '" + use.name + "'" + hint);
  return std::nullopt;
}

void Sema::resolve_minimize() {
  if (!minimize_stmt_) return;
  const auto& m = *minimize_stmt_->as<MinimizeStmt>();
  ValueId loss = result_value(m.target, "'minimize'").value_or(kPoison);
  if (loss != kPoison) {
    const Type& t = graph_.type(loss);
    if (!is_float(t.dtype) || t.rank() != 0) {
      error(m.target.loc,
            "'" + m.target.name + "' must be a float scalar to be minimized, but it is " + t.str());
      loss = kPoison;
    }
  }
  std::vector<std::string> wrt;
  bool ok = loss != kPoison;
  for (const NameUse& w : m.wrt) {
    std::optional<ValueId> v = result_value(w, "'wrt'");
    if (!v) {
      ok = false;
      continue;
    }
    const Node& n = graph_.node(*v);
    bool leaf =
        (n.op == OpKind::input || n.op == OpKind::param) && n.attrs.get_str("name") == w.name;
    if (!leaf) {
      error(w.loc, "'" + w.name +
                       "' is not an input or param; 'wrt' lists the inputs and params "
                       "the gradient is taken with respect to");
      ok = false;
    } else if (!is_float(n.type.dtype)) {
      error(w.loc, "cannot differentiate with respect to '" + w.name + "': it is " + n.type.str() +
                       " (i32 values are labels and indices)");
      ok = false;
    } else if (std::find(wrt.begin(), wrt.end(), w.name) != wrt.end()) {
      error(w.loc, "'" + w.name + "' is listed twice after 'wrt'");
      ok = false;
    } else {
      wrt.push_back(w.name);
    }
  }
  if (!m.has_wrt)
    for (ValueId p : graph_.params()) wrt.push_back(graph_.node(p).attrs.get_str("name"));
  if (!ok) return;
  graph_.loss = loss;
  graph_.wrt = std::move(wrt);
}

void Sema::resolve_outputs() {
  for (const Stmt* s : output_stmts_) {
    for (const NameUse& use : s->as<OutputStmt>()->names) {
      std::optional<ValueId> v = result_value(use, "'output'");
      if (!v) continue;
      auto same = [&](const NamedValue& o) { return o.name == use.name; };
      if (std::any_of(graph_.outputs.begin(), graph_.outputs.end(), same)) {
        error(use.loc, "'" + use.name + "' is already an output");
        continue;
      }
      graph_.outputs.push_back({use.name, *v});
    }
  }
}

}  // namespace adjoint::frontend
