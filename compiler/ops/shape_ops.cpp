// Shape ops: reshape, flatten (a reshape), concat, and slice/pad, which are
// each other's adjoints (and concat's).
//
// Sizes may be symbolic. A Dim is a monomial (coeff * product of symbols), so
// a sum or difference of two sizes is a Dim only when both have the same
// symbols (B + B = 2*B) or one of them is 0; where it is not, the type rule
// says so instead of guessing.
#include <stdexcept>

#include "ops/rules.hpp"

namespace adjoint {
namespace {

using V = std::vector<ValueId>;

// --- Size arithmetic on monomials. ---

bool is_zero(const Dim& d) { return d.is_const() && d.value() == 0; }

// `d`'s symbols with coefficient c (c = 0 gives the plain 0).
Dim with_coeff(const Dim& d, int64_t c) {
  Dim r = c;
  for (const std::string& s : d.symbols()) r = r * Dim::symbol(s);
  return r;
}

std::optional<Dim> add_dims(const Dim& a, const Dim& b) {
  if (is_zero(a)) return b;
  if (is_zero(b)) return a;
  if (a.symbols() != b.symbols()) return std::nullopt;
  return with_coeff(a, a.coeff() + b.coeff());
}

std::optional<Dim> sub_dims(const Dim& a, const Dim& b) {
  if (is_zero(b)) return a;
  if (a.symbols() != b.symbols()) return std::nullopt;
  return with_coeff(a, a.coeff() - b.coeff());
}

// The bound value of `d` in a call where `ref` has the value `ref_value`.
// Evaluation sees only bound result shapes, not the symbol environment, so a
// symbolic offset is recovered from a size of the same symbols (the type rules
// guarantee one exists: begin + size, before + after are Dims).
int64_t bind_dim(const Dim& d, const Dim& ref, int64_t ref_value) {
  if (d.is_const()) return d.value();
  if (d.symbols() != ref.symbols() || ref.coeff() == 0 || ref_value % ref.coeff() != 0)
    throw std::logic_error("cannot bind size " + d.str() + " from " + ref.str() + " = " +
                           std::to_string(ref_value));
  return d.coeff() * (ref_value / ref.coeff());
}

// An attribute holding exactly one Dim (slice's begin, pad's after).
std::optional<Dim> one_dim_attr(const Attrs& attrs, const std::string& name) {
  const AttrValue* v = attrs.find(name);
  const Shape* s = v ? std::get_if<Shape>(v) : nullptr;
  if (!s || s->size() != 1) return std::nullopt;
  return (*s)[0];
}

// A float operand of the model's type, or (for pure views) an i32 one.
std::string expect_tensor(const std::vector<Type>& args, size_t i, const TypeContext& cx,
                          bool allow_i32) {
  if (allow_i32 && args[i].dtype == DType::i32) return "";
  return rules::expect_float(args, i, cx);
}

// Reads and normalises an `axis` attribute for a rank-`rank` operand.
std::optional<int64_t> read_axis(const Attrs& attrs, int64_t dflt, size_t rank,
                                 std::string& error) {
  if (rank == 0) {
    error = "needs an operand of rank >= 1, got a scalar";
    return std::nullopt;
  }
  int64_t axis = rules::axis_attr(attrs, "axis", dflt, rank, error);
  if (!error.empty()) return std::nullopt;
  return axis;
}

// --- reshape(x, shape): same elements in row-major order, new shape. ---

// Resolves a target that may hold one -1 against x's shape; "" error when fine.
std::optional<Shape> resolve_reshape(const Type& x, const Shape& target, std::string& error) {
  std::string both = x.str() + " into " + shape_str(target);
  int wild = -1;
  Dim known = 1;
  for (size_t i = 0; i < target.size(); ++i) {
    const Dim& d = target[i];
    if (d.is_const() && d.value() == -1) {
      if (wild >= 0) {
        error = "allows at most one -1 in the target shape: cannot reshape " + both;
        return std::nullopt;
      }
      wild = static_cast<int>(i);
      continue;
    }
    if (d.coeff() <= 0) {
      error = "needs positive sizes: cannot reshape " + both + " (size " + d.str() + ")";
      return std::nullopt;
    }
    known = known * d;
  }
  Dim total = num_elements(x.shape);
  Shape out = target;
  if (wild >= 0) {
    std::optional<Dim> q = total.divide(known);
    if (!q) {
      error = "cannot turn " + both + ": " + total.str() + " elements are not a multiple of " +
              known.str();
      return std::nullopt;
    }
    out[static_cast<size_t>(wild)] = *q;
  } else if (known != total) {
    error = "cannot turn " + both + ": " + total.str() + " elements != " + known.str();
    return std::nullopt;
  }
  return out;
}

// The "shape" attribute: a Shape (from passes, may be symbolic) or a list of
// integers (as the front end writes a literal list).
std::optional<Shape> target_shape(const Attrs& attrs) {
  const AttrValue* v = attrs.find("shape");
  if (!v) return std::nullopt;
  if (const Shape* s = std::get_if<Shape>(v)) return *s;
  if (const auto* ints = std::get_if<std::vector<int64_t>>(v))
    return Shape(ints->begin(), ints->end());
  return std::nullopt;
}

TypeResult reshape_type(const std::vector<Type>& args, const Attrs& attrs, const TypeContext& cx) {
  if (std::string e = expect_tensor(args, 0, cx, true); !e.empty()) return TypeResult::fail(e);
  std::optional<Shape> target = target_shape(attrs);
  if (!target) return TypeResult::fail("needs a target shape, e.g. reshape(x, [-1, 28])");
  std::string error;
  std::optional<Shape> out = resolve_reshape(args[0], *target, error);
  if (!out) return TypeResult::fail(error);
  return {Type{args[0].dtype, *out}, ""};
}

DTensor eval_reshape(const std::vector<const DTensor*>& args, const Attrs&, const Dims& out_shape) {
  if (product(out_shape) != static_cast<int64_t>(args[0]->size()))
    throw std::logic_error("reshape of " + dims_str(args[0]->shape) + " to " + dims_str(out_shape));
  return DTensor(out_shape, args[0]->data);
}

// y = reshape(x)  =>  dx = reshape(dy, x.shape)
V vjp_reshape(VjpContext& c) { return {c.b.reshape(c.dy, c.b.shape(c.arg(0)))}; }

// --- flatten(x) = reshape(x, [d0, d1*...*dn]). ---

TypeResult flatten_type(const std::vector<Type>& args, const Attrs&, const TypeContext& cx) {
  if (std::string e = expect_tensor(args, 0, cx, true); !e.empty()) return TypeResult::fail(e);
  const Shape& s = args[0].shape;
  if (s.size() < 2)
    return TypeResult::fail("keeps dim 0 and merges the rest, so it needs rank >= 2, got " +
                            args[0].str());
  Shape rest(s.begin() + 1, s.end());
  return {Type{args[0].dtype, {s[0], num_elements(rest)}}, ""};
}

ValueId expand_flatten(Builder& b, const std::vector<ValueId>& args, const Attrs&) {
  const Shape& s = b.shape(args[0]);
  Shape rest(s.begin() + 1, s.end());
  return b.reshape(args[0], {s[0], num_elements(rest)});
}

// --- concat(a, b, axis): a then b along `axis`. ---

TypeResult concat_type(const std::vector<Type>& args, const Attrs& attrs, const TypeContext& cx) {
  for (size_t i = 0; i < 2; ++i)
    if (std::string e = expect_tensor(args, i, cx, false); !e.empty()) return TypeResult::fail(e);
  const Type& a = args[0];
  const Type& b = args[1];
  std::string both = a.str() + " and " + b.str();
  if (a.rank() != b.rank()) return TypeResult::fail("needs operands of the same rank: " + both);
  std::string error;
  std::optional<int64_t> axis = read_axis(attrs, 0, a.rank(), error);
  if (!axis) return TypeResult::fail(error);
  size_t ax = static_cast<size_t>(*axis);
  for (size_t i = 0; i < a.rank(); ++i)
    if (i != ax && a.shape[i] != b.shape[i])
      return TypeResult::fail("along axis " + std::to_string(ax) +
                              " needs equal sizes in the other dims: " + both + " differ in dim " +
                              std::to_string(i) + " (" + a.shape[i].str() +
                              " != " + b.shape[i].str() + ")");
  std::optional<Dim> sum = add_dims(a.shape[ax], b.shape[ax]);
  if (!sum)
    return TypeResult::fail("of " + both + " along axis " + std::to_string(ax) +
                            " would have size " + a.shape[ax].str() + "+" + b.shape[ax].str() +
                            "; a size must be a number times symbols, such as 3 or 2*B");
  Shape out = a.shape;
  out[ax] = *sum;
  return {Type{a.dtype, out}, ""};
}

DTensor eval_concat(const std::vector<const DTensor*>& args, const Attrs& attrs,
                    const Dims& out_shape) {
  const DTensor& a = *args[0];
  const DTensor& b = *args[1];
  size_t ax = static_cast<size_t>(*normalize_axis(attrs.get_int("axis", 0), out_shape.size()));
  DTensor out(out_shape);
  size_t i = 0;
  for_each_index(out_shape, [&](const Dims& idx) {
    if (idx[ax] < a.shape[ax]) {
      out[i++] = a.at(idx);
    } else {
      Dims from = idx;
      from[ax] -= a.shape[ax];
      out[i++] = b.at(from);
    }
  });
  return out;
}

Attrs slice_attrs(int64_t axis, const Dim& begin, const Dim& size) {
  return Attrs{{"axis", axis}, {"begin", Shape{begin}}, {"size", Shape{size}}};
}

// z = concat(a, b) along k, a has na and b nb there
//   =>  da = dz[.., 0:na, ..] ; db = dz[.., na:na+nb, ..]
V vjp_concat(VjpContext& c) {
  auto& b = c.b;
  const Shape& sa = b.shape(c.arg(0));
  const Shape& sb = b.shape(c.arg(1));
  int64_t ax = *normalize_axis(c.node.attrs.get_int("axis", 0), sa.size());
  Dim na = sa[static_cast<size_t>(ax)];
  Dim nb = sb[static_cast<size_t>(ax)];
  return {c.needs[0] ? b.make(OpKind::slice, {c.dy}, slice_attrs(ax, 0, na)) : kNoValue,
          c.needs[1] ? b.make(OpKind::slice, {c.dy}, slice_attrs(ax, na, nb)) : kNoValue};
}

// --- slice(x){axis, begin, size}: x[.., begin:begin+size, ..]. ---

TypeResult slice_type(const std::vector<Type>& args, const Attrs& attrs, const TypeContext& cx) {
  if (std::string e = expect_tensor(args, 0, cx, false); !e.empty()) return TypeResult::fail(e);
  const Type& x = args[0];
  std::string error;
  std::optional<int64_t> axis = read_axis(attrs, 0, x.rank(), error);
  if (!axis) return TypeResult::fail(error);
  std::optional<Dim> begin = one_dim_attr(attrs, "begin");
  std::optional<Dim> size = one_dim_attr(attrs, "size");
  if (!begin || !size) return TypeResult::fail("needs begin=[d] and size=[d] attributes");
  const Dim& n = x.shape[static_cast<size_t>(*axis)];
  std::optional<Dim> end = add_dims(*begin, *size);
  std::optional<Dim> rest = end ? sub_dims(n, *end) : std::nullopt;
  if (begin->coeff() < 0 || size->coeff() < 1 || !rest || rest->coeff() < 0)
    return TypeResult::fail("range [" + begin->str() + ", " + begin->str() + "+" + size->str() +
                            ") is not inside axis " + std::to_string(*axis) + " of " + x.str());
  Shape out = x.shape;
  out[static_cast<size_t>(*axis)] = *size;
  return {Type{x.dtype, out}, ""};
}

DTensor eval_slice(const std::vector<const DTensor*>& args, const Attrs& attrs,
                   const Dims& out_shape) {
  const DTensor& x = *args[0];
  size_t ax = static_cast<size_t>(*normalize_axis(attrs.get_int("axis", 0), x.rank()));
  int64_t begin =
      bind_dim(*one_dim_attr(attrs, "begin"), *one_dim_attr(attrs, "size"), out_shape[ax]);
  DTensor out(out_shape);
  size_t i = 0;
  for_each_index(out_shape, [&](const Dims& idx) {
    Dims from = idx;
    from[ax] += begin;
    out[i++] = x.at(from);
  });
  return out;
}

// y = x[begin:begin+size] along k  =>  dx = pad(dy, before = begin, after = n - begin - size)
V vjp_slice(VjpContext& c) {
  auto& b = c.b;
  const Attrs& at = c.node.attrs;
  const Shape& sx = b.shape(c.arg(0));
  int64_t ax = *normalize_axis(at.get_int("axis", 0), sx.size());
  Dim begin = *one_dim_attr(at, "begin");
  Dim end = *add_dims(begin, *one_dim_attr(at, "size"));
  Dim after = *sub_dims(sx[static_cast<size_t>(ax)], end);
  return {b.make(OpKind::pad, {c.dy},
                 Attrs{{"axis", ax}, {"before", Shape{begin}}, {"after", Shape{after}}})};
}

// --- pad(x){axis, before, after}: zeros before and after x along axis. ---

TypeResult pad_type(const std::vector<Type>& args, const Attrs& attrs, const TypeContext& cx) {
  if (std::string e = expect_tensor(args, 0, cx, false); !e.empty()) return TypeResult::fail(e);
  const Type& x = args[0];
  std::string error;
  std::optional<int64_t> axis = read_axis(attrs, 0, x.rank(), error);
  if (!axis) return TypeResult::fail(error);
  std::optional<Dim> before = one_dim_attr(attrs, "before");
  std::optional<Dim> after = one_dim_attr(attrs, "after");
  if (!before || !after) return TypeResult::fail("needs before=[d] and after=[d] attributes");
  if (before->coeff() < 0 || after->coeff() < 0)
    return TypeResult::fail("needs non-negative sizes, got before " + before->str() + ", after " +
                            after->str());
  const Dim& n = x.shape[static_cast<size_t>(*axis)];
  std::optional<Dim> grown = add_dims(*before, n);
  std::optional<Dim> total = grown ? add_dims(*grown, *after) : std::nullopt;
  // before + after must be one term too: evaluation recovers symbolic offsets from it.
  if (!total || !add_dims(*before, *after))
    return TypeResult::fail("of " + x.str() + " by " + before->str() + " and " + after->str() +
                            " along axis " + std::to_string(*axis) +
                            " gives a size that is not a product such as 3*B");
  Shape out = x.shape;
  out[static_cast<size_t>(*axis)] = *total;
  return {Type{x.dtype, out}, ""};
}

DTensor eval_pad(const std::vector<const DTensor*>& args, const Attrs& attrs,
                 const Dims& out_shape) {
  const DTensor& x = *args[0];
  size_t ax = static_cast<size_t>(*normalize_axis(attrs.get_int("axis", 0), x.rank()));
  Dim before = *one_dim_attr(attrs, "before");
  Dim margins = *add_dims(before, *one_dim_attr(attrs, "after"));
  int64_t lead = bind_dim(before, margins, out_shape[ax] - x.shape[ax]);
  DTensor out(out_shape);
  size_t i = 0;
  for_each_index(x.shape, [&](const Dims& idx) {
    Dims to = idx;
    to[ax] += lead;
    out.at(to) = x[i++];
  });
  return out;
}

// y = pad(x, before, after) along k  =>  dx = dy[before:before+n] along k
V vjp_pad(VjpContext& c) {
  auto& b = c.b;
  const Attrs& at = c.node.attrs;
  const Shape& sx = b.shape(c.arg(0));
  int64_t ax = *normalize_axis(at.get_int("axis", 0), sx.size());
  Dim before = *one_dim_attr(at, "before");
  return {b.make(OpKind::slice, {c.dy}, slice_attrs(ax, before, sx[static_cast<size_t>(ax)]))};
}

// --- Rows. ---

CheckCase one_arg(Dims shape, Attrs attrs) {
  return {.args = {{.shape = std::move(shape)}}, .attrs = std::move(attrs)};
}
CheckCase two_args(Dims a, Dims b, Attrs attrs) {
  return {.args = {{.shape = std::move(a)}, {.shape = std::move(b)}}, .attrs = std::move(attrs)};
}
Attrs axis_begin_size(int64_t axis, int64_t begin, int64_t size) {
  return slice_attrs(axis, begin, size);
}
Attrs axis_before_after(int64_t axis, int64_t before, int64_t after) {
  return Attrs{{"axis", axis}, {"before", Shape{before}}, {"after", Shape{after}}};
}

}  // namespace

void define_shape_ops(OpTableBuilder& t) {
  t.define({.kind = OpKind::reshape,
            .arity = 1,
            .builtin = true,
            .signature = {{"x"}, {"shape", ParamKind::Dims}},
            .infer = reshape_type,
            .vjp = vjp_reshape,
            .eval = eval_reshape,
            .checks = {one_arg({2, 6}, {{"shape", Shape{3, 4}}}),
                       one_arg({2, 6}, {{"shape", Shape{-1, 3}}}),
                       one_arg({2, 3, 2}, {{"shape", Shape{-1}}}),
                       one_arg({6}, {{"shape", Shape{2, 1, 3}}})},
            .doc = "the same elements (row-major) in a new shape; one size may be -1"});
  t.define({.kind = OpKind::flatten,
            .arity = 1,
            .builtin = true,
            .signature = {{"x"}},
            .infer = flatten_type,
            .expand = expand_flatten,
            .checks = {one_arg({2, 3, 4}, {}), one_arg({3, 2}, {}), one_arg({2, 2, 1, 3}, {})},
            .doc = "reshape to [d0, d1*...*dn], keeping dim 0; rank < 2 is an error"});
  t.define({.kind = OpKind::concat,
            .arity = 2,
            .builtin = true,
            .signature = {{"a"}, {"b"}, {"axis", ParamKind::Int, AttrValue{int64_t{0}}}},
            .infer = concat_type,
            .vjp = vjp_concat,
            .eval = eval_concat,
            .checks = {two_args({2, 3}, {4, 3}, {{"axis", int64_t{0}}}),
                       two_args({2, 3}, {2, 2}, {{"axis", int64_t{1}}}),
                       two_args({2, 3}, {2, 1}, {{"axis", int64_t{-1}}}), two_args({3}, {2}, {}),
                       two_args({2, 2, 2}, {2, 1, 2}, {{"axis", int64_t{1}}})},
            .doc = "a then b along axis (default 0); other sizes must match"});
  t.define({.kind = OpKind::slice,
            .arity = 1,
            .infer = slice_type,
            .vjp = vjp_slice,
            .eval = eval_slice,
            .checks = {one_arg({5, 3}, axis_begin_size(0, 1, 3)),
                       one_arg({2, 6}, axis_begin_size(1, 0, 2)),
                       one_arg({2, 6}, axis_begin_size(-1, 4, 2)),
                       one_arg({4}, axis_begin_size(0, 0, 4))},
            .doc = "x[begin:begin+size] along axis (sizes may be symbolic)"});
  t.define({.kind = OpKind::pad,
            .arity = 1,
            .infer = pad_type,
            .vjp = vjp_pad,
            .eval = eval_pad,
            .checks = {one_arg({3, 2}, axis_before_after(0, 1, 2)),
                       one_arg({2, 3}, axis_before_after(1, 0, 1)),
                       one_arg({4}, axis_before_after(0, 2, 0)),
                       one_arg({2, 2}, axis_before_after(-1, 1, 1))},
            .doc = "zeros before and after x along axis (the adjoint of slice)"});
}

}  // namespace adjoint
