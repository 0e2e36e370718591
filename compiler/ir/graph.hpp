// The IR: a typed, shaped SSA graph.
//
// Nodes live in one vector in topological order (every operand precedes its
// users); a ValueId is an index into it. Passes build new graphs rather than
// mutate in place, so a Graph is always well formed.
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <utility>
#include <vector>

#include "ir/attrs.hpp"
#include "ir/type.hpp"
#include "support/diagnostics.hpp"

namespace adjoint {

enum class OpKind : uint16_t {
#define OP(name) name,
#include "ops/ops.def"
#undef OP
};
constexpr size_t kNumOps = 0
#define OP(name) +1
#include "ops/ops.def"
#undef OP
    ;

using ValueId = int32_t;
constexpr ValueId kNoValue = -1;

struct Node {
  OpKind op{};
  std::vector<ValueId> args;
  Attrs attrs;
  Type type;
  SourceLoc loc;
  std::string name;      // the user's name for this value, if it was bound to one
  bool adjoint = false;  // created by reverse mode (part of the backward pass)
};

struct NamedValue {
  std::string name;
  ValueId value = kNoValue;
  bool operator==(const NamedValue&) const = default;
};

struct Graph {
  std::string model;
  DType float_type = DType::f32;
  std::vector<Node> nodes;
  std::optional<ValueId> loss;      // the minimised scalar
  std::vector<std::string> wrt;     // names of the inputs/params differentiated
  std::vector<NamedValue> outputs;  // `output` values, by name
  std::vector<NamedValue> grads;    // after reverse mode: gradient of loss w.r.t. each wrt name

  const Node& node(ValueId v) const { return nodes.at(static_cast<size_t>(v)); }
  Node& node(ValueId v) { return nodes.at(static_cast<size_t>(v)); }
  const Type& type(ValueId v) const { return node(v).type; }
  ValueId size() const { return static_cast<ValueId>(nodes.size()); }

  // Input and param leaves, in declaration order.
  std::vector<ValueId> inputs() const;
  std::vector<ValueId> params() const;
  // The leaf (input or param) declared with `name`, if any.
  std::optional<ValueId> leaf(const std::string& name) const;
  // Symbolic sizes used by the inputs' shapes, in order of first appearance.
  std::vector<std::string> size_symbols() const;
  // Number of users of each node, counting the graph's results as users.
  std::vector<int> use_counts() const;
};

}  // namespace adjoint
