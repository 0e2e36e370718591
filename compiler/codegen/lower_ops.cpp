// The one dispatch over every op: a missing case is a build error, so an op
// added to ops.def points here until its lowering exists.
#include "codegen/lower_ops.hpp"

#include <stdexcept>

#include "ops/op_table.hpp"

#pragma GCC diagnostic error "-Wswitch"

namespace adjoint::codegen {

namespace {

OpLowering whole(LowerFn f) { return {Storage::Buffer, f, nullptr, nullptr}; }
OpLowering unary(UnaryFn f) { return {Storage::Buffer, nullptr, f, nullptr}; }
OpLowering binary(BinaryFn f) { return {Storage::Buffer, nullptr, nullptr, f}; }

[[noreturn]] void composite(OpKind k) {
  throw std::logic_error("composite op '" + op_name(k) + "' reached code generation");
}

}  // namespace

// One line per op, read as a table.
// clang-format off
OpLowering lowering_of(OpKind kind) {
  switch (kind) {
    // Leaves.
    case OpKind::input:
    case OpKind::param: return {Storage::Leaf, nullptr, nullptr, nullptr};
    case OpKind::constant: return {Storage::Uniform, lower_constant, nullptr, nullptr};
    case OpKind::numel: return {Storage::Uniform, lower_numel, nullptr, nullptr};

    // Elementwise, one operand.
    case OpKind::neg: return unary(scalar_neg);
    case OpKind::exp: return unary(scalar_exp);
    case OpKind::log: return unary(scalar_log);
    case OpKind::sqrt: return unary(scalar_sqrt);
    case OpKind::abs: return unary(scalar_abs);
    case OpKind::tanh: return unary(scalar_tanh);
    case OpKind::sigmoid: return unary(scalar_sigmoid);
    case OpKind::relu: return unary(scalar_relu);
    case OpKind::softplus: return unary(scalar_softplus);
    case OpKind::gelu: return unary(scalar_gelu);
    case OpKind::sin: return unary(scalar_sin);
    case OpKind::cos: return unary(scalar_cos);
    case OpKind::erf: return unary(scalar_erf);
    case OpKind::leaky_relu: return unary(scalar_leaky_relu);
    case OpKind::pow: return unary(scalar_pow);
    case OpKind::step: return unary(scalar_step);
    case OpKind::sign: return unary(scalar_sign);

    // Elementwise, two operands, broadcasting.
    case OpKind::add: return binary(scalar_add);
    case OpKind::sub: return binary(scalar_sub);
    case OpKind::mul: return binary(scalar_mul);
    case OpKind::div: return binary(scalar_div);
    case OpKind::maximum: return binary(scalar_maximum);
    case OpKind::minimum: return binary(scalar_minimum);
    case OpKind::greater_equal: return binary(scalar_greater_equal);

    // Linear algebra.
    case OpKind::matmul:
      return {.lower = lower_matmul, .epilogue = true, .scratch = matmul_scratch_bytes};
    case OpKind::transpose: return whole(lower_transpose);

    // Reductions.
    case OpKind::sum: return {.lower = lower_sum, .reads_once = true};
    case OpKind::mean: composite(kind);
    case OpKind::max: return whole(lower_max);
    case OpKind::argmax_mask: return whole(lower_argmax_mask);
    case OpKind::logsumexp: return whole(lower_logsumexp);
    case OpKind::broadcast_to: return whole(lower_broadcast_to);
    case OpKind::sum_to:
      return {.lower = lower_sum_to, .reads_once = true, .scratch = sum_to_scratch_bytes};

    // Normalising and losses.
    case OpKind::softmax: return whole(lower_softmax);
    case OpKind::log_softmax: return whole(lower_log_softmax);
    case OpKind::softmax_cross_entropy:
      return {.lower = lower_softmax_cross_entropy, .alongside = sce_computes_softmax};
    case OpKind::one_hot: return whole(lower_one_hot);
    case OpKind::mse: composite(kind);
    case OpKind::bce_with_logits: return binary(scalar_bce_with_logits);

    // Shape.
    case OpKind::reshape: return {Storage::Alias, lower_reshape, nullptr, nullptr};
    case OpKind::flatten: composite(kind);
    case OpKind::concat: return whole(lower_concat);
    case OpKind::slice: return whole(lower_slice);
    case OpKind::pad: return whole(lower_pad);

    // Indexing.
    case OpKind::gather: return whole(lower_gather);
    case OpKind::scatter_add: return whole(lower_scatter_add);

    // Convolution and pooling.
    case OpKind::conv2d: return {.lower = lower_conv2d, .scratch = conv_scratch_bytes};
    case OpKind::conv2d_bwd_data:
      return {.lower = lower_conv2d_bwd_data, .scratch = conv_scratch_bytes};
    case OpKind::conv2d_bwd_filter:
      return {.lower = lower_conv2d_bwd_filter, .scratch = conv_scratch_bytes};
    case OpKind::maxpool2d: return whole(batch_split<lower_maxpool2d>);
    case OpKind::maxpool2d_bwd: return whole(batch_split<lower_maxpool2d_bwd>);
    case OpKind::maxpool2d_select: return whole(batch_split<lower_maxpool2d_select>);
    case OpKind::avgpool2d: return whole(batch_split<lower_avgpool2d>);
    case OpKind::avgpool2d_bwd: return whole(batch_split<lower_avgpool2d_bwd>);
  }
  throw std::logic_error("op kind out of range");
}
// clang-format on

void lower_node(NodeCx& cx) {
  OpLowering l = lowering_of(cx.node.op);
  if (l.storage == Storage::Leaf) throw std::logic_error("leaves are not lowered");
  if (!l.lower) throw std::logic_error("pointwise ops are lowered by lower_pointwise");
  l.lower(cx);
}

llvm::Value* scratch_bytes(Emitter& e, const Graph& g, const Node& n) {
  ScratchFn bytes = lowering_of(n.op).scratch;
  return bytes ? bytes(e, g, n) : e.i64(0);
}

}  // namespace adjoint::codegen
