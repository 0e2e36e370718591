// Indexing: gather (embedding lookup) and scatter_add, each other's adjoints.
//
// Both take an i32 index tensor of any rank; a table row has D elements, so
// gather(table[V,D], idx[...]) is [..., D] and scatter_add(src[..., D], idx[...])
// is [rows, D]. Indices are checked at run time (the reference evaluator
// throws adjoint::Error for one outside the table).
#include <cmath>
#include <cstdio>

#include "ops/rules.hpp"

namespace adjoint {
namespace {

using V = std::vector<ValueId>;

std::string expect_index(const Type& t) {
  if (t.dtype == DType::i32) return "";
  return "needs i32 indices, got " + t.str();
}

// --- gather(table[V,D], idx[...]) -> [..., D]: y[p, :] = table[idx[p], :]. ---

TypeResult gather_type(const std::vector<Type>& args, const Attrs&, const TypeContext& cx) {
  if (std::string e = rules::expect_float(args, 0, cx); !e.empty()) return TypeResult::fail(e);
  if (std::string e = expect_index(args[1]); !e.empty()) return TypeResult::fail(e);
  const Type& table = args[0];
  if (table.rank() != 2)
    return TypeResult::fail("needs a table of rank 2 [V,D], got " + table.str());
  Shape out = args[1].shape;
  out.push_back(table.shape[1]);
  return {Type{table.dtype, out}, ""};
}

// The row that index element number `pos` selects; throws for one outside [0, rows).
int64_t checked_row(const DTensor& idx, size_t pos, int64_t rows, const std::string& op) {
  double v = idx[pos];
  if (v >= 0 && v < static_cast<double>(rows) && v == std::floor(v)) return static_cast<int64_t>(v);
  std::string where = "idx";
  if (idx.rank() > 0) {
    Dims at(idx.rank());
    size_t rest = pos;
    for (size_t i = idx.rank(); i-- > 0;) {
      at[i] = static_cast<int64_t>(rest % static_cast<size_t>(idx.shape[i]));
      rest /= static_cast<size_t>(idx.shape[i]);
    }
    where += dims_str(at);
  }
  char value[32];
  std::snprintf(value, sizeof value, "%.17g", v);
  throw Error("'" + op + "': index " + value + " at " + where + " is out of range for " +
              std::to_string(rows) + " rows (valid: 0 to " + std::to_string(rows - 1) + ")");
}

DTensor eval_gather(const std::vector<const DTensor*>& args, const Attrs&, const Dims& out_shape) {
  const DTensor& table = *args[0];
  const DTensor& idx = *args[1];
  int64_t rows = table.shape[0];
  size_t d = static_cast<size_t>(table.shape[1]);
  DTensor out(out_shape);
  for (size_t p = 0; p < idx.size(); ++p) {
    size_t row = static_cast<size_t>(checked_row(idx, p, rows, "gather"));
    for (size_t j = 0; j < d; ++j) out[p * d + j] = table[row * d + j];
  }
  return out;
}

// y[p, :] = table[idx[p], :]  =>  dtable[v, :] = sum over p with idx[p] = v of dy[p, :]
//                                 (scatter_add); none for idx (integers)
V vjp_gather(VjpContext& c) {
  auto& b = c.b;
  if (!c.needs[0]) return {kNoValue, kNoValue};
  Dim rows = b.shape(c.arg(0))[0];
  return {b.make(OpKind::scatter_add, {c.dy, c.arg(1)}, Attrs{{"rows", Shape{rows}}}), kNoValue};
}

// --- scatter_add(src[..., D], idx[...]){rows} -> [rows, D]: y[idx[p], :] += src[p, :]. ---

TypeResult scatter_add_type(const std::vector<Type>& args, const Attrs& attrs,
                            const TypeContext& cx) {
  if (std::string e = rules::expect_float(args, 0, cx); !e.empty()) return TypeResult::fail(e);
  if (std::string e = expect_index(args[1]); !e.empty()) return TypeResult::fail(e);
  const Type& src = args[0];
  const Type& idx = args[1];
  Shape lead(src.shape.begin(), src.shape.end() - (src.rank() ? 1 : 0));
  if (src.rank() != idx.rank() + 1 || lead != idx.shape)
    return TypeResult::fail("needs src of shape idx's shape + [D]: src " + src.str() + ", idx " +
                            idx.str());
  const AttrValue* v = attrs.find("rows");
  const Shape* rows = v ? std::get_if<Shape>(v) : nullptr;
  if (!rows || rows->size() != 1 || (*rows)[0].coeff() < 1)
    return TypeResult::fail("needs a positive rows=[V] attribute");
  return {Type{src.dtype, {(*rows)[0], src.shape.back()}}, ""};
}

DTensor eval_scatter_add(const std::vector<const DTensor*>& args, const Attrs&,
                         const Dims& out_shape) {
  const DTensor& src = *args[0];
  const DTensor& idx = *args[1];
  int64_t rows = out_shape[0];
  size_t d = static_cast<size_t>(out_shape[1]);
  DTensor out(out_shape);
  for (size_t p = 0; p < idx.size(); ++p) {
    size_t row = static_cast<size_t>(checked_row(idx, p, rows, "scatter_add"));
    for (size_t j = 0; j < d; ++j) out[row * d + j] += src[p * d + j];
  }
  return out;
}

// y[v, :] = sum over p with idx[p] = v of src[p, :]  =>  dsrc[p, :] = dy[idx[p], :] (gather);
// none for idx
V vjp_scatter_add(VjpContext& c) {
  if (!c.needs[0]) return {kNoValue, kNoValue};
  return {c.b.make(OpKind::gather, {c.dy, c.arg(1)}), kNoValue};
}

CheckCase lookup(Dims table, Dims idx, int64_t bound) {
  return {.args = {{.shape = std::move(table)},
                   {.shape = std::move(idx), .domain = Domain::Index, .bound = bound}}};
}

CheckCase scatter(Dims src, Dims idx, int64_t rows) {
  return {.args = {{.shape = std::move(src)},
                   {.shape = std::move(idx), .domain = Domain::Index, .bound = rows}},
          .attrs = {{"rows", Shape{rows}}}};
}

}  // namespace

void define_index_ops(OpTableBuilder& t) {
  t.define({.kind = OpKind::gather,
            .arity = 2,
            .builtin = true,
            .signature = {{"table"}, {"idx"}},
            .infer = gather_type,
            .vjp = vjp_gather,
            .eval = eval_gather,
            .checks = {lookup({5, 3}, {4}, 5), lookup({3, 2}, {7}, 3), lookup({4, 2}, {2, 3}, 4),
                       lookup({3, 4}, {}, 3)},
            .doc = "rows of table[V,D] picked by i32 indices: [..., D] (embedding lookup)"});
  t.define(
      {.kind = OpKind::scatter_add,
       .arity = 2,
       .infer = scatter_add_type,
       .vjp = vjp_scatter_add,
       .eval = eval_scatter_add,
       .checks = {scatter({4, 3}, {4}, 5), scatter({6, 2}, {6}, 3), scatter({2, 3, 2}, {2, 3}, 3)},
       .doc = "[rows, D] zeros with src[p, :] added to row idx[p] (the adjoint of gather)"});
}

}  // namespace adjoint
