// Sema: checks an AST and lowers it to the IR graph in one walk.
//
// What it guarantees: every IR node is built through Builder::try_make (so it
// is type-checked by its op's rule) with the SourceLoc of the AST node it comes
// from; every user error is reported once, at the user's text, and does not
// cascade (a statement that fails binds its name to a poison marker, and uses
// of poison stay silent).
//
// Names (decisions the language leaves open):
//  - Two namespaces. Functions are defs and builtins; values are inputs,
//    params, bound values and def parameters. `f(...)` always calls a
//    function, a bare `f` always names a value.
//  - Every statement binds its name once across both (rebinding an input,
//    param, value or def is an error). A def may not take a builtin's name
//    (it would silently change what the builtin means); a value may (as in
//    NumPy code, `mean = mean(x)` is fine: calls and values cannot be confused).
//  - Defs are visible everywhere in the file (a def may call later defs), are
//    inlined at each call with their parameters shadowing globals, and may not
//    be recursive, directly or through other defs.
//  - Values are bound in order: a use before the binding is an error.
//    `minimize` and `output` may appear anywhere; they are resolved at the end.
#pragma once

#include <map>
#include <optional>
#include <set>
#include <string>
#include <vector>

#include "frontend/ast.hpp"
#include "ir/builder.hpp"
#include "ops/op_table.hpp"

namespace adjoint::frontend {

// A value whose computation failed (and was reported); anything built from it
// fails silently.
constexpr ValueId kPoison = kNoValue;

class Sema {
 public:
  static constexpr size_t kMaxInlineDepth = 64;  // nested def calls
  static constexpr size_t kMaxNodes = 500'000;   // IR nodes, after inlining

  Sema(const Ast& ast, const SourceManager& sm, uint32_t file, Diagnostics& diags);
  std::optional<Graph> run();

 private:
  enum class SymKind { Input, Param, Value, Poison };
  struct Symbol {
    SymKind kind = SymKind::Poison;
    ValueId value = kPoison;
  };
  struct Frame {  // one def being inlined
    const DefStmt* def;
    SourceLoc call_loc;
    const std::map<std::string, ValueId>* locals;
  };

  // --- sema.cpp: statements ---
  void collect_bindings();
  void choose_float_type();
  void run_statement(const Stmt& s);
  bool claim_name(const Stmt& s, const std::string& name);
  void bind(const std::string& name, SymKind kind, ValueId v);
  void declare_leaf(const Stmt& s, OpKind kind, const std::string& name, const TypeExpr& type,
                    const Expr* init);
  void run_let(const Stmt& s, const LetStmt& let);
  void resolve_minimize();
  void resolve_outputs();
  std::optional<ValueId> result_value(const NameUse& use, const char* role);
  std::string default_model_name() const;
  void error(SourceLoc loc, std::string message);
  // Whether the number fits the model's float type (an f32 model's 1e39
  // would silently become inf); else an error at loc.
  bool fits_float_type(double v, SourceLoc loc);
  void note(SourceLoc loc, std::string message);

  // --- sema_decls.cpp: types and initialisers ---
  std::optional<Type> check_type(const TypeExpr& t, bool is_param);
  void collect_input_sizes();
  bool check_init(const Expr* init, Attrs& attrs);

  // --- sema_expr.cpp: expressions ---
  ValueId eval(const Expr& e);
  ValueId eval_binary(const Expr& e, const Binary& bin);
  ValueId eval_matmul(const Expr& e, ValueId a, ValueId b);
  ValueId eval_pow(const Expr& e, const Binary& bin);
  ValueId lookup_value(const std::string& name, SourceLoc loc);
  ValueId make(SourceLoc loc, OpKind op, std::vector<ValueId> args, Attrs attrs,
               const std::string& label);
  void report_too_big(SourceLoc loc);

  // --- sema_call.cpp: calls ---
  ValueId eval_call(const Expr& e, const Call& call);
  ValueId call_def(const Expr& e, const Call& call, const DefStmt& def);
  ValueId call_builtin(const Expr& e, const Call& call, OpKind op);
  std::optional<AttrValue> attr_argument(const std::string& fn, const ParamSpec& spec,
                                         const Arg& arg);

  // --- sema_defs.cpp: defs checked once, before any call ---
  void check_defs();
  bool check_def_body(const DefStmt& def, const Expr& e);
  void find_recursion();
  std::string suggest_value(const std::string& name) const;
  std::string suggest_function(const std::string& name) const;
  const Stmt* first_binding(const std::string& name) const;
  bool is_def_name(const std::string& name) const;

  const Ast& ast_;
  const SourceManager& sm_;
  uint32_t file_;
  Diagnostics& diags_;
  Graph graph_;
  Builder b_;

  std::map<std::string, const Stmt*> first_binding_;  // every name any statement binds
  std::map<std::string, const DefStmt*> defs_;        // callable defs, by name
  std::set<std::string> bad_defs_;                    // defs whose calls are poison
  std::set<std::string> input_sizes_;                 // symbolic sizes of any input's shape
  std::map<std::string, Symbol> globals_;             // values bound so far
  std::vector<Frame> frames_;                         // defs being inlined, innermost last
  std::optional<SourceLoc> float_decl_;               // where the float type was chosen
  const Stmt* model_stmt_ = nullptr;
  const Stmt* minimize_stmt_ = nullptr;
  std::vector<const Stmt*> output_stmts_;
  std::set<std::string> reported_;  // "loc|message" of errors already shown
  size_t inlined_calls_ = 0;        // bounds the work of expanding defs, even into poison
  // (def, argument types) whose expansion failed: later such calls are poison
  // at once, so a failing def called at every level of a def tree costs one
  // expansion per level, not one per path.
  std::set<std::pair<const DefStmt*, std::string>> failed_calls_;
  bool too_big_ = false;
};

// Edit distance with a cap, for "did you mean" hints.
size_t edit_distance(const std::string& a, const std::string& b);
// The closest of `candidates` to `name`, or "" when none is close.
std::string closest_name(const std::string& name, const std::vector<std::string>& candidates);

}  // namespace adjoint::frontend
