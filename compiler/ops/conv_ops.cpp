// Convolution and pooling over NCHW tensors, with the adjoint ops that make
// the family closed under VJP.
//
// The three conv ops are the partial derivatives of one trilinear form
//   T(x, w, g) = sum over n,k,oh,ow,c,r,s of
//                x[n, c, oh*st + r - pad, ow*st + s - pad] * w[k,c,r,s] * g[n,k,oh,ow]
// (x read as 0 outside the input):
//   conv2d(x, w) = dT/dg,  conv2d_bwd_data(g, w) = dT/dx,  conv2d_bwd_filter(x, g) = dT/dw.
// Each is linear in each operand, so the VJP of any of them is two of the others.
//
// Pooling has no padding and floor-mode output sizes (PyTorch's defaults).
// maxpool2d(x) = M(x) x where M(x) picks each window's first maximum (row-major);
// maxpool2d_bwd(x, g) = M(x)^T g and maxpool2d_select(x, g) = M(x) g. M is
// piecewise constant in x, so x gets no gradient through the two adjoints.
#include <array>

#include "ops/rules.hpp"

namespace adjoint {
namespace {

using V = std::vector<ValueId>;

// --- Type-rule helpers. ---

int64_t num(const Shape& s, size_t i) { return s[i].value(); }

// "" when operand i is a float rank-4 tensor whose dims `fixed` are numbers;
// `dims` names its four dims for messages ({"N","C","H","W"}).
std::string expect_4d(const std::vector<Type>& args, size_t i, const std::string& what,
                      const std::array<const char*, 4>& dims, std::initializer_list<size_t> fixed,
                      const TypeContext& cx) {
  if (std::string e = rules::expect_float(args, i, cx); !e.empty()) return e;
  std::string layout =
      std::string("[") + dims[0] + "," + dims[1] + "," + dims[2] + "," + dims[3] + "]";
  const Type& t = args[i];
  if (t.rank() != 4) return "needs " + what + " of rank 4 " + layout + ", got " + t.str();
  for (size_t d : fixed)
    if (!t.shape[d].is_const())
      return std::string("needs a constant size ") + dims[d] + " in " + what + " " + layout +
             ", got " + t.str();
  return "";
}

// Reads an int attribute of at least `min`; a missing one takes `dflt` if
// given. The upper bound keeps size arithmetic far from overflow.
std::optional<int64_t> int_attr(const Attrs& attrs, const std::string& name,
                                std::optional<int64_t> dflt, int64_t min, std::string& error) {
  const AttrValue* v = attrs.find(name);
  if (!v && dflt) return dflt;
  const int64_t* i = v ? std::get_if<int64_t>(v) : nullptr;
  if (!i) {
    error = "needs an integer attribute '" + name + "'";
    return std::nullopt;
  }
  if (*i < min) {
    error = "needs " + name + " >= " + std::to_string(min) + ", got " + std::to_string(*i);
    return std::nullopt;
  }
  constexpr int64_t kMax = int64_t{1} << 30;
  if (*i > kMax) {
    error = "needs " + name + " <= " + std::to_string(kMax) + ", got " + std::to_string(*i);
    return std::nullopt;
  }
  return *i;
}

// Output extent along one axis (floor mode); nullopt when the window does not fit.
std::optional<int64_t> out_extent(int64_t in, int64_t k, int64_t stride, int64_t pad) {
  if (in + 2 * pad < k) return std::nullopt;
  return (in + 2 * pad - k) / stride + 1;
}

std::string hw(int64_t h, int64_t w) { return std::to_string(h) + "x" + std::to_string(w); }

struct ConvParams {
  int64_t stride = 1, pad = 0;
};

std::optional<ConvParams> read_conv_params(const Attrs& attrs, std::string& error) {
  auto stride = int_attr(attrs, "stride", 1, 1, error);
  auto pad = stride ? int_attr(attrs, "pad", 0, 0, error) : std::nullopt;
  if (!pad) return std::nullopt;
  return ConvParams{*stride, *pad};
}

Attrs conv_attrs(const ConvParams& p) { return Attrs{{"stride", p.stride}, {"pad", p.pad}}; }

ConvParams conv_params(const Attrs& attrs) {
  return {attrs.get_int("stride", 1), attrs.get_int("pad", 0)};
}

// Checks that an input of in_h x in_w under a kh x kw kernel gives the output
// size `out` (dims 2 and 3); "" when it does.
std::string check_conv_geometry(int64_t in_h, int64_t in_w, int64_t kh, int64_t kw,
                                const ConvParams& p, const Shape& out) {
  auto ho = out_extent(in_h, kh, p.stride, p.pad);
  auto wo = out_extent(in_w, kw, p.stride, p.pad);
  std::string setting =
      " (stride " + std::to_string(p.stride) + ", pad " + std::to_string(p.pad) + ")";
  if (!ho || !wo)
    return "kernel " + hw(kh, kw) + " is larger than the padded input " +
           hw(in_h + 2 * p.pad, in_w + 2 * p.pad) + setting;
  if (*ho != num(out, 2) || *wo != num(out, 3))
    return "needs sizes that give dy's: an input of " + hw(in_h, in_w) + " and a kernel of " +
           hw(kh, kw) + " give an output of " + hw(*ho, *wo) + ", not " +
           hw(num(out, 2), num(out, 3)) + setting;
  return "";
}

constexpr std::array<const char*, 4> kNCHW = {"N", "C", "H", "W"};
constexpr std::array<const char*, 4> kKCRS = {"K", "C", "R", "S"};
constexpr std::array<const char*, 4> kNKHW = {"N", "K", "Ho", "Wo"};

// --- conv2d(x[N,C,H,W], w[K,C,R,S]) -> [N,K,Ho,Wo]. ---

TypeResult conv2d_type(const std::vector<Type>& args, const Attrs& attrs, const TypeContext& cx) {
  std::string e = expect_4d(args, 0, "x", kNCHW, {1, 2, 3}, cx);
  if (e.empty()) e = expect_4d(args, 1, "w", kKCRS, {1, 2, 3}, cx);
  auto p = e.empty() ? read_conv_params(attrs, e) : std::nullopt;
  if (!p) return TypeResult::fail(e);
  const Shape& x = args[0].shape;
  const Shape& w = args[1].shape;
  if (x[1] != w[1])
    return TypeResult::fail("needs x's channels to equal w's: x " + args[0].str() + ", w " +
                            args[1].str() + " (" + x[1].str() + " != " + w[1].str() + ")");
  auto ho = out_extent(num(x, 2), num(w, 2), p->stride, p->pad);
  auto wo = out_extent(num(x, 3), num(w, 3), p->stride, p->pad);
  if (!ho || !wo)
    return TypeResult::fail(
        "kernel " + hw(num(w, 2), num(w, 3)) + " is larger than the padded input " +
        hw(num(x, 2) + 2 * p->pad, num(x, 3) + 2 * p->pad) + ": x " + args[0].str() + ", w " +
        args[1].str() + ", pad " + std::to_string(p->pad));
  return {Type{args[0].dtype, {x[0], w[0], *ho, *wo}}, ""};
}

// --- conv2d_bwd_data(g[N,K,Ho,Wo], w[K,C,R,S]){stride, pad, in_h, in_w} -> [N,C,in_h,in_w]. ---

TypeResult bwd_data_type(const std::vector<Type>& args, const Attrs& attrs, const TypeContext& cx) {
  std::string e = expect_4d(args, 0, "dy", kNKHW, {2, 3}, cx);
  if (e.empty()) e = expect_4d(args, 1, "w", kKCRS, {1, 2, 3}, cx);
  auto p = e.empty() ? read_conv_params(attrs, e) : std::nullopt;
  auto in_h = p ? int_attr(attrs, "in_h", std::nullopt, 1, e) : std::nullopt;
  auto in_w = in_h ? int_attr(attrs, "in_w", std::nullopt, 1, e) : std::nullopt;
  if (!in_w) return TypeResult::fail(e);
  const Shape& g = args[0].shape;
  const Shape& w = args[1].shape;
  if (g[1] != w[0])
    return TypeResult::fail("needs dy's channels to equal w's outputs: dy " + args[0].str() +
                            ", w " + args[1].str());
  e = check_conv_geometry(*in_h, *in_w, num(w, 2), num(w, 3), *p, g);
  if (!e.empty()) return TypeResult::fail(e);
  return {Type{args[0].dtype, {g[0], w[1], *in_h, *in_w}}, ""};
}

// --- conv2d_bwd_filter(x[N,C,H,W], g[N,K,Ho,Wo]){stride, pad, kh, kw} -> [K,C,kh,kw]. ---

TypeResult bwd_filter_type(const std::vector<Type>& args, const Attrs& attrs,
                           const TypeContext& cx) {
  std::string e = expect_4d(args, 0, "x", kNCHW, {1, 2, 3}, cx);
  if (e.empty()) e = expect_4d(args, 1, "dy", kNKHW, {2, 3}, cx);
  auto p = e.empty() ? read_conv_params(attrs, e) : std::nullopt;
  auto kh = p ? int_attr(attrs, "kh", std::nullopt, 1, e) : std::nullopt;
  auto kw = kh ? int_attr(attrs, "kw", std::nullopt, 1, e) : std::nullopt;
  if (!kw) return TypeResult::fail(e);
  const Shape& x = args[0].shape;
  const Shape& g = args[1].shape;
  if (x[0] != g[0])
    return TypeResult::fail("needs x and dy of the same batch: x " + args[0].str() + ", dy " +
                            args[1].str());
  e = check_conv_geometry(num(x, 2), num(x, 3), *kh, *kw, *p, g);
  if (!e.empty()) return TypeResult::fail(e);
  return {Type{args[0].dtype, {g[1], x[1], *kh, *kw}}, ""};
}

// --- Conv evaluation: every term of T, by flat offsets into x, w and g. ---

struct ConvDims {
  int64_t n, c, h, w, k, r, s, ho, wo, stride, pad;
};

ConvDims conv_dims(const Dims& x, const Dims& w, const Dims& g, const Attrs& attrs) {
  ConvParams p = conv_params(attrs);
  return {x[0], x[1], x[2], x[3], w[0], w[2], w[3], g[2], g[3], p.stride, p.pad};
}

// Calls f(xi, wi, gi) for every (n,k,oh,ow,c,r,s) whose input pixel lies inside x.
template <class F>
void for_each_conv_term(const ConvDims& d, F f) {
  for (int64_t n = 0; n < d.n; ++n)
    for (int64_t k = 0; k < d.k; ++k)
      for (int64_t oh = 0; oh < d.ho; ++oh)
        for (int64_t ow = 0; ow < d.wo; ++ow)
          for (int64_t c = 0; c < d.c; ++c)
            for (int64_t r = 0; r < d.r; ++r)
              for (int64_t s = 0; s < d.s; ++s) {
                int64_t ih = oh * d.stride + r - d.pad;
                int64_t iw = ow * d.stride + s - d.pad;
                if (ih < 0 || ih >= d.h || iw < 0 || iw >= d.w) continue;
                size_t xi = static_cast<size_t>(((n * d.c + c) * d.h + ih) * d.w + iw);
                size_t wi = static_cast<size_t>(((k * d.c + c) * d.r + r) * d.s + s);
                size_t gi = static_cast<size_t>(((n * d.k + k) * d.ho + oh) * d.wo + ow);
                f(xi, wi, gi);
              }
}

DTensor eval_conv2d(const std::vector<const DTensor*>& args, const Attrs& attrs,
                    const Dims& out_shape) {
  const DTensor& x = *args[0];
  const DTensor& w = *args[1];
  DTensor y(out_shape);
  for_each_conv_term(conv_dims(x.shape, w.shape, out_shape, attrs),
                     [&](size_t xi, size_t wi, size_t yi) { y[yi] += x[xi] * w[wi]; });
  return y;
}

DTensor eval_bwd_data(const std::vector<const DTensor*>& args, const Attrs& attrs,
                      const Dims& out_shape) {
  const DTensor& g = *args[0];
  const DTensor& w = *args[1];
  DTensor dx(out_shape);
  for_each_conv_term(conv_dims(out_shape, w.shape, g.shape, attrs),
                     [&](size_t xi, size_t wi, size_t gi) { dx[xi] += g[gi] * w[wi]; });
  return dx;
}

DTensor eval_bwd_filter(const std::vector<const DTensor*>& args, const Attrs& attrs,
                        const Dims& out_shape) {
  const DTensor& x = *args[0];
  const DTensor& g = *args[1];
  DTensor dw(out_shape);
  for_each_conv_term(conv_dims(x.shape, out_shape, g.shape, attrs),
                     [&](size_t xi, size_t wi, size_t gi) { dw[wi] += x[xi] * g[gi]; });
  return dw;
}

// --- Conv VJPs (G = the incoming adjoint). ---

Attrs data_attrs(const ConvParams& p, const Shape& x) {
  Attrs a = conv_attrs(p);
  a.set("in_h", num(x, 2));
  a.set("in_w", num(x, 3));
  return a;
}

Attrs filter_attrs(const ConvParams& p, const Shape& w) {
  Attrs a = conv_attrs(p);
  a.set("kh", num(w, 2));
  a.set("kw", num(w, 3));
  return a;
}

// y = conv2d(x, w) = dT/dg  =>  dx = conv2d_bwd_data(G, w) ; dw = conv2d_bwd_filter(x, G)
V vjp_conv2d(VjpContext& c) {
  auto& b = c.b;
  ConvParams p = conv_params(c.node.attrs);
  ValueId x = c.arg(0), w = c.arg(1);
  return {
      c.needs[0] ? b.make(OpKind::conv2d_bwd_data, {c.dy, w}, data_attrs(p, b.shape(x))) : kNoValue,
      c.needs[1] ? b.make(OpKind::conv2d_bwd_filter, {x, c.dy}, filter_attrs(p, b.shape(w)))
                 : kNoValue};
}

// z = conv2d_bwd_data(g, w) = dT/dx  =>  <G, z> = T(G, w, g)
//   =>  dg = conv2d(G, w) ; dw = conv2d_bwd_filter(G, g)
V vjp_bwd_data(VjpContext& c) {
  auto& b = c.b;
  ConvParams p = conv_params(c.node.attrs);
  ValueId g = c.arg(0), w = c.arg(1);
  return {c.needs[0] ? b.make(OpKind::conv2d, {c.dy, w}, conv_attrs(p)) : kNoValue,
          c.needs[1] ? b.make(OpKind::conv2d_bwd_filter, {c.dy, g}, filter_attrs(p, b.shape(w)))
                     : kNoValue};
}

// z = conv2d_bwd_filter(x, g) = dT/dw  =>  <G, z> = T(x, G, g)
//   =>  dx = conv2d_bwd_data(g, G) ; dg = conv2d(x, G)
V vjp_bwd_filter(VjpContext& c) {
  auto& b = c.b;
  ConvParams p = conv_params(c.node.attrs);
  ValueId x = c.arg(0), g = c.arg(1);
  return {
      c.needs[0] ? b.make(OpKind::conv2d_bwd_data, {g, c.dy}, data_attrs(p, b.shape(x))) : kNoValue,
      c.needs[1] ? b.make(OpKind::conv2d, {x, c.dy}, conv_attrs(p)) : kNoValue};
}

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

CheckCase conv_case(Dims a, Dims b, Attrs attrs, Domain da = Domain::Real,
                    Domain db = Domain::Real) {
  return {.args = {{.shape = std::move(a), .domain = da}, {.shape = std::move(b), .domain = db}},
          .attrs = std::move(attrs)};
}

CheckCase pool_case(Dims x, int64_t size, int64_t stride, Domain dom) {
  return {.args = {{.shape = std::move(x), .domain = dom}},
          .attrs = {{"size", size}, {"stride", stride}}};
}

Attrs with(Attrs a, const std::string& k1, int64_t v1, const std::string& k2, int64_t v2) {
  a.set(k1, v1);
  a.set(k2, v2);
  return a;
}

std::vector<CheckCase> conv2d_checks() {
  return {conv_case({2, 2, 5, 5}, {3, 2, 3, 3}, conv_attrs({1, 0})),
          conv_case({2, 2, 5, 5}, {3, 2, 3, 3}, conv_attrs({1, 1})),
          conv_case({2, 2, 5, 5}, {3, 2, 3, 3}, conv_attrs({2, 0})),
          conv_case({2, 2, 5, 5}, {3, 2, 3, 3}, conv_attrs({2, 1})),
          conv_case({1, 2, 4, 5}, {2, 2, 2, 3}, conv_attrs({2, 0})),
          conv_case({1, 1, 6, 6}, {1, 1, 3, 3}, conv_attrs({2, 0}))};
}

std::vector<CheckCase> bwd_data_checks() {
  auto a = [](int64_t st, int64_t pad, int64_t h, int64_t w) {
    return with(conv_attrs({st, pad}), "in_h", h, "in_w", w);
  };
  return {conv_case({2, 3, 3, 3}, {3, 2, 3, 3}, a(1, 0, 5, 5)),
          conv_case({2, 3, 5, 5}, {3, 2, 3, 3}, a(1, 1, 5, 5)),
          conv_case({2, 3, 3, 3}, {3, 2, 3, 3}, a(2, 1, 5, 5)),
          conv_case({1, 2, 2, 2}, {2, 2, 2, 3}, a(2, 0, 4, 5)),
          conv_case({1, 1, 2, 2}, {1, 1, 3, 3}, a(2, 0, 6, 6))};
}

std::vector<CheckCase> bwd_filter_checks() {
  auto a = [](int64_t st, int64_t pad, int64_t kh, int64_t kw) {
    return with(conv_attrs({st, pad}), "kh", kh, "kw", kw);
  };
  return {conv_case({2, 2, 5, 5}, {2, 3, 3, 3}, a(1, 0, 3, 3)),
          conv_case({2, 2, 5, 5}, {2, 3, 5, 5}, a(1, 1, 3, 3)),
          conv_case({2, 2, 5, 5}, {2, 3, 3, 3}, a(2, 1, 3, 3)),
          conv_case({1, 2, 4, 5}, {1, 2, 2, 2}, a(2, 0, 2, 3)),
          conv_case({1, 1, 6, 6}, {1, 1, 2, 2}, a(2, 0, 3, 3))};
}

// Max-pooling cases: x is Distinct so no window has a tie within the step.
std::vector<CheckCase> max_adjoint_checks(bool g_pooled) {
  auto c = [&](Dims x, Dims pooled, int64_t size, int64_t stride) {
    return conv_case(x, g_pooled ? pooled : x, pool_attrs({size, stride}), Domain::Distinct);
  };
  return {c({2, 2, 4, 4}, {2, 2, 2, 2}, 2, 2), c({1, 2, 5, 5}, {1, 2, 2, 2}, 3, 2),
          c({1, 1, 4, 4}, {1, 1, 3, 3}, 2, 1), c({1, 1, 5, 4}, {1, 1, 2, 2}, 2, 2)};
}

std::vector<CheckCase> avgpool_bwd_checks() {
  auto c = [](Dims g, int64_t size, int64_t stride, int64_t h, int64_t w) {
    return CheckCase{.args = {{.shape = std::move(g)}},
                     .attrs = with(pool_attrs({size, stride}), "in_h", h, "in_w", w)};
  };
  return {c({2, 2, 2, 2}, 2, 2, 4, 4), c({1, 1, 3, 3}, 3, 1, 5, 5), c({1, 2, 2, 2}, 2, 2, 5, 4),
          c({1, 1, 2, 2}, 3, 2, 5, 5)};
}

std::vector<CheckCase> pool_checks(Domain dom) {
  return {pool_case({2, 2, 4, 4}, 2, 2, dom), pool_case({1, 2, 5, 5}, 3, 2, dom),
          pool_case({1, 1, 5, 5}, 2, 1, dom), pool_case({1, 2, 5, 4}, 2, 2, dom)};
}

}  // namespace

void define_conv_ops(OpTableBuilder& t) {
  t.define(
      {.kind = OpKind::conv2d,
       .arity = 2,
       .builtin = true,
       .signature = {{"x"},
                     {"w"},
                     {"stride", ParamKind::Int, AttrValue{int64_t{1}}},
                     {"pad", ParamKind::Int, AttrValue{int64_t{0}}}},
       .infer = conv2d_type,
       .vjp = vjp_conv2d,
       .eval = eval_conv2d,
       .checks = conv2d_checks(),
       .doc = "2-D convolution (cross-correlation) of x[N,C,H,W] with w[K,C,R,S], zero padding"});
  t.define({.kind = OpKind::conv2d_bwd_data,
            .arity = 2,
            .infer = bwd_data_type,
            .vjp = vjp_bwd_data,
            .eval = eval_bwd_data,
            .checks = bwd_data_checks(),
            .doc = "adjoint of conv2d w.r.t. its input: dy[N,K,Ho,Wo], w -> [N,C,in_h,in_w]"});
  t.define({.kind = OpKind::conv2d_bwd_filter,
            .arity = 2,
            .infer = bwd_filter_type,
            .vjp = vjp_bwd_filter,
            .eval = eval_bwd_filter,
            .checks = bwd_filter_checks(),
            .doc = "adjoint of conv2d w.r.t. its kernel: x, dy[N,K,Ho,Wo] -> [K,C,kh,kw]"});
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
