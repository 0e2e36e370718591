// Sema, defs: each def's body is checked once, before any call, for names
// that can never resolve and for recursion (direct or through other defs);
// a def that fails is marked bad and its calls are silent poison.
#include <algorithm>

#include "frontend/sema.hpp"

namespace adjoint::frontend {

namespace {

// Names of the functions a body calls, in order of appearance.
void collect_calls(const Expr& e, std::vector<const Call*>& out) {
  if (auto* c = e.as<Call>()) {
    out.push_back(c);
    for (const Arg& a : c->args) collect_calls(*a.value, out);
  } else if (auto* n = e.as<Negate>()) {
    collect_calls(*n->operand, out);
  } else if (auto* t = e.as<TransposeExpr>()) {
    collect_calls(*t->operand, out);
  } else if (auto* b = e.as<Binary>()) {
    collect_calls(*b->lhs, out);
    collect_calls(*b->rhs, out);
  } else if (auto* l = e.as<ListLit>()) {
    for (const ExprPtr& x : l->elems) collect_calls(*x, out);
  }
}

}  // namespace

void Sema::check_defs() {
  for (const Stmt& s : ast_.stmts) {
    const DefStmt* d = s.as<DefStmt>();
    if (!d || first_binding(d->name) != &s) continue;
    if (builtin_by_name(d->name)) {
      error(s.name_loc, "'" + d->name + "' is a built-in function; a def cannot take its name");
      continue;
    }
    bool ok = true;
    for (size_t i = 0; i < d->params.size(); ++i)
      for (size_t j = 0; j < i; ++j)
        if (d->params[i].name == d->params[j].name) {
          error(d->params[i].loc, "parameter '" + d->params[i].name + "' appears twice");
          ok = false;
        }
    ok = check_def_body(*d, *d->body) && ok;
    if (!ok) bad_defs_.insert(d->name);
  }
  find_recursion();
}

// Names that cannot resolve at any call: neither a parameter nor bound by any
// statement of the file; callees that are neither defs nor builtins.
bool Sema::check_def_body(const DefStmt& def, const Expr& e) {
  auto is_param = [&](const std::string& n) {
    return std::any_of(def.params.begin(), def.params.end(),
                       [&](const DefParam& p) { return p.name == n; });
  };
  if (auto* name = e.as<NameRef>()) {
    if (is_param(name->name)) return true;
    const Stmt* s = first_binding(name->name);
    if (s && !s->as<DefStmt>()) return true;
    if (s || builtin_by_name(name->name)) {
      error(e.loc, "'" + name->name + "' is a function; call it with arguments, e.g. " +
                       name->name + "(x)");
      return false;
    }
    std::vector<std::string> names;
    for (const DefParam& p : def.params) names.push_back(p.name);
    for (const auto& [n, st] : first_binding_)
      if (!st->as<DefStmt>()) names.push_back(n);
    error(e.loc,
          "unknown name '" + name->name + "'" +
              (diags_.error_count() < Diagnostics::kMaxErrors ? closest_name(name->name, names)
                                                              : std::string()));
    return false;
  }
  bool ok = true;
  if (auto* c = e.as<Call>()) {
    const Stmt* callee = first_binding(c->callee);
    if (callee && callee->as<InvalidStmt>()) {
      ok = false;  // its statement failed to parse; already reported
    } else if (!is_def_name(c->callee) && !builtin_by_name(c->callee)) {
      std::string msg = first_binding(c->callee) || is_param(c->callee)
                            ? "'" + c->callee + "' is a value, not a function"
                            : "unknown function '" + c->callee + "'" + suggest_function(c->callee);
      error(e.loc, msg);
      ok = false;
    }
    for (const Arg& a : c->args) ok = check_def_body(def, *a.value) && ok;
  } else if (auto* n = e.as<Negate>()) {
    ok = check_def_body(def, *n->operand);
  } else if (auto* t = e.as<TransposeExpr>()) {
    ok = check_def_body(def, *t->operand);
  } else if (auto* b = e.as<Binary>()) {
    ok = check_def_body(def, *b->lhs);
    ok = check_def_body(def, *b->rhs) && ok;
  } else if (auto* l = e.as<ListLit>()) {
    for (const ExprPtr& x : l->elems) ok = check_def_body(def, *x) && ok;
  }
  return ok;
}

// Depth-first search over "def calls def", with an explicit stack (a file can
// chain thousands of defs); a def reached again while still on the path
// closes a cycle, reported once at the def where the cycle starts.
void Sema::find_recursion() {
  enum class Mark { New, Active, Done };
  struct Visit {
    const DefStmt* def;
    std::vector<const Call*> calls;
    size_t next = 0;
  };
  std::map<std::string, Mark> mark;
  std::vector<Visit> path;
  auto enter = [&](const DefStmt* d) {
    mark[d->name] = Mark::Active;
    path.push_back({d, {}, 0});
    collect_calls(*d->body, path.back().calls);
  };
  for (const Stmt& s : ast_.stmts) {
    const DefStmt* root = s.as<DefStmt>();
    if (!root || !defs_.count(root->name) || defs_.at(root->name) != root ||
        mark[root->name] != Mark::New)
      continue;
    enter(root);
    while (!path.empty()) {
      Visit& top = path.back();
      if (top.next == top.calls.size()) {
        mark[top.def->name] = Mark::Done;
        path.pop_back();
        continue;
      }
      const std::string& callee = top.calls[top.next++]->callee;
      auto it = defs_.find(callee);
      if (it == defs_.end()) continue;
      Mark m = mark[callee];
      if (m == Mark::New) {
        enter(it->second);
      } else if (m == Mark::Active) {
        auto start = std::find_if(path.begin(), path.end(),
                                  [&](const Visit& v) { return v.def == it->second; });
        std::string cycle;
        for (auto v = start; v != path.end(); ++v) cycle += v->def->name + " -> ";
        cycle += callee;
        error(first_binding(callee)->name_loc,
              "'" + callee + "' is recursive (" + cycle +
                  "); defs are inlined at each call, so recursion is not allowed");
        for (auto v = start; v != path.end(); ++v) bad_defs_.insert(v->def->name);
      }
    }
  }
}

// ---------------------------------------------------------------- suggestions

// Optimal string alignment distance: insertions, deletions, substitutions and
// swaps of two neighbours ("tahn" -> "tanh") each cost 1.
size_t edit_distance(const std::string& a, const std::string& b) {
  std::vector<std::vector<size_t>> d(a.size() + 1, std::vector<size_t>(b.size() + 1));
  for (size_t i = 0; i <= a.size(); ++i) d[i][0] = i;
  for (size_t j = 0; j <= b.size(); ++j) d[0][j] = j;
  for (size_t i = 1; i <= a.size(); ++i)
    for (size_t j = 1; j <= b.size(); ++j) {
      size_t cost = a[i - 1] == b[j - 1] ? 0 : 1;
      d[i][j] = std::min({d[i - 1][j] + 1, d[i][j - 1] + 1, d[i - 1][j - 1] + cost});
      if (i > 1 && j > 1 && a[i - 1] == b[j - 2] && a[i - 2] == b[j - 1])
        d[i][j] = std::min(d[i][j], d[i - 2][j - 2] + 1);
    }
  return d[a.size()][b.size()];
}

// "; did you mean 'x'?" for the closest candidate within a third of the
// name's length (at least 1 edit, but never all of a short name), or "".
std::string closest_name(const std::string& name, const std::vector<std::string>& candidates) {
  size_t limit = std::max<size_t>(1, name.size() / 3);
  std::string best;
  size_t best_d = limit + 1;
  for (const std::string& c : candidates) {
    if (c == name || c.size() > name.size() + limit || name.size() > c.size() + limit) continue;
    size_t d = edit_distance(name, c);
    if (d < best_d && d < name.size()) {
      best_d = d;
      best = c;
    }
  }
  return best.empty() ? "" : "; did you mean '" + best + "'?";
}

// Suggestions cost a scan of every name, so a file that already has many
// errors (all of them dropped from the output by now) skips them.
std::string Sema::suggest_value(const std::string& name) const {
  if (diags_.error_count() >= Diagnostics::kMaxErrors) return "";
  std::vector<std::string> names;
  if (!frames_.empty())
    for (const auto& [n, v] : *frames_.back().locals) names.push_back(n);
  for (const auto& [n, sym] : globals_) names.push_back(n);
  return closest_name(name, names);
}

std::string Sema::suggest_function(const std::string& name) const {
  if (diags_.error_count() >= Diagnostics::kMaxErrors) return "";
  std::vector<std::string> names;
  for (const auto& [n, d] : defs_) names.push_back(n);
  for (const OpInfo* info : all_ops())
    if (info->builtin) names.push_back(info->name);
  return closest_name(name, names);
}

}  // namespace adjoint::frontend
