// Matrix-vector products and the k = 1 outer product of the generated GEMM
// (see gemm_gen.hpp): bandwidth-bound, one pass over the matrix, no packing.
#include "codegen/gemm_gen.hpp"

namespace adjoint::codegen::gemm_detail {

void GemmGen::build_gemv(llvm::Function* f) {
  Emitter e(m_, f, t_);
  auto& b = e.b();
  V len = f->getArg(0), k = f->getArg(1), a = f->getArg(2), rs = f->getArg(3);
  V cs = f->getArg(4), x = f->getArg(5), xs = f->getArg(6), y = f->getArg(7);
  llvm::BasicBlock* dot = llvm::BasicBlock::Create(e.ctx(), "dot", f);
  llvm::BasicBlock* not_dot = llvm::BasicBlock::Create(e.ctx(), "not_dot", f);
  llvm::BasicBlock* axpy = llvm::BasicBlock::Create(e.ctx(), "axpy", f);
  llvm::BasicBlock* scalar = llvm::BasicBlock::Create(e.ctx(), "scalar", f);
  llvm::BasicBlock* ret = llvm::BasicBlock::Create(e.ctx(), "ret", f);
  V x_unit = b.CreateICmpEQ(xs, e.i64(1));
  b.CreateCondBr(b.CreateAnd(x_unit, b.CreateICmpEQ(cs, e.i64(1))), dot, not_dot);
  b.SetInsertPoint(not_dot);
  b.CreateCondBr(b.CreateICmpEQ(rs, e.i64(1)), axpy, scalar);

  b.SetInsertPoint(dot);
  gemv_dot(e, len, k, a, rs, x, y);
  b.CreateBr(ret);
  b.SetInsertPoint(axpy);
  gemv_axpy(e, len, k, a, cs, x, xs, y);
  b.CreateBr(ret);
  b.SetInsertPoint(scalar);
  e.loop(len, [&](V i) {
    V acc = e.local(f_, llvm::ConstantFP::get(f_, 0.0));
    e.loop(k, [&](V p) {
      V av = b.CreateLoad(f_, gep(e, a, e.add(e.mul(i, rs), e.mul(p, cs))));
      V xv = b.CreateLoad(f_, gep(e, x, e.mul(p, xs)));
      e.set(acc, fma(e, av, xv, e.get(acc, f_)));
    });
    b.CreateStore(e.get(acc, f_), gep(e, y, i));
  });
  b.CreateBr(ret);
  b.SetInsertPoint(ret);
  b.CreateRetVoid();
}

void GemmGen::gemv_dot(Emitter& e, V len, V k, V a, V rs, V x, V y) {
  auto& b = e.b();
  const int L = cfg_.lanes;
  V full_p = b.CreateSDiv(k, e.i64(L));
  V rest = e.mul(full_p, e.i64(L));
  V tail_mask = lane_mask(e, rest, k);
  V has_tail = b.CreateICmpSLT(rest, k);
  // Dot products of `rows` rows starting at i0, as vectors (lane sums pending).
  auto dots = [&](V i0, int rows) {
    std::vector<V> acc;
    for (int r = 0; r < rows; ++r) acc.push_back(e.local(vec_, llvm::Constant::getNullValue(vec_)));
    auto step = [&](V p, V mask) {
      V xv = mask ? masked_load(e, gep(e, x, p), mask)
                  : b.CreateAlignedLoad(vec_, gep(e, x, p), llvm::Align(ebytes()));
      for (int r = 0; r < rows; ++r) {
        V at = gep(e, a, e.add(e.mul(e.add(i0, e.i64(r)), rs), p));
        V av =
            mask ? masked_load(e, at, mask) : b.CreateAlignedLoad(vec_, at, llvm::Align(ebytes()));
        e.set(acc[static_cast<size_t>(r)],
              fma(e, av, xv, e.get(acc[static_cast<size_t>(r)], vec_)));
      }
    };
    e.loop(full_p, [&](V pb) { step(e.mul(pb, e.i64(L)), nullptr); });
    e.if_then(has_tail, [&] { step(rest, tail_mask); });
    std::vector<V> out;
    for (V v : acc) out.push_back(e.get(v, vec_));
    return out;
  };
  V blocks = b.CreateSDiv(len, e.i64(L));
  e.loop(blocks, [&](V blk) {
    V i0 = e.mul(blk, e.i64(L));
    std::vector<V> t = transpose(e, dots(i0, L));
    while (t.size() > 1) {  // a fixed tree: (t0 + t1) + (t2 + t3) ...
      std::vector<V> half;
      for (size_t j = 0; j + 1 < t.size(); j += 2) half.push_back(b.CreateFAdd(t[j], t[j + 1]));
      t = half;
    }
    b.CreateAlignedStore(t[0], gep(e, y, i0), llvm::Align(ebytes()));
  });
  e.loop(e.sub(len, e.mul(blocks, e.i64(L))), [&](V r) {
    V i = e.add(e.mul(blocks, e.i64(L)), r);
    b.CreateStore(reduce(e, dots(i, 1)[0]), gep(e, y, i));
  });
}

void GemmGen::outer_product(Emitter& e, V m, V n, V a, V rs, V bv, V c) {
  auto& b = e.b();
  const int L = cfg_.lanes;
  V full = b.CreateSDiv(n, e.i64(L));
  V tail = lane_mask(e, e.mul(full, e.i64(L)), n);
  e.loop(m, [&](V i) {
    V ai = splat(e, b.CreateLoad(f_, gep(e, a, e.mul(i, rs))));
    V row = gep(e, c, e.mul(i, n));
    // Four vectors an iteration (LLVM's unroller is off), then one at a time.
    V quads = b.CreateSDiv(full, e.i64(4));
    auto vector_at = [&](V j) {
      V bj = b.CreateAlignedLoad(vec_, gep(e, bv, j), llvm::Align(ebytes()));
      b.CreateAlignedStore(b.CreateFMul(ai, bj), gep(e, row, j), llvm::Align(ebytes()));
    };
    e.loop(quads, [&](V q) {
      for (int u = 0; u < 4; ++u) vector_at(e.mul(e.add(e.mul(q, e.i64(4)), e.i64(u)), e.i64(L)));
    });
    e.loop(e.sub(full, e.mul(quads, e.i64(4))),
           [&](V jb) { vector_at(e.mul(e.add(e.mul(quads, e.i64(4)), jb), e.i64(L))); });
    e.if_then(b.CreateICmpSLT(e.mul(full, e.i64(L)), n), [&] {
      V j = e.mul(full, e.i64(L));
      V bj = masked_load(e, gep(e, bv, j), tail);
      masked_store(e, b.CreateFMul(ai, bj), gep(e, row, j), tail);
    });
  });
}

V GemmGen::reduce(Emitter& e, V v) {
  auto& b = e.b();
  for (int w = cfg_.lanes / 2; w >= 1; w /= 2) {
    std::vector<int> lo, hi;
    for (int l = 0; l < w; ++l) lo.push_back(l), hi.push_back(l + w);
    v = b.CreateFAdd(b.CreateShuffleVector(v, lo), b.CreateShuffleVector(v, hi));
  }
  return b.CreateExtractElement(v, uint64_t{0});
}

void GemmGen::gemv_axpy(Emitter& e, V len, V k, V a, V cs, V x, V xs, V y) {
  auto& b = e.b();
  const int L = cfg_.lanes, U = 4;
  e.loop(ceil_div(e, len, U * L), [&](V blk) {
    V i0 = e.mul(blk, e.i64(U * L));
    std::vector<V> acc, masks, live;
    for (int u = 0; u < U; ++u) {
      acc.push_back(e.local(vec_, llvm::Constant::getNullValue(vec_)));
      masks.push_back(lane_mask(e, e.add(i0, e.i64(u * L)), len));
      live.push_back(b.CreateICmpSLT(e.add(i0, e.i64(u * L)), len));
    }
    // A whole block reads and writes plain vectors; the last may be masked.
    auto run = [&](bool masked) {
      e.loop(k, [&](V p) {
        V xv = splat(e, b.CreateLoad(f_, gep(e, x, e.mul(p, xs))));
        V col = gep(e, a, e.add(e.mul(p, cs), i0));
        for (int u = 0; u < U; ++u) {
          V at = gep(e, col, e.i64(u * L));
          // A vector wholly past len loads nothing, from the column's block.
          if (masked && u > 0) at = within(e, live[u], at, col);
          V av = masked ? masked_load(e, at, masks[u])
                        : b.CreateAlignedLoad(vec_, at, llvm::Align(ebytes()));
          e.set(acc[u], fma(e, av, xv, e.get(acc[u], vec_)));
        }
      });
      for (int u = 0; u < U; ++u) {
        V at = gep(e, y, e.add(i0, e.i64(u * L)));
        if (masked && u > 0) at = within(e, live[u], at, gep(e, y, i0));
        if (masked)
          masked_store(e, e.get(acc[u], vec_), at, masks[u]);
        else
          b.CreateAlignedStore(e.get(acc[u], vec_), at, llvm::Align(ebytes()));
      }
    };
    llvm::Function* f = b.GetInsertBlock()->getParent();
    llvm::BasicBlock* whole = llvm::BasicBlock::Create(e.ctx(), "axpy_whole", f);
    llvm::BasicBlock* edge = llvm::BasicBlock::Create(e.ctx(), "axpy_edge", f);
    llvm::BasicBlock* done = llvm::BasicBlock::Create(e.ctx(), "axpy_done", f);
    b.CreateCondBr(b.CreateICmpSLE(e.add(i0, e.i64(U * L)), len), whole, edge);
    b.SetInsertPoint(whole);
    run(false);
    b.CreateBr(done);
    b.SetInsertPoint(edge);
    run(true);
    b.CreateBr(done);
    b.SetInsertPoint(done);
  });
}

}  // namespace adjoint::codegen::gemm_detail
