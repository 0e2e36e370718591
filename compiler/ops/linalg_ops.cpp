// Linear algebra: matmul with transpose flags, and transpose.
//
// matmul reads either operand transposed (`ta`, `tb`), so every adjoint of a
// matrix product is again a single matmul with flags: the backward pass never
// materialises a transposed copy.
#include "ops/rules.hpp"

namespace adjoint {
namespace {

using V = std::vector<ValueId>;

// "f32[10,128].T" when the operand is read transposed.
std::string operand_str(const Type& t, bool transposed) {
  return t.str() + (transposed ? ".T" : "");
}

// An attribute that, when present, must be a bool (or an int used as one).
bool is_flag_attr_ok(const Attrs& attrs, const std::string& name) {
  const AttrValue* v = attrs.find(name);
  return !v || std::holds_alternative<bool>(*v) || std::holds_alternative<int64_t>(*v);
}

// matmul(a, b){ta, tb}: A = ta ? a^T : a is [m,k], B = tb ? b^T : b is [k,n].
TypeResult matmul_type(const std::vector<Type>& args, const Attrs& attrs, const TypeContext& cx) {
  for (size_t i = 0; i < 2; ++i)
    if (std::string e = rules::expect_float(args, i, cx); !e.empty()) return TypeResult::fail(e);
  if (!is_flag_attr_ok(attrs, "ta") || !is_flag_attr_ok(attrs, "tb"))
    return TypeResult::fail("needs boolean 'ta' and 'tb' attributes");
  bool ta = attrs.get_bool("ta"), tb = attrs.get_bool("tb");
  const Type& a = args[0];
  const Type& b = args[1];
  std::string both = operand_str(a, ta) + " @ " + operand_str(b, tb);
  if (a.rank() != 2 || b.rank() != 2) return TypeResult::fail("needs rank-2 operands: " + both);
  const Dim& m = a.shape[ta ? 1 : 0];
  const Dim& ka = a.shape[ta ? 0 : 1];
  const Dim& kb = b.shape[tb ? 1 : 0];
  const Dim& n = b.shape[tb ? 0 : 1];
  if (ka != kb)
    return TypeResult::fail("needs matching inner sizes: " + both + " (" + ka.str() +
                            " != " + kb.str() + ")");
  return {Type{a.dtype, {m, n}}, ""};
}

DTensor eval_matmul(const std::vector<const DTensor*>& args, const Attrs& attrs,
                    const Dims& out_shape) {
  const DTensor& a = *args[0];
  const DTensor& b = *args[1];
  bool ta = attrs.get_bool("ta"), tb = attrs.get_bool("tb");
  int64_t m = out_shape[0], n = out_shape[1];
  int64_t k = a.shape[ta ? 0 : 1];
  // Element (i, j) of the logical operand, whichever way it is stored.
  auto at_a = [&](int64_t i, int64_t p) { return ta ? a[p * m + i] : a[i * k + p]; };
  auto at_b = [&](int64_t p, int64_t j) { return tb ? b[j * k + p] : b[p * n + j]; };
  DTensor out(out_shape);
  for (int64_t i = 0; i < m; ++i)
    for (int64_t j = 0; j < n; ++j) {
      double s = 0;
      for (int64_t p = 0; p < k; ++p) s += at_a(i, p) * at_b(p, j);
      out[i * n + j] = s;
    }
  return out;
}

ValueId matmul(Builder& b, ValueId x, ValueId y, bool ta, bool tb) {
  Attrs attrs;
  if (ta) attrs.set("ta", true);
  if (tb) attrs.set("tb", true);
  return b.make(OpKind::matmul, {x, y}, std::move(attrs));
}

// C = A B with A = op(a) [m,k], B = op(b) [k,n], dC [m,n]. Logically
// dA = dC B^T and dB = A^T dC; when an operand is stored transposed its
// gradient is the transpose of that, which is again one product with flags:
//   ta=0 tb=0:  da = dC b^T        [m,n][n,k]  ; db = a^T dC        [k,m][m,n]
//   ta=0 tb=1:  da = dC b          [m,n][n,k]  ; db = dC^T a        [n,m][m,k]
//   ta=1 tb=0:  da = b dC^T        [k,n][n,m]  ; db = a dC          [k,m][m,n]
//   ta=1 tb=1:  da = b^T dC^T      [k,n][n,m]  ; db = dC^T a^T      [n,m][m,k]
V vjp_matmul(VjpContext& c) {
  Builder& b = c.b;
  bool ta = c.node.attrs.get_bool("ta"), tb = c.node.attrs.get_bool("tb");
  ValueId x = c.arg(0), y = c.arg(1), dc = c.dy;
  ValueId da = kNoValue, db = kNoValue;
  if (c.needs[0]) da = ta ? matmul(b, y, dc, tb, true) : matmul(b, dc, y, false, !tb);
  if (c.needs[1]) db = tb ? matmul(b, dc, x, true, ta) : matmul(b, x, dc, !ta, false);
  return {da, db};
}

TypeResult transpose_type(const std::vector<Type>& args, const Attrs&, const TypeContext& cx) {
  if (std::string e = rules::expect_float(args, 0, cx); !e.empty()) return TypeResult::fail(e);
  if (args[0].rank() != 2) return TypeResult::fail("needs a rank-2 operand, got " + args[0].str());
  return {Type{args[0].dtype, {args[0].shape[1], args[0].shape[0]}}, ""};
}

DTensor eval_transpose(const std::vector<const DTensor*>& args, const Attrs&,
                       const Dims& out_shape) {
  const DTensor& x = *args[0];
  int64_t rows = x.shape[0], cols = x.shape[1];
  DTensor out(out_shape);
  for (int64_t i = 0; i < rows; ++i)
    for (int64_t j = 0; j < cols; ++j) out[j * rows + i] = x[i * cols + j];
  return out;
}

// y = x^T  =>  dx = dy^T
V vjp_transpose(VjpContext& c) {
  if (!c.needs[0]) return {kNoValue};
  return {c.b.make(OpKind::transpose, {c.dy})};
}

// One case per flag combination for C [3,2] = A [3,4] B [4,2], plus thin shapes.
std::vector<CheckCase> matmul_checks() {
  std::vector<CheckCase> cases;
  for (bool ta : {false, true})
    for (bool tb : {false, true}) {
      Dims a = ta ? Dims{4, 3} : Dims{3, 4};
      Dims bs = tb ? Dims{2, 4} : Dims{4, 2};
      cases.push_back({.args = {{.shape = a}, {.shape = bs}}, .attrs = {{"ta", ta}, {"tb", tb}}});
    }
  cases.push_back({.args = {{.shape = {1, 5}}, {.shape = {5, 1}}}});
  cases.push_back({.args = {{.shape = {5, 1}}, {.shape = {1, 3}}}});
  return cases;
}

}  // namespace

void define_linalg_ops(OpTableBuilder& t) {
  t.define({.kind = OpKind::matmul,
            .arity = 2,
            .infer = matmul_type,
            .vjp = vjp_matmul,
            .eval = eval_matmul,
            .checks = matmul_checks(),
            .doc = "matrix product of rank-2 operands (`@`); ta/tb read an operand transposed"});
  t.define({.kind = OpKind::transpose,
            .arity = 1,
            .builtin = true,
            .signature = {{"x"}},
            .infer = transpose_type,
            .vjp = vjp_transpose,
            .eval = eval_transpose,
            .checks = {{.args = {{.shape = {3, 4}}}}, {.args = {{.shape = {1, 5}}}}},
            .doc = "transpose of a rank-2 tensor"});
}

}  // namespace adjoint
