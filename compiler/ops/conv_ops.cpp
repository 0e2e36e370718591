// Convolution and pooling over NCHW tensors, with the adjoint ops that make
// the family closed under VJP.
//
// The three conv ops are the partial derivatives of one trilinear form
//   T(x, w, g) = sum over n,k,oh,ow,c,r,s of
//                x[n, c, oh*st + r - pad, ow*st + s - pad] * w[k,c,r,s] * g[n,k,oh,ow]
// (x read as 0 outside the input):
//   conv2d(x, w) = dT/dg,  conv2d_bwd_data(g, w) = dT/dx,  conv2d_bwd_filter(x, g) = dT/dw.
// Each is linear in each operand, so the VJP of any of them is two of the others.
#include "ops/conv_rules.hpp"

namespace adjoint {
namespace {

using namespace conv_rules;

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

// --- Gradient-check cases. ---

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
}

}  // namespace adjoint
