// Explanations of a compiled model: the gradient as math, the graph as DOT,
// and a FLOP/byte cost table. Everything here reads the `opt` stage (the
// optimised forward + adjoint graph); nothing is templated per network.
//
// The gradient formula is an expression tree built by walking the adjoint IR
// from each gradient back to the loss seed. The same tree is what gets printed
// and what evaluate_explanation() runs, so a test can check that the printed
// formula equals the gradient numerically.
#pragma once

#include <optional>
#include <string>
#include <vector>

#include "eval/evaluator.hpp"
#include "ir/graph.hpp"

namespace adjoint::explain {

// One node of the expression tree. Op nodes mirror IR ops (reshapes are kept
// for evaluation but printed through); Ref nodes name a definition.
struct Expr {
  enum class Kind { Leaf, Ref, Op } kind = Kind::Op;
  OpKind op{};
  Attrs attrs;
  Type type;
  std::vector<int> args;  // indices into Explanation::exprs
  std::string name;       // Leaf: the input/param name
  int def = -1;           // Ref: index into Explanation::defs
};

struct Definition {
  std::string name;  // user's forward name (a1), or "" for a shared subterm
  int delta = 0;     // shared subterm δ_k (k >= 1), 0 for a forward name
  int root = -1;     // its expression
};

struct GradExpr {
  std::string wrt;
  int root = -1;
};

struct Explanation {
  std::string model;
  std::string loss;  // the minimised value's name ("C" when unnamed)
  std::vector<Expr> exprs;
  std::vector<Definition> defs;  // in dependency order (each uses only earlier ones)
  std::vector<GradExpr> grads;
};

// Builds the explanation of `opt` (a graph after reverse mode). `wrt` limits
// it to one gradient; nullopt with a message in `error` if there is no such
// gradient or no gradient at all.
std::optional<Explanation> build_explanation(const Graph& opt, const std::string& wrt,
                                             std::string& error);

enum class Notation { unicode, ascii, latex };
// The formulas: definitions, then each gradient (compact and expanded). For
// LaTeX, a complete document.
std::string render_explanation(const Explanation& e, Notation n);

// Evaluates each gradient's tree on `leaves` ("grad.NAME" keys, like
// evaluate_results). Uses only the tree, never the graph.
TensorMap evaluate_explanation(const Explanation& e, const TensorMap& leaves);

// Graphviz DOT of the forward and adjoint graph.
std::string graph_dot(const Graph& opt);

// The cost table of `opt`; sizes of symbols not in `env` are taken as 1 (and
// the report says so). `sm`'s lines label the rows when available.
std::string cost_report(const Graph& opt, const DimEnv& env, const SourceManager* sm);

// The FLOPs of one fused step (forward and adjoint nodes of `opt`), counted as
// cost_report counts them; every size symbol must be in `env`.
struct StepFlops {
  double forward = 0, backward = 0;
  double total() const { return forward + backward; }
};
StepFlops step_flops(const Graph& opt, const DimEnv& env);

// A count for people, as `adjc cost` and `adjc bench` print them: 705,
// 16.4K, 13.02M, 4.30G.
std::string format_count(double v);

}  // namespace adjoint::explain
