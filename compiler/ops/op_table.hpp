// The op table: one row per op of ops.def, holding everything the compiler
// knows about it. Nothing else in the compiler lists ops by name.
//
// Recipe for a new op: add OP(name) to ops.def; in the family file under
// compiler/ops/ add a row with its type rule, VJP rule (math in a comment),
// reference evaluation and at least one gradient-check case. The table check
// at start-up and tests/test_gradcheck.cpp cover the rest.
#pragma once

#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "eval/dtensor.hpp"
#include "ir/graph.hpp"

namespace adjoint {

class Builder;

struct TypeContext {
  DType float_type = DType::f32;
};

// Result of a type rule: the result type, or a message for the user (the
// caller adds the location and the operand types where useful).
struct TypeResult {
  Type type;
  std::string error;
  bool ok() const { return error.empty(); }
  static TypeResult fail(std::string message) { return {Type{}, std::move(message)}; }
};
using TypeRule = TypeResult (*)(const std::vector<Type>& args, const Attrs& attrs,
                                const TypeContext& cx);

// What a VJP rule sees. Nodes it builds through `b` are adjoint nodes at the
// forward node's location.
struct VjpContext {
  Builder& b;
  const Node& node;         // the forward node
  ValueId out;              // its value
  ValueId dy;               // adjoint of `out`, same type as `out`
  std::vector<bool> needs;  // operand i needs a gradient
  ValueId arg(size_t i) const { return node.args[i]; }
};
// One contribution per operand (kNoValue: none, i.e. zero). Each contribution
// has exactly the operand's type.
using VjpRule = std::vector<ValueId> (*)(VjpContext& cx);

// Reference semantics in double precision. `out_shape` is the result's shape
// with every size bound. Runtime errors (an index out of range) throw Error.
using EvalRule = DTensor (*)(const std::vector<const DTensor*>& args, const Attrs& attrs,
                             const Dims& out_shape);

// Composite ops are rewritten into other ops as they are built (mean is
// sum / numel); they need no VJP or evaluation of their own.
using ExpandRule = ValueId (*)(Builder& b, const std::vector<ValueId>& args, const Attrs& attrs);

// A builtin's parameters, in call order: tensors are operands, the rest attributes.
enum class ParamKind { Tensor, Int, Float, Bool, Dims };
struct ParamSpec {
  std::string name;
  ParamKind kind = ParamKind::Tensor;
  std::optional<AttrValue> dflt;  // none: required (tensors) or absent (optional attrs)
  bool optional = false;          // an attribute that may be absent (sum's axis)
};

// Gradient-check inputs. Domains keep samples away from kinks and poles.
enum class Domain {
  Real,      // uniform in [-2, 2]
  Positive,  // uniform in [0.5, 2]
  NonZero,   // |x| in [0.2, 2], random sign (relu, abs kinks)
  Distinct,  // pairwise separated by >= 0.05 across all Distinct args (max ties)
  Index,     // integers in [0, bound)
};
struct CheckArg {
  Dims shape;
  Domain domain = Domain::Real;
  int64_t bound = 0;  // for Index
};
struct CheckCase {
  std::vector<CheckArg> args;
  Attrs attrs;
  double step = 1e-3;  // finite-difference step (four-point central differences)
};

struct OpInfo {
  OpKind kind{};
  std::string name;
  int arity = 0;                   // tensor operands
  bool builtin = false;            // callable by name from .adj
  std::vector<ParamSpec> signature;  // builtin's parameters (tensors first, in order)
  TypeRule infer = nullptr;
  ExpandRule expand = nullptr;
  VjpRule vjp = nullptr;  // every non-leaf primitive has one (zero_vjp if piecewise constant)
  EvalRule eval = nullptr;
  std::vector<CheckCase> checks;  // empty only for leaves
  std::string doc;                // one line for the docs
};

const OpInfo& op_info(OpKind kind);
inline const std::string& op_name(OpKind kind) { return op_info(kind).name; }
std::optional<OpKind> op_by_name(std::string_view name);
std::optional<OpKind> builtin_by_name(std::string_view name);
bool is_leaf(OpKind kind);  // input, param
// Every defined row.
std::vector<const OpInfo*> all_ops();
// Ops of ops.def whose row is missing or incomplete; a test asserts it is empty.
const std::vector<std::string>& op_table_problems();

// A VJP for ops whose result is piecewise constant in every operand.
std::vector<ValueId> zero_vjp(VjpContext& cx);

// Families register their rows here (one function per file in compiler/ops/).
class OpTableBuilder {
 public:
  void define(OpInfo info);
};
void define_leaf_ops(OpTableBuilder& t);
void define_elementwise_ops(OpTableBuilder& t);
void define_linalg_ops(OpTableBuilder& t);
void define_reduce_ops(OpTableBuilder& t);
void define_loss_ops(OpTableBuilder& t);
void define_shape_ops(OpTableBuilder& t);
void define_index_ops(OpTableBuilder& t);
void define_conv_ops(OpTableBuilder& t);
void define_pool_ops(OpTableBuilder& t);

}  // namespace adjoint
