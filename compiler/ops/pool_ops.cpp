// Pooling over NCHW tensors, with the adjoint ops that make the family closed
// under VJP. No padding, floor-mode output sizes (PyTorch's defaults).
// maxpool2d(x) = M(x) x where M(x) picks each window's first maximum (row-major);
// maxpool2d_bwd(x, g) = M(x)^T g and maxpool2d_select(x, g) = M(x) g. M is
// piecewise constant in x, so x gets no gradient through the two adjoints.
#include "ops/conv_rules.hpp"

namespace adjoint {
namespace {

using namespace conv_rules;

// --- Pooling: type rules. ---

struct PoolParams {
  int64_t size = 2, stride = 2;
};

std::optional<PoolParams> read_pool_params(const Attrs& attrs, std::string& error) {
  auto size = int_attr(attrs, "size", 2, 1, error);
  auto stride = size ? int_attr(attrs, "stride", 2, 1, error) : std::nullopt;
  if (!stride) return std::nullopt;
  return PoolParams{*size, *stride};
}

PoolParams pool_params(const Attrs& attrs) {
  return {attrs.get_int("size", 2), attrs.get_int("stride", 2)};
}

Attrs pool_attrs(const PoolParams& p) { return Attrs{{"size", p.size}, {"stride", p.stride}}; }

// The pooled shape of x (operand 0, [N,C,H,W] with H, W numbers), or nullopt and `error`.
std::optional<Shape> pooled_shape(const std::vector<Type>& args, const Attrs& attrs,
                                  const TypeContext& cx, std::string& error) {
  error = expect_4d(args, 0, "x", kNCHW, {2, 3}, cx);
  auto p = error.empty() ? read_pool_params(attrs, error) : std::nullopt;
  if (!p) return std::nullopt;
  const Shape& x = args[0].shape;
  auto ho = out_extent(num(x, 2), p->size, p->stride, 0);
  auto wo = out_extent(num(x, 3), p->size, p->stride, 0);
  if (!ho || !wo) {
    error = "window " + hw(p->size, p->size) + " is larger than the input " +
            hw(num(x, 2), num(x, 3)) + " of " + args[0].str();
    return std::nullopt;
  }
  return Shape{x[0], x[1], *ho, *wo};
}

TypeResult pool_type(const std::vector<Type>& args, const Attrs& attrs, const TypeContext& cx) {
  std::string e;
  auto out = pooled_shape(args, attrs, cx, e);
  if (!out) return TypeResult::fail(e);
  return {Type{args[0].dtype, *out}, ""};
}

// maxpool2d_bwd(x, g[pooled]) -> x's type; maxpool2d_select(x, g[like x]) -> pooled.
TypeResult max_adjoint_type(const std::vector<Type>& args, const Attrs& attrs,
                            const TypeContext& cx, bool g_pooled) {
  std::string e;
  auto pooled = pooled_shape(args, attrs, cx, e);
  if (!pooled) return TypeResult::fail(e);
  if (e = rules::expect_float(args, 1, cx); !e.empty()) return TypeResult::fail(e);
  const Shape& want = g_pooled ? *pooled : args[0].shape;
  if (args[1].shape != want)
    return TypeResult::fail("needs its second operand of shape " + shape_str(want) + " for x " +
                            args[0].str() + ", got " + args[1].str());
  return {Type{args[0].dtype, g_pooled ? args[0].shape : *pooled}, ""};
}

TypeResult maxpool_bwd_type(const std::vector<Type>& args, const Attrs& attrs,
                            const TypeContext& cx) {
  return max_adjoint_type(args, attrs, cx, true);
}

TypeResult maxpool_select_type(const std::vector<Type>& args, const Attrs& attrs,
                               const TypeContext& cx) {
  return max_adjoint_type(args, attrs, cx, false);
}

// avgpool2d_bwd(g[N,C,Ho,Wo]){size, stride, in_h, in_w} -> [N,C,in_h,in_w].
TypeResult avgpool_bwd_type(const std::vector<Type>& args, const Attrs& attrs,
                            const TypeContext& cx) {
  std::string e = expect_4d(args, 0, "dy", kNKHW, {2, 3}, cx);
  auto in_h = e.empty() ? int_attr(attrs, "in_h", std::nullopt, 1, e) : std::nullopt;
  auto in_w = in_h ? int_attr(attrs, "in_w", std::nullopt, 1, e) : std::nullopt;
  if (!in_w) return TypeResult::fail(e);
  const Shape& g = args[0].shape;
  Type x{args[0].dtype, {g[0], g[1], *in_h, *in_w}};
  auto pooled = pooled_shape({x}, attrs, cx, e);
  if (!pooled) return TypeResult::fail(e);
  if (*pooled != g)
    return TypeResult::fail("needs in_h, in_w that pool to dy's size: " + x.str() + " pools to " +
                            shape_str(*pooled) + ", not dy's " + args[0].str());
  return {x, ""};
}

// --- Pooling: evaluation. ---

struct PoolDims {
  int64_t n, c, h, w, ho, wo, size, stride;
};

PoolDims pool_dims(const Dims& x, const Dims& y, const Attrs& attrs) {
  PoolParams p = pool_params(attrs);
  return {x[0], x[1], x[2], x[3], y[2], y[3], p.size, p.stride};
}

// Calls f(xi, yi) for every element of every window, windows in row-major
// order and each window's elements in row-major order.
template <class F>
void for_each_window_element(const PoolDims& d, F f) {
  for (int64_t n = 0; n < d.n; ++n)
    for (int64_t c = 0; c < d.c; ++c)
      for (int64_t oh = 0; oh < d.ho; ++oh)
        for (int64_t ow = 0; ow < d.wo; ++ow)
          for (int64_t i = 0; i < d.size; ++i)
            for (int64_t j = 0; j < d.size; ++j) {
              int64_t ih = oh * d.stride + i;
              int64_t iw = ow * d.stride + j;
              size_t xi = static_cast<size_t>(((n * d.c + c) * d.h + ih) * d.w + iw);
              size_t yi = static_cast<size_t>(((n * d.c + c) * d.ho + oh) * d.wo + ow);
              f(xi, yi);
            }
}

// For each output element, the flat offset in x of its window's first maximum.
std::vector<size_t> window_argmax(const DTensor& x, const PoolDims& d) {
  constexpr size_t kNone = static_cast<size_t>(-1);
  std::vector<size_t> best(static_cast<size_t>(d.n * d.c * d.ho * d.wo), kNone);
  for_each_window_element(d, [&](size_t xi, size_t yi) {
    if (best[yi] == kNone || x[xi] > x[best[yi]]) best[yi] = xi;
  });
  return best;
}

DTensor eval_maxpool(const std::vector<const DTensor*>& args, const Attrs& attrs,
                     const Dims& out_shape) {
  const DTensor& x = *args[0];
  std::vector<size_t> am = window_argmax(x, pool_dims(x.shape, out_shape, attrs));
  DTensor y(out_shape);
  for (size_t i = 0; i < am.size(); ++i) y[i] = x[am[i]];
  return y;
}

DTensor eval_maxpool_bwd(const std::vector<const DTensor*>& args, const Attrs& attrs,
                         const Dims& out_shape) {
  const DTensor& x = *args[0];
  const DTensor& g = *args[1];
  std::vector<size_t> am = window_argmax(x, pool_dims(x.shape, g.shape, attrs));
  DTensor dx(out_shape);
  for (size_t i = 0; i < am.size(); ++i) dx[am[i]] += g[i];  // overlapping windows add up
  return dx;
}

DTensor eval_maxpool_select(const std::vector<const DTensor*>& args, const Attrs& attrs,
                            const Dims& out_shape) {
  const DTensor& x = *args[0];
  const DTensor& g = *args[1];
  std::vector<size_t> am = window_argmax(x, pool_dims(x.shape, out_shape, attrs));
  DTensor y(out_shape);
  for (size_t i = 0; i < am.size(); ++i) y[i] = g[am[i]];
  return y;
}

DTensor eval_avgpool(const std::vector<const DTensor*>& args, const Attrs& attrs,
                     const Dims& out_shape) {
  const DTensor& x = *args[0];
  PoolDims d = pool_dims(x.shape, out_shape, attrs);
  double scale = 1.0 / static_cast<double>(d.size * d.size);
  DTensor y(out_shape);
  for_each_window_element(d, [&](size_t xi, size_t yi) { y[yi] += x[xi] * scale; });
  return y;
}

DTensor eval_avgpool_bwd(const std::vector<const DTensor*>& args, const Attrs& attrs,
                         const Dims& out_shape) {
  const DTensor& g = *args[0];
  PoolDims d = pool_dims(out_shape, g.shape, attrs);
  double scale = 1.0 / static_cast<double>(d.size * d.size);
  DTensor dx(out_shape);
  for_each_window_element(d, [&](size_t xi, size_t yi) { dx[xi] += g[yi] * scale; });
  return dx;
}

// --- Pooling VJPs (G = the incoming adjoint). ---

// y = maxpool2d(x) = M(x) x  =>  dx = M(x)^T G = maxpool2d_bwd(x, G)
V vjp_maxpool(VjpContext& c) {
  return {c.b.make(OpKind::maxpool2d_bwd, {c.arg(0), c.dy}, pool_attrs(pool_params(c.node.attrs)))};
}

// z = maxpool2d_bwd(x, g) = M(x)^T g  =>  dx: none (M is piecewise constant) ;
//                                         dg = M(x) G = maxpool2d_select(x, G)
V vjp_maxpool_bwd(VjpContext& c) {
  Attrs a = pool_attrs(pool_params(c.node.attrs));
  return {kNoValue,
          c.needs[1] ? c.b.make(OpKind::maxpool2d_select, {c.arg(0), c.dy}, a) : kNoValue};
}

// z = maxpool2d_select(x, g) = M(x) g  =>  dx: none ; dg = M(x)^T G = maxpool2d_bwd(x, G)
V vjp_maxpool_select(VjpContext& c) {
  Attrs a = pool_attrs(pool_params(c.node.attrs));
  return {kNoValue, c.needs[1] ? c.b.make(OpKind::maxpool2d_bwd, {c.arg(0), c.dy}, a) : kNoValue};
}

// y = avgpool2d(x) = A x  =>  dx = A^T G = avgpool2d_bwd(G)
V vjp_avgpool(VjpContext& c) {
  Attrs a = pool_attrs(pool_params(c.node.attrs));
  const Shape& x = c.b.shape(c.arg(0));
  a.set("in_h", num(x, 2));
  a.set("in_w", num(x, 3));
  return {c.b.make(OpKind::avgpool2d_bwd, {c.dy}, a)};
}

// z = avgpool2d_bwd(g) = A^T g  =>  dg = A G = avgpool2d(G)
V vjp_avgpool_bwd(VjpContext& c) {
  return {c.b.make(OpKind::avgpool2d, {c.dy}, pool_attrs(pool_params(c.node.attrs)))};
}

// --- Gradient-check cases. ---

CheckCase pool_case(Dims x, int64_t size, int64_t stride, Domain dom) {
  return {.args = {{.shape = std::move(x), .domain = dom}},
          .attrs = {{"size", size}, {"stride", stride}}};
}

// Max-pooling cases: x is Distinct so no window has a tie within the step.
std::vector<CheckCase> max_adjoint_checks(bool g_pooled) {
  auto c = [&](Dims x, Dims pooled, int64_t size, int64_t stride) {
    return conv_case(x, g_pooled ? pooled : x, pool_attrs({size, stride}), Domain::Distinct);
  };
  return {c({2, 2, 4, 4}, {2, 2, 2, 2}, 2, 2), c({1, 2, 5, 5}, {1, 2, 2, 2}, 3, 2),
          c({1, 1, 4, 4}, {1, 1, 3, 3}, 2, 1), c({1, 1, 5, 4}, {1, 1, 2, 2}, 2, 2),
          // a window larger than codegen unrolls (its loops)
          c({1, 1, 6, 6}, {1, 1, 2, 2}, 5, 1)};
}

std::vector<CheckCase> avgpool_bwd_checks() {
  auto c = [](Dims g, int64_t size, int64_t stride, int64_t h, int64_t w) {
    return CheckCase{.args = {{.shape = std::move(g)}},
                     .attrs = with(pool_attrs({size, stride}), "in_h", h, "in_w", w)};
  };
  return {c({2, 2, 2, 2}, 2, 2, 4, 4), c({1, 1, 3, 3}, 3, 1, 5, 5), c({1, 2, 2, 2}, 2, 2, 5, 4),
          c({1, 1, 2, 2}, 3, 2, 5, 5), c({1, 1, 2, 2}, 5, 1, 6, 6)};
}

std::vector<CheckCase> pool_checks(Domain dom) {
  return {pool_case({2, 2, 4, 4}, 2, 2, dom), pool_case({1, 2, 5, 5}, 3, 2, dom),
          pool_case({1, 1, 5, 5}, 2, 1, dom), pool_case({1, 2, 5, 4}, 2, 2, dom),
          pool_case({1, 1, 6, 6}, 5, 1, dom)};
}

}  // namespace

void define_pool_ops(OpTableBuilder& t) {
  t.define({.kind = OpKind::maxpool2d,
            .arity = 1,
            .builtin = true,
            .signature = {{"x"},
                          {"size", ParamKind::Int, AttrValue{int64_t{2}}},
                          {"stride", ParamKind::Int, AttrValue{int64_t{2}}}},
            .infer = pool_type,
            .vjp = vjp_maxpool,
            .eval = eval_maxpool,
            .checks = pool_checks(Domain::Distinct),
            .doc = "max over size x size windows of x[N,C,H,W], floor mode (ties: the first)"});
  t.define({.kind = OpKind::maxpool2d_bwd,
            .arity = 2,
            .infer = maxpool_bwd_type,
            .vjp = vjp_maxpool_bwd,
            .eval = eval_maxpool_bwd,
            .checks = max_adjoint_checks(true),
            .doc = "adjoint of maxpool2d: each dy to its window's argmax in x"});
  t.define({.kind = OpKind::maxpool2d_select,
            .arity = 2,
            .infer = maxpool_select_type,
            .vjp = vjp_maxpool_select,
            .eval = eval_maxpool_select,
            .checks = max_adjoint_checks(false),
            .doc = "g read at each window's argmax of x (the adjoint of maxpool2d_bwd)"});
  t.define({.kind = OpKind::avgpool2d,
            .arity = 1,
            .builtin = true,
            .signature = {{"x"},
                          {"size", ParamKind::Int, AttrValue{int64_t{2}}},
                          {"stride", ParamKind::Int, AttrValue{int64_t{2}}}},
            .infer = pool_type,
            .vjp = vjp_avgpool,
            .eval = eval_avgpool,
            .checks = pool_checks(Domain::Real),
            .doc = "mean over size x size windows of x[N,C,H,W], floor mode"});
  t.define({.kind = OpKind::avgpool2d_bwd,
            .arity = 1,
            .infer = avgpool_bwd_type,
            .vjp = vjp_avgpool_bwd,
            .eval = eval_avgpool_bwd,
            .checks = avgpool_bwd_checks(),
            .doc = "adjoint of avgpool2d: dy spread evenly over its window, [N,C,in_h,in_w]"});
}

}  // namespace adjoint
