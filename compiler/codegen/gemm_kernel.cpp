// The micro-kernel and the packing routines of the generated GEMM (see gemm_gen.hpp).
#include <llvm/IR/Intrinsics.h>

#include <algorithm>

#include "codegen/gemm_gen.hpp"

namespace adjoint::codegen::gemm_detail {

llvm::Function* GemmGen::kernel(int rows) {
  std::string name =
      rows == cfg_.mr ? "adj.gemm.kernel" : "adj.gemm.kernel.r" + std::to_string(rows);
  return get(name, [&](llvm::Function* f) { build_kernel(f, rows); });
}

std::vector<int> GemmGen::kernel_rows() const {
  const int MR = cfg_.mr;
  if (MR % 3 != 0) return {MR};
  return {MR / 3, MR};
}

std::vector<V> GemmGen::k_step(Emitter& e, V ap, V bp, V b_ks, V p, const std::vector<V>& acc) {
  auto& b = e.b();
  const int MR = cfg_.mr, NV = cfg_.nr_vectors, L = cfg_.lanes;
  const int rows = static_cast<int>(acc.size()) / NV;
  std::vector<V> bv;
  for (int v = 0; v < NV; ++v) {
    V at = gep(e, bp, e.add(e.mul(p, b_ks), e.i64(v * L)));
    bv.push_back(b.CreateAlignedLoad(vec_, at, llvm::Align(ebytes())));
  }
  std::vector<V> next(acc.size());
  for (int r = 0; r < rows; ++r) {
    V as = splat(e, b.CreateLoad(f_, gep(e, ap, e.add(e.mul(p, e.i64(MR)), e.i64(r)))));
    for (int v = 0; v < NV; ++v) next[r * NV + v] = fma(e, as, bv[v], acc[r * NV + v]);
  }
  return next;
}

std::pair<V, std::vector<V>> GemmGen::k_loop(Emitter& e, V ap, V bp, V b_ks, V kc, V p0,
                                             std::vector<V> acc0, int unroll) {
  auto& b = e.b();
  llvm::Function* f = b.GetInsertBlock()->getParent();
  llvm::BasicBlock* pre = b.GetInsertBlock();
  llvm::BasicBlock* body = llvm::BasicBlock::Create(e.ctx(), "k", f);
  llvm::BasicBlock* exit = llvm::BasicBlock::Create(e.ctx(), "k_done", f);
  auto fits = [&](V p) { return b.CreateICmpSLE(e.add(p, e.i64(unroll)), kc); };
  b.CreateCondBr(fits(p0), body, exit);
  b.SetInsertPoint(body);
  llvm::PHINode* p = b.CreatePHI(i64_, 2, "p");
  std::vector<llvm::PHINode*> acc;
  for (size_t i = 0; i < acc0.size(); ++i) acc.push_back(b.CreatePHI(vec_, 2, "acc"));
  std::vector<V> cur(acc.begin(), acc.end());
  for (int u = 0; u < unroll; ++u) cur = k_step(e, ap, bp, b_ks, e.add(p, e.i64(u)), cur);
  V p_next = e.add(p, e.i64(unroll));
  llvm::BasicBlock* body_end = b.GetInsertBlock();
  b.CreateCondBr(fits(p_next), body, exit);
  p->addIncoming(p0, pre);
  p->addIncoming(p_next, body_end);
  for (size_t i = 0; i < acc.size(); ++i) {
    acc[i]->addIncoming(acc0[i], pre);
    acc[i]->addIncoming(cur[i], body_end);
  }
  b.SetInsertPoint(exit);
  llvm::PHINode* p_out = b.CreatePHI(i64_, 2, "p_out");
  p_out->addIncoming(p0, pre);
  p_out->addIncoming(p_next, body_end);
  std::vector<V> out;
  for (size_t i = 0; i < acc.size(); ++i) {
    llvm::PHINode* phi = b.CreatePHI(vec_, 2, "acc_out");
    phi->addIncoming(acc0[i], pre);
    phi->addIncoming(cur[i], body_end);
    out.push_back(phi);
  }
  return {p_out, out};
}

void GemmGen::build_kernel(llvm::Function* f, int rows) {
  Emitter e(m_, f, t_);
  auto& b = e.b();
  V ap = f->getArg(0), bp = f->getArg(1), b_ks = f->getArg(2), c = f->getArg(3);
  V ldc = f->getArg(4), kc = f->getArg(5), mr = f->getArg(6), nr = f->getArg(7);
  V first = b.CreateICmpNE(f->getArg(8), e.i64(0));
  const int NV = cfg_.nr_vectors, L = cfg_.lanes, NR = cfg_.nr();

  // C is read and written only after the k loop: fetch its tile now, so
  // the misses overlap the arithmetic instead of following it.
  for (int r = 0; r < rows; ++r) {
    V row = gep(e, c, e.mul(e.i64(r), ldc));
    for (V at : {row, gep(e, row, e.i64(NR - 1))})
      b.CreateIntrinsic(llvm::Intrinsic::prefetch, {ptr_},
                        {at, b.getInt32(1), b.getInt32(3), b.getInt32(1)});
  }
  // The k loop, unrolled by 4 (LLVM's unroller is off), then one step at
  // a time for the rest.
  std::vector<V> zero(static_cast<size_t>(rows * NV), llvm::Constant::getNullValue(vec_));
  auto [p4, acc4] = k_loop(e, ap, bp, b_ks, kc, e.i64(0), zero, 4);
  auto [p_end, next] = k_loop(e, ap, bp, b_ks, kc, p4, acc4, 1);
  (void)p_end;

  // Store: plain vectors for a whole tile, masked ones on the edges.
  V whole = b.CreateAnd(b.CreateICmpEQ(mr, e.i64(rows)), b.CreateICmpEQ(nr, e.i64(NR)));
  llvm::BasicBlock* full = llvm::BasicBlock::Create(e.ctx(), "full", f);
  llvm::BasicBlock* edge = llvm::BasicBlock::Create(e.ctx(), "edge", f);
  llvm::BasicBlock* done = llvm::BasicBlock::Create(e.ctx(), "ret", f);
  b.CreateCondBr(whole, full, edge);
  b.SetInsertPoint(full);
  for (int r = 0; r < rows; ++r)
    for (int v = 0; v < NV; ++v) {
      V at = gep(e, c, e.add(e.mul(e.i64(r), ldc), e.i64(v * L)));
      V old = b.CreateAlignedLoad(vec_, at, llvm::Align(ebytes()));
      V sum = b.CreateSelect(first, next[r * NV + v], b.CreateFAdd(old, next[r * NV + v]));
      b.CreateAlignedStore(sum, at, llvm::Align(ebytes()));
    }
  b.CreateBr(done);
  b.SetInsertPoint(edge);
  std::vector<V> masks;
  for (int v = 0; v < NV; ++v) masks.push_back(lane_mask(e, e.i64(v * L), nr));
  for (int r = 0; r < rows; ++r) {
    e.if_then(b.CreateICmpSLT(e.i64(r), mr), [&] {
      for (int v = 0; v < NV; ++v) {
        // A vector wholly past nr is skipped (see `within`).
        e.if_then(b.CreateICmpSGT(nr, e.i64(v * L)), [&] {
          V at = gep(e, c, e.add(e.mul(e.i64(r), ldc), e.i64(v * L)));
          V old = masked_load(e, at, masks[v]);
          V sum = b.CreateSelect(first, next[r * NV + v], b.CreateFAdd(old, next[r * NV + v]));
          masked_store(e, sum, at, masks[v]);
        });
      }
    });
  }
  b.CreateBr(done);
  b.SetInsertPoint(done);
  b.CreateRetVoid();
}

void GemmGen::pack(Emitter& e, V dst, int64_t W, V src, V s_r, V s_p, V r0, V p0, V width, V kc) {
  auto& b = e.b();
  llvm::Function* f = b.GetInsertBlock()->getParent();
  llvm::BasicBlock* along_r = llvm::BasicBlock::Create(e.ctx(), "pack_copy", f);
  llvm::BasicBlock* along_p = llvm::BasicBlock::Create(e.ctx(), "pack_transpose", f);
  llvm::BasicBlock* done = llvm::BasicBlock::Create(e.ctx(), "packed", f);
  V base = gep(e, src, e.add(e.mul(r0, s_r), e.mul(p0, s_p)));
  b.CreateCondBr(b.CreateICmpEQ(s_r, e.i64(1)), along_r, along_p);
  b.SetInsertPoint(along_r);
  pack_copy(e, dst, W, base, s_p, width, kc);
  b.CreateBr(done);
  b.SetInsertPoint(along_p);
  pack_transpose(e, dst, W, base, s_r, width, kc);
  b.CreateBr(done);
  b.SetInsertPoint(done);
}

void GemmGen::store_panel_vector(Emitter& e, V v, V at, int64_t valid, V p, V kc) {
  auto& b = e.b();
  if (valid >= cfg_.lanes) {
    b.CreateAlignedStore(v, at, llvm::Align(ebytes()));
    return;
  }
  V mask = lane_mask(e, e.i64(0), e.i64(valid));
  llvm::Function* f = b.GetInsertBlock()->getParent();
  llvm::BasicBlock* whole = llvm::BasicBlock::Create(e.ctx(), "store_whole", f);
  llvm::BasicBlock* last = llvm::BasicBlock::Create(e.ctx(), "store_last", f);
  llvm::BasicBlock* join = llvm::BasicBlock::Create(e.ctx(), "stored", f);
  b.CreateCondBr(b.CreateICmpSLT(e.add(p, e.i64(1)), kc), whole, last);
  b.SetInsertPoint(whole);
  b.CreateAlignedStore(v, at, llvm::Align(ebytes()));
  b.CreateBr(join);
  b.SetInsertPoint(last);
  masked_store(e, v, at, mask);
  b.CreateBr(join);
  b.SetInsertPoint(join);
}

void GemmGen::pack_copy(Emitter& e, V dst, int64_t W, V base, V s_p, V width, V kc) {
  const int L = cfg_.lanes;
  const int groups = static_cast<int>((W + L - 1) / L);
  std::vector<V> masks;
  for (int g = 0; g < groups; ++g) masks.push_back(lane_mask(e, e.i64(g * L), width));
  auto& b = e.b();
  // Whole panel rows (W a multiple of L, every column present) load plainly.
  V whole = b.CreateAnd(b.getInt1(W % L == 0), b.CreateICmpSGE(width, e.i64(W)));
  auto copy_rows = [&](bool masked) {
    e.loop(kc, [&](V p) {
      V row = gep(e, base, e.mul(p, s_p));
      V out = gep(e, dst, e.mul(p, e.i64(W)));
      for (int g = 0; g < groups; ++g) {
        V at = gep(e, row, e.i64(g * L));
        if (masked && g > 0)  // a group past width loads nothing, from the row's start
          at = within(e, b.CreateICmpSGT(width, e.i64(g * L)), at, row);
        V v = masked ? masked_load(e, at, masks[g])
                     : b.CreateAlignedLoad(vec_, at, llvm::Align(ebytes()));
        store_panel_vector(e, v, gep(e, out, e.i64(g * L)), W - g * L, p, kc);
      }
    });
  };
  llvm::Function* f = b.GetInsertBlock()->getParent();
  llvm::BasicBlock* plain = llvm::BasicBlock::Create(e.ctx(), "copy_whole", f);
  llvm::BasicBlock* edge = llvm::BasicBlock::Create(e.ctx(), "copy_edge", f);
  llvm::BasicBlock* done = llvm::BasicBlock::Create(e.ctx(), "copied", f);
  b.CreateCondBr(whole, plain, edge);
  b.SetInsertPoint(plain);
  if (W % L == 0) copy_rows(false);
  b.CreateBr(done);
  b.SetInsertPoint(edge);
  copy_rows(true);
  b.CreateBr(done);
  b.SetInsertPoint(done);
}

void GemmGen::pack_transpose(Emitter& e, V dst, int64_t W, V base, V s_r, V width, V kc) {
  const int L = cfg_.lanes;
  const int64_t full = W / L, rest = W % L;
  // One group of L panel columns at a time: L rows loaded, transposed and
  // stored before the next group's, so that only L vectors are live (all
  // groups at once spilled to the stack and cost mlp's step 15 us). A
  // partial last group goes first: its stores reach past W into the next
  // panel row (see store_panel_vector), which group 0 overwrites
  // afterwards (or, when W < L, the group's own next row). The whole groups
  // share one loop body (each copy added to the library's compile time).
  if (rest != 0) pack_transpose_group(e, dst, W, e.i64(full * L), rest, base, s_r, width, kc);
  if (full == 1) pack_transpose_group(e, dst, W, e.i64(0), L, base, s_r, width, kc);
  if (full > 1)
    e.loop(e.i64(full), [&](V g) {
      pack_transpose_group(e, dst, W, e.mul(g, e.i64(L)), L, base, s_r, width, kc);
    });
}

void GemmGen::pack_transpose_group(Emitter& e, V dst, int64_t W, V r0, int64_t rows, V base, V s_r,
                                   V width, V kc) {
  auto& b = e.b();
  const int L = cfg_.lanes;
  e.loop(ceil_div(e, kc, L), [&](V pb) {
    V p0 = e.mul(pb, e.i64(L));
    V pmask = lane_mask(e, p0, kc);
    // A whole block (every row and column in range) loads plainly; the
    // edges use masked loads.
    V whole = b.CreateAnd(b.CreateICmpSLE(e.add(p0, e.i64(L)), kc),
                          b.CreateICmpSGE(width, e.add(r0, e.i64(rows))));
    llvm::Function* f = b.GetInsertBlock()->getParent();
    llvm::BasicBlock* plain = llvm::BasicBlock::Create(e.ctx(), "block_whole", f);
    llvm::BasicBlock* edge = llvm::BasicBlock::Create(e.ctx(), "block_edge", f);
    llvm::BasicBlock* loaded = llvm::BasicBlock::Create(e.ctx(), "block_loaded", f);
    b.CreateCondBr(whole, plain, edge);
    auto load_rows = [&](bool masked) {
      std::vector<V> loaded_rows;
      for (int64_t r = 0; r < L; ++r) {
        if (r >= rows) {
          loaded_rows.push_back(llvm::Constant::getNullValue(vec_));
          continue;
        }
        V row = e.add(r0, e.i64(r));
        if (!masked) {
          V at = gep(e, base, e.add(e.mul(row, s_r), p0));
          loaded_rows.push_back(b.CreateAlignedLoad(vec_, at, llvm::Align(ebytes())));
          continue;
        }
        // A row past the matrix loads nothing, from its last row's address.
        V live = b.CreateICmpSLT(row, width);
        V at = gep(e, base, e.add(e.mul(within(e, live, row, e.sub(width, e.i64(1))), s_r), p0));
        V mask = b.CreateAnd(pmask, b.CreateVectorSplat(static_cast<unsigned>(L), live));
        loaded_rows.push_back(masked_load(e, at, mask));
      }
      return loaded_rows;
    };
    b.SetInsertPoint(plain);
    std::vector<V> fast = load_rows(false);
    llvm::BasicBlock* plain_end = b.GetInsertBlock();
    b.CreateBr(loaded);
    b.SetInsertPoint(edge);
    std::vector<V> slow = load_rows(true);
    llvm::BasicBlock* edge_end = b.GetInsertBlock();
    b.CreateBr(loaded);
    b.SetInsertPoint(loaded);
    std::vector<V> block;
    for (size_t r = 0; r < fast.size(); ++r) {
      llvm::PHINode* phi = b.CreatePHI(vec_, 2);
      phi->addIncoming(fast[r], plain_end);
      phi->addIncoming(slow[r], edge_end);
      block.push_back(phi);
    }
    std::vector<V> cols = transpose(e, block);  // cols[j]: panel row p0 + j
    // Rows in ascending order: each store's excess (see
    // store_panel_vector) is overwritten by a later one.
    for (int j = 0; j < L; ++j) {
      V p = e.add(p0, e.i64(j));
      e.if_then(b.CreateICmpSLT(p, kc), [&] {
        V at = gep(e, dst, e.add(e.mul(p, e.i64(W)), r0));
        store_panel_vector(e, cols[static_cast<size_t>(j)], at, rows, p, kc);
      });
    }
  });
}

std::vector<V> GemmGen::transpose(Emitter& e, std::vector<V> v) {
  const int L = cfg_.lanes;
  for (int d = L / 2; d >= 1; d /= 2) {
    std::vector<int> lo, hi;
    for (int k = 0; k < L; ++k) {
      bool upper = (k & d) != 0;
      lo.push_back(upper ? L + k - d : k);  // a[k], or b[k - d]
      hi.push_back(upper ? L + k : k + d);  // a[k + d], or b[k]
    }
    for (int i = 0; i < L; ++i) {
      if (i & d) continue;
      V a = v[static_cast<size_t>(i)], c = v[static_cast<size_t>(i + d)];
      v[static_cast<size_t>(i)] = e.b().CreateShuffleVector(a, c, lo);
      v[static_cast<size_t>(i + d)] = e.b().CreateShuffleVector(a, c, hi);
    }
  }
  return v;
}

}  // namespace adjoint::codegen::gemm_detail
