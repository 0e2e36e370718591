// A pointwise tree as the epilogue of a matrix product (see fusion.hpp and
// GemmEpilogue): a block function the GEMM calls on each finished block of
// its result, with the leaves' pointers and sizes passed in a context the
// model fills on its stack.
//
// The block function unpacks the context and calls a body that takes every
// pointer as a `noalias` argument; the body is inlined, and LLVM keeps the
// promise as alias metadata. Without it the vectoriser would check at run
// time, once per row of every block (rows of 16 floats here), that the
// result does not overlap the leaves: the checks would cost about what the
// fusion saves. The promise holds: the result is written only through its
// own pointer (the product leaf is read through that same pointer, at the
// element being written), and the other leaves are other values' storage,
// only read.
#include "codegen/fusion.hpp"
#include "codegen/lower_ops.hpp"

namespace adjoint::codegen {

namespace {

using V = llvm::Value*;

// What the body receives, one argument each, in this order: the result's
// pointer and sizes [m,n]; per leaf other than the product, its pointer (or
// its uniform value) and its sizes; then the block (r0, rows, c0, cols).
struct Captured {
  std::vector<V> values;
  std::vector<bool> noalias;  // per value: a pointer the body may assume unaliased
  void add(V v, bool is_pointer) {
    values.push_back(v);
    noalias.push_back(is_pointer);
  }
};

Captured capture(const PointwiseTree& t, const std::vector<ValueId>& leaves, ValueId product,
                 const TensorRef& out) {
  Captured c;
  c.add(out.data, true);
  for (V d : out.dims) c.add(d, false);
  for (ValueId l : leaves) {
    if (l == product) continue;
    const TensorRef& x = t.refs[static_cast<size_t>(l)];
    c.add(x.uniform ? x.uniform : x.data, !x.uniform);
    for (V d : x.dims) c.add(d, false);
  }
  return c;
}

// The body: for each element of the block, the tree from its leaves, read
// through broadcast strides, written over the result.
void emit_body(llvm::Function* body, const PointwiseTree& t, const std::vector<ValueId>& leaves,
               ValueId product, const TensorRef& out) {
  Emitter e(*body->getParent(), body, t.g.float_type);
  unsigned arg = 0;
  auto next = [&] { return body->getArg(arg++); };
  TensorRef result = out;
  result.data = next();
  for (V& d : result.dims) d = next();
  std::vector<TensorRef> refs = t.refs;
  for (ValueId l : leaves) {
    TensorRef x = l == product ? result : t.refs[static_cast<size_t>(l)];
    if (l == product) x.shape = &t.g.type(l).shape;
    if (l != product) {
      (x.uniform ? x.uniform : x.data) = next();
      for (V& d : x.dims) d = next();
    }
    refs[static_cast<size_t>(l)] = x;
  }
  V r0 = next(), rows = next(), c0 = next(), cols = next();
  PointwiseTree tree{t.g, t.root, t.loop_of, refs};
  std::vector<TensorRef> in = pointwise_leaves(e, tree);
  std::vector<std::vector<V>> strides;
  for (const TensorRef& x : in) strides.push_back(e.broadcast_strides(x, 2));
  V n = result.dims[1];
  e.loop(rows, [&](V i) {
    V row = e.add(r0, i);
    e.loop(cols, [&](V j) {
      V col = e.add(c0, j);
      std::vector<V> at;
      for (size_t k = 0; k < in.size(); ++k)
        at.push_back(e.load(in[k], e.add(e.mul(row, strides[k][0]), e.mul(col, strides[k][1]))));
      e.store(result, e.add(e.mul(row, n), col), pointwise_value(e, tree, at));
    });
  });
  e.b().CreateRetVoid();
}

}  // namespace

GemmEpilogue emit_epilogue(Emitter& e, const PointwiseTree& t, ValueId product,
                           const TensorRef& out) {
  llvm::Module& m = e.module();
  auto& ctx = m.getContext();
  auto* ptr = llvm::PointerType::getUnqual(ctx);
  auto* i64 = llvm::Type::getInt64Ty(ctx);
  std::vector<ValueId> leaves = fused_leaves(t.g, t.loop_of, t.root);
  Captured c = capture(t, leaves, product, out);
  std::vector<llvm::Type*> types;
  for (V v : c.values) types.push_back(v->getType());

  std::vector<llvm::Type*> body_args = types;
  body_args.insert(body_args.end(), 4, i64);
  auto* body =
      llvm::Function::Create(llvm::FunctionType::get(llvm::Type::getVoidTy(ctx), body_args, false),
                             llvm::Function::InternalLinkage, "epilogue.body", m);
  body->addFnAttr(llvm::Attribute::AlwaysInline);
  body->setDoesNotThrow();
  for (unsigned i = 0; i < c.noalias.size(); ++i)
    if (c.noalias[i]) body->addParamAttr(i, llvm::Attribute::NoAlias);
  emit_body(body, t, leaves, product, out);

  // epilogue(cx, r0, rows, c0, cols): the context's fields, then the block.
  auto* cx_type = llvm::StructType::get(ctx, types);
  auto* fn = llvm::Function::Create(
      llvm::FunctionType::get(llvm::Type::getVoidTy(ctx), {ptr, i64, i64, i64, i64}, false),
      llvm::Function::InternalLinkage, "epilogue", m);
  fn->setDoesNotThrow();
  {
    Emitter fe(m, fn, t.g.float_type);
    std::vector<V> args;
    for (unsigned i = 0; i < types.size(); ++i)
      args.push_back(
          fe.b().CreateLoad(types[i], fe.b().CreateStructGEP(cx_type, fn->getArg(0), i)));
    for (unsigned i = 1; i <= 4; ++i) args.push_back(fn->getArg(i));
    fe.b().CreateCall(body, args);
    fe.b().CreateRetVoid();
  }

  // The context, in the caller's entry block; filled here.
  llvm::BasicBlock& entry = e.b().GetInsertBlock()->getParent()->getEntryBlock();
  llvm::IRBuilder<> at_entry(&entry, entry.begin());
  V cx = at_entry.CreateAlloca(cx_type, nullptr, "epilogue_cx");
  for (unsigned i = 0; i < types.size(); ++i)
    e.b().CreateStore(c.values[i], e.b().CreateStructGEP(cx_type, cx, i));
  return {fn, cx};
}

void apply_epilogue(Emitter& e, const GemmEpilogue& epi, V m, V n) {
  if (!epi.fn) return;
  auto* i64 = e.b().getInt64Ty();
  auto* type = llvm::FunctionType::get(
      e.b().getVoidTy(), {llvm::PointerType::getUnqual(e.ctx()), i64, i64, i64, i64}, false);
  e.b().CreateCall(type, epi.fn, {epi.cx, e.i64(0), m, e.i64(0), n});
}

}  // namespace adjoint::codegen
