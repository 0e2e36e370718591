#include "ops/op_table.hpp"

#include <array>
#include <cstdio>
#include <cstdlib>

namespace adjoint {

namespace {

const char* const kOpNames[] = {
#define OP(name) #name,
#include "ops/ops.def"
#undef OP
};

struct Table {
  std::array<OpInfo, kNumOps> rows;
  std::array<bool, kNumOps> defined{};
};

Table& table_storage() {
  static Table t;
  return t;
}

[[noreturn]] void table_bug(const std::string& msg) {
  std::fprintf(stderr, "adjoint: op table is inconsistent: %s\n", msg.c_str());
  std::abort();
}

std::vector<std::string>& problems_storage() {
  static std::vector<std::string> p;
  return p;
}

// Builds the table once and records every op of ops.def without a complete row.
const Table& table() {
  static const Table& t = [] () -> const Table& {
    OpTableBuilder b;
    define_leaf_ops(b);
    define_elementwise_ops(b);
    define_linalg_ops(b);
    define_reduce_ops(b);
    define_loss_ops(b);
    define_shape_ops(b);
    define_index_ops(b);
    define_conv_ops(b);
    define_pool_ops(b);
    Table& s = table_storage();
    auto& problems = problems_storage();
    for (size_t i = 0; i < kNumOps; ++i) {
      const OpInfo& r = s.rows[i];
      std::string n = kOpNames[i];
      if (!s.defined[i]) {
        problems.push_back("op '" + n + "' has no row");
        continue;
      }
      bool leaf = is_leaf(r.kind);
      if (!r.infer) problems.push_back("op '" + n + "' has no type rule");
      if (!leaf && !r.expand && !r.eval) problems.push_back("op '" + n + "' has no reference evaluation");
      if (!leaf && r.kind != OpKind::constant && !r.expand && !r.vjp)
        problems.push_back("op '" + n + "' has no VJP rule");
      if (!leaf && r.kind != OpKind::constant && r.checks.empty())
        problems.push_back("op '" + n + "' has no gradient-check case");
      if (r.builtin && r.signature.empty()) problems.push_back("builtin '" + n + "' has no signature");
    }
    return s;
  }();
  return t;
}

}  // namespace

void OpTableBuilder::define(OpInfo info) {
  Table& s = table_storage();
  size_t i = static_cast<size_t>(info.kind);
  if (s.defined[i]) table_bug(std::string("op '") + kOpNames[i] + "' defined twice");
  info.name = kOpNames[i];
  s.rows[i] = std::move(info);
  s.defined[i] = true;
}

const OpInfo& op_info(OpKind kind) {
  size_t i = static_cast<size_t>(kind);
  if (!table().defined[i]) table_bug(std::string("op '") + kOpNames[i] + "' has no row");
  return table().rows[i];
}

const std::vector<std::string>& op_table_problems() {
  table();
  return problems_storage();
}

std::optional<OpKind> op_by_name(std::string_view name) {
  for (size_t i = 0; i < kNumOps; ++i)
    if (name == kOpNames[i]) return static_cast<OpKind>(i);
  return std::nullopt;
}

std::optional<OpKind> builtin_by_name(std::string_view name) {
  auto k = op_by_name(name);
  if (k && table().defined[static_cast<size_t>(*k)] && op_info(*k).builtin) return k;
  return std::nullopt;
}

bool is_leaf(OpKind kind) { return kind == OpKind::input || kind == OpKind::param; }

std::vector<const OpInfo*> all_ops() {
  std::vector<const OpInfo*> out;
  for (size_t i = 0; i < kNumOps; ++i)
    if (table().defined[i]) out.push_back(&table().rows[i]);
  return out;
}

std::vector<ValueId> zero_vjp(VjpContext& cx) {
  return std::vector<ValueId>(cx.node.args.size(), kNoValue);
}

}  // namespace adjoint
