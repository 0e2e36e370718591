// The GEMM and GEMV generators (see gemm.hpp). Each module gets one copy of
// the routines for its float type, as internal functions, made on first use:
//
//   adj.gemm      the driver: blocks over n (nc), k (kc) and m (mc), packs
//                 B blocks and A strips, runs the micro-kernel on every tile
//   adj.gemm.packb / adj.gemm.strip   one task each for the thread pool
//   adj.gemm.kernel                   the MR x NR register-blocked tile
//   adj.gemv      y = A x, streaming A once
//
// Summation order: within a kc block each element of C is a chain of fused
// multiply-adds in ascending k; blocks are added to C in ascending order.
// The order depends on the sizes only, never on the thread count.
#include "codegen/gemm.hpp"

#include <adjoint/parallel.h>
#include <llvm/IR/Intrinsics.h>
#include <llvm/TargetParser/Host.h>

#include <memory>
#include <string>
#include <vector>

namespace adjoint::codegen {

namespace {

using V = llvm::Value*;

// Work (m*n*k) below which the pool is not worth waking.
constexpr int64_t kParallelWork = int64_t{1} << 18;

bool host_has(const char* feature) {
  auto features = llvm::sys::getHostCPUFeatures();
  auto it = features.find(feature);
  return it != features.end() && it->second;
}

// The fields of a GEMM task's context, in order (all i64 or pointers).
enum Field { kA, kArs, kAcs, kB, kBrs, kBcs, kC, kLdc, kM, kIc, kMc, kPc, kKc, kJc, kNc, kAp, kBp, kFirst, kFields };

bool is_pointer_field(int f) { return f == kA || f == kB || f == kC || f == kAp || f == kBp; }

class GemmGen {
 public:
  GemmGen(llvm::Module& m, DType t) : m_(m), t_(t), cfg_(gemm_config(t)) {
    auto& ctx = m.getContext();
    ptr_ = llvm::PointerType::getUnqual(ctx);
    i64_ = llvm::Type::getInt64Ty(ctx);
    f_ = t == DType::f64 ? llvm::Type::getDoubleTy(ctx) : llvm::Type::getFloatTy(ctx);
    vec_ = llvm::FixedVectorType::get(f_, static_cast<unsigned>(cfg_.lanes));
    std::vector<llvm::Type*> fields(kFields, i64_);
    for (int f = 0; f < kFields; ++f)
      if (is_pointer_field(f)) fields[static_cast<size_t>(f)] = ptr_;
    ctx_ty_ = llvm::StructType::get(ctx, fields);
  }

  llvm::Function* gemm() { return get("adj.gemm", [&](llvm::Function* f) { build_gemm(f); }); }
  llvm::Function* gemv() { return get("adj.gemv", [&](llvm::Function* f) { build_gemv(f); }); }

 private:
  std::string suffix() const { return t_ == DType::f64 ? ".f64" : ".f32"; }
  int64_t ebytes() const { return Emitter::elem_bytes(t_); }

  llvm::Function* get(const std::string& base, const std::function<void(llvm::Function*)>& build) {
    std::string name = base + suffix();
    if (llvm::Function* f = m_.getFunction(name)) return f;
    llvm::Function* f = nullptr;
    if (base == "adj.gemm")
      f = make(name, {i64_, i64_, i64_, ptr_, i64_, i64_, ptr_, i64_, i64_, ptr_, ptr_});
    else if (base == "adj.gemv")
      f = make(name, {i64_, i64_, ptr_, i64_, i64_, ptr_, i64_, ptr_});
    else if (base == "adj.gemm.kernel")
      f = make(name, {ptr_, ptr_, ptr_, i64_, i64_, i64_, i64_, i64_});
    else
      f = make(name, {ptr_, i64_});  // a pool task: (ctx, index)
    // One shared copy: inlining the routines into every call site multiplies
    // compile time for no gain (each call is a large amount of work).
    if (base == "adj.gemm" || base == "adj.gemv") f->addFnAttr(llvm::Attribute::NoInline);
    build(f);
    return f;
  }

  llvm::Function* make(const std::string& name, std::vector<llvm::Type*> args) {
    auto* type = llvm::FunctionType::get(llvm::Type::getVoidTy(m_.getContext()), args, false);
    // The driver is the library's entry point (see build_gemm_library).
    auto linkage = name.rfind("adj.gemm.f", 0) == 0 ? llvm::Function::ExternalLinkage
                                                     : llvm::Function::InternalLinkage;
    auto* f = llvm::Function::Create(type, linkage, name, m_);
    f->setDoesNotThrow();
    return f;
  }

  // --- small IR helpers on an Emitter
  static V min(Emitter& e, V a, V b) { return e.b().CreateSelect(e.b().CreateICmpSLT(a, b), a, b); }
  static V ceil_div(Emitter& e, V a, int64_t b) {
    return e.b().CreateSDiv(e.add(a, e.i64(b - 1)), e.i64(b));
  }
  V gep(Emitter& e, V base, V index) { return e.b().CreateInBoundsGEP(f_, base, index); }
  V splat(Emitter& e, V s) { return e.b().CreateVectorSplat(static_cast<unsigned>(cfg_.lanes), s); }
  V fma(Emitter& e, V a, V b, V c) {
    return e.b().CreateIntrinsic(llvm::Intrinsic::fma, {a->getType()}, {a, b, c});
  }
  // Lanes whose index (first + lane) is below `limit`.
  V lane_mask(Emitter& e, V first, V limit) {
    std::vector<llvm::Constant*> idx;
    for (int l = 0; l < cfg_.lanes; ++l) idx.push_back(llvm::ConstantInt::get(i64_, l));
    V lanes = e.b().CreateAdd(splat64(e, first), llvm::ConstantVector::get(idx));
    return e.b().CreateICmpSLT(lanes, splat64(e, limit));
  }
  V splat64(Emitter& e, V s) { return e.b().CreateVectorSplat(static_cast<unsigned>(cfg_.lanes), s); }
  V masked_load(Emitter& e, V p, V mask) {
    return e.b().CreateMaskedLoad(vec_, p, llvm::Align(ebytes()), mask,
                                  llvm::Constant::getNullValue(vec_));
  }
  void masked_store(Emitter& e, V v, V p, V mask) {
    e.b().CreateMaskedStore(v, p, llvm::Align(ebytes()), mask);
  }

  // --- the micro-kernel
  // kernel(Ap, Bp, C, ldc, kc, mr, nr, first): the MR x NR tile at C gets
  // Ap(MR x kc, k-major) times Bp(kc x NR, k-major); rows >= mr and columns
  // >= nr are left alone. first != 0: C = product, else C += product.
  llvm::Function* kernel() {
    return get("adj.gemm.kernel", [&](llvm::Function* f) { build_kernel(f); });
  }

  // One rank-1 update of the tile: acc += Ap[p, :] (x) Bp[p, :].
  std::vector<V> k_step(Emitter& e, V ap, V bp, V p, const std::vector<V>& acc) {
    auto& b = e.b();
    const int MR = cfg_.mr, NV = cfg_.nr_vectors, L = cfg_.lanes, NR = cfg_.nr();
    std::vector<V> bv;
    for (int v = 0; v < NV; ++v) {
      V at = gep(e, bp, e.add(e.mul(p, e.i64(NR)), e.i64(v * L)));
      bv.push_back(b.CreateAlignedLoad(vec_, at, llvm::Align(cfg_.lanes * ebytes())));
    }
    std::vector<V> next(acc.size());
    for (int r = 0; r < MR; ++r) {
      V as = splat(e, b.CreateLoad(f_, gep(e, ap, e.add(e.mul(p, e.i64(MR)), e.i64(r)))));
      for (int v = 0; v < NV; ++v) next[r * NV + v] = fma(e, as, bv[v], acc[r * NV + v]);
    }
    return next;
  }

  // Runs k steps from `p0`, `unroll` per iteration, while a whole iteration
  // fits below kc; returns where it stopped and the accumulators.
  std::pair<V, std::vector<V>> k_loop(Emitter& e, V ap, V bp, V kc, V p0, std::vector<V> acc0,
                                      int unroll) {
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
    for (int u = 0; u < unroll; ++u) cur = k_step(e, ap, bp, e.add(p, e.i64(u)), cur);
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

  void build_kernel(llvm::Function* f) {
    Emitter e(m_, f, t_);
    auto& b = e.b();
    V ap = f->getArg(0), bp = f->getArg(1), c = f->getArg(2), ldc = f->getArg(3);
    V kc = f->getArg(4), mr = f->getArg(5), nr = f->getArg(6);
    V first = b.CreateICmpNE(f->getArg(7), e.i64(0));
    const int MR = cfg_.mr, NV = cfg_.nr_vectors, L = cfg_.lanes, NR = cfg_.nr();

    // C is read and written only after the k loop: fetch its tile now, so
    // the misses overlap the arithmetic instead of following it.
    for (int r = 0; r < MR; ++r) {
      V row = gep(e, c, e.mul(e.i64(r), ldc));
      for (V at : {row, gep(e, row, e.i64(NR - 1))})
        b.CreateIntrinsic(llvm::Intrinsic::prefetch, {ptr_},
                          {at, b.getInt32(1), b.getInt32(3), b.getInt32(1)});
    }
    // The k loop, unrolled by 4 (LLVM's unroller is off), then one step at
    // a time for the rest.
    std::vector<V> zero(static_cast<size_t>(MR * NV), llvm::Constant::getNullValue(vec_));
    auto [p4, acc4] = k_loop(e, ap, bp, kc, e.i64(0), zero, 4);
    auto [p_end, next] = k_loop(e, ap, bp, kc, p4, acc4, 1);
    (void)p_end;

    // Store: plain vectors for a whole tile, masked ones on the edges.
    V whole = b.CreateAnd(b.CreateICmpEQ(mr, e.i64(MR)), b.CreateICmpEQ(nr, e.i64(NR)));
    llvm::BasicBlock* full = llvm::BasicBlock::Create(e.ctx(), "full", f);
    llvm::BasicBlock* edge = llvm::BasicBlock::Create(e.ctx(), "edge", f);
    llvm::BasicBlock* done = llvm::BasicBlock::Create(e.ctx(), "ret", f);
    b.CreateCondBr(whole, full, edge);
    b.SetInsertPoint(full);
    for (int r = 0; r < MR; ++r)
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
    for (int r = 0; r < MR; ++r) {
      e.if_then(b.CreateICmpSLT(e.i64(r), mr), [&] {
        for (int v = 0; v < NV; ++v) {
          V at = gep(e, c, e.add(e.mul(e.i64(r), ldc), e.i64(v * L)));
          V old = masked_load(e, at, masks[v]);
          V sum = b.CreateSelect(first, next[r * NV + v], b.CreateFAdd(old, next[r * NV + v]));
          masked_store(e, sum, at, masks[v]);
        }
      });
    }
    b.CreateBr(done);
    b.SetInsertPoint(done);
    b.CreateRetVoid();
  }

  // --- packing
  // dst[p*W + r] = src[(r0 + r)*s_r + (p0 + p)*s_p] for r < width, p < kc,
  // and 0 for width <= r < W (the tile's padding). One of the strides is 1
  // (operands are contiguous matrices, read straight or transposed).
  void pack(Emitter& e, V dst, int64_t W, V src, V s_r, V s_p, V r0, V p0, V width, V kc) {
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

  // Stores lanes [g*L, W) of v at `at`, row p of a panel of width W with
  // kc rows. Masked stores are slow on some CPUs (AVX2 on AMD), so a vector
  // reaching past W is stored whole when the next row, stored after it,
  // overwrites the excess: only the last row needs the mask.
  void store_panel_vector(Emitter& e, V v, V at, int64_t W, int g, V p, V kc) {
    auto& b = e.b();
    if ((g + 1) * cfg_.lanes <= W) {
      b.CreateAlignedStore(v, at, llvm::Align(ebytes()));
      return;
    }
    V mask = lane_mask(e, e.i64(g * cfg_.lanes), e.i64(W));
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

  // Source rows contiguous along r: each panel row p is one masked vector
  // load per L elements.
  void pack_copy(Emitter& e, V dst, int64_t W, V base, V s_p, V width, V kc) {
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
          V v = masked ? masked_load(e, at, masks[g])
                       : b.CreateAlignedLoad(vec_, at, llvm::Align(ebytes()));
          store_panel_vector(e, v, gep(e, out, e.i64(g * L)), W, g, p, kc);
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

  // Source contiguous along p: L x L blocks are loaded row by row (along p)
  // and transposed in registers, so both reads and writes are vectors.
  void pack_transpose(Emitter& e, V dst, int64_t W, V base, V s_r, V width, V kc) {
    auto& b = e.b();
    const int L = cfg_.lanes;
    const int groups = static_cast<int>((W + L - 1) / L);
    e.loop(ceil_div(e, kc, L), [&](V pb) {
      V p0 = e.mul(pb, e.i64(L));
      V pmask = lane_mask(e, p0, kc);
      // A whole block (every row and column in range) loads plainly; the
      // edges use masked loads.
      V whole = b.CreateAnd(b.CreateICmpSLE(e.add(p0, e.i64(L)), kc),
                            b.CreateICmpSGE(width, e.i64(W)));
      llvm::Function* f = b.GetInsertBlock()->getParent();
      llvm::BasicBlock* plain = llvm::BasicBlock::Create(e.ctx(), "block_whole", f);
      llvm::BasicBlock* edge = llvm::BasicBlock::Create(e.ctx(), "block_edge", f);
      llvm::BasicBlock* loaded = llvm::BasicBlock::Create(e.ctx(), "block_loaded", f);
      b.CreateCondBr(whole, plain, edge);
      auto load_rows = [&](bool masked) {
        std::vector<V> all;
        for (int r = 0; r < groups * L; ++r) {
          if (r >= W) {
            all.push_back(llvm::Constant::getNullValue(vec_));
            continue;
          }
          V at = gep(e, base, e.add(e.mul(e.i64(r), s_r), p0));
          if (!masked) {
            all.push_back(b.CreateAlignedLoad(vec_, at, llvm::Align(ebytes())));
            continue;
          }
          V live = b.CreateICmpSLT(e.i64(r), width);
          V mask = b.CreateAnd(pmask, b.CreateVectorSplat(static_cast<unsigned>(L), live));
          all.push_back(masked_load(e, at, mask));
        }
        return all;
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
      std::vector<V> rows;
      for (size_t r = 0; r < fast.size(); ++r) {
        llvm::PHINode* phi = b.CreatePHI(vec_, 2);
        phi->addIncoming(fast[r], plain_end);
        phi->addIncoming(slow[r], edge_end);
        rows.push_back(phi);
      }
      std::vector<std::vector<V>> cols;  // per group, per j: panel row p0 + j
      for (int g = 0; g < groups; ++g)
        cols.push_back(transpose(e, std::vector<V>(rows.begin() + g * L, rows.begin() + (g + 1) * L)));
      // Rows in ascending order, groups left to right: each store's excess
      // (see store_panel_vector) is overwritten by a later one.
      for (int j = 0; j < L; ++j) {
        V p = e.add(p0, e.i64(j));
        e.if_then(b.CreateICmpSLT(p, kc), [&] {
          for (int g = 0; g < groups; ++g) {
            V at = gep(e, dst, e.add(e.mul(p, e.i64(W)), e.i64(g * L)));
            store_panel_vector(e, cols[static_cast<size_t>(g)][static_cast<size_t>(j)], at, W, g,
                               p, kc);
          }
        });
      }
    });
  }

  // Transposes L vectors of L lanes: log2(L) rounds, each swapping the
  // off-diagonal blocks of size d between rows i and i + d.
  std::vector<V> transpose(Emitter& e, std::vector<V> v) {
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

  V field(Emitter& e, V ctx, int f) {
    llvm::Type* t = is_pointer_field(f) ? static_cast<llvm::Type*>(ptr_) : i64_;
    return e.b().CreateLoad(t, e.b().CreateStructGEP(ctx_ty_, ctx, static_cast<unsigned>(f)));
  }

  // packa(ctx, s): packs the s-th MR-row strip of the current A block.
  llvm::Function* packa_task() {
    return get("adj.gemm.packa", [&](llvm::Function* f) {
      Emitter e(m_, f, t_);
      V ctx = f->getArg(0), s = f->getArg(1);
      V kc = field(e, ctx, kKc), mc = field(e, ctx, kMc);
      V row = e.mul(s, e.i64(cfg_.mr));
      V rows = min(e, e.i64(cfg_.mr), e.sub(mc, row));
      V ap = gep(e, field(e, ctx, kAp), e.mul(e.mul(s, kc), e.i64(cfg_.mr)));
      pack(e, ap, cfg_.mr, field(e, ctx, kA), field(e, ctx, kArs), field(e, ctx, kAcs),
           e.add(field(e, ctx, kIc), row), field(e, ctx, kPc), rows, kc);
      e.b().CreateRetVoid();
    });
  }

  // panel(ctx, q): packs the q-th NR-column panel of B (kc x NR, small
  // enough to stay in L1), then runs the micro-kernel down every strip of
  // the packed A block (which stays in L2).
  llvm::Function* panel_task() {
    llvm::Function* k = kernel();
    return get("adj.gemm.panel", [&](llvm::Function* f) {
      Emitter e(m_, f, t_);
      auto& b = e.b();
      V ctx = f->getArg(0), q = f->getArg(1);
      V kc = field(e, ctx, kKc), nc = field(e, ctx, kNc), mc = field(e, ctx, kMc);
      V col = e.mul(q, e.i64(cfg_.nr()));
      V cols = min(e, e.i64(cfg_.nr()), e.sub(nc, col));
      V bq = gep(e, field(e, ctx, kBp), e.mul(e.mul(q, kc), e.i64(cfg_.nr())));
      V jc = field(e, ctx, kJc);
      // Column j of B is row j of the panel: s_r walks columns, s_p rows.
      pack(e, bq, cfg_.nr(), field(e, ctx, kB), field(e, ctx, kBcs), field(e, ctx, kBrs),
           e.add(jc, col), field(e, ctx, kPc), cols, kc);
      V ldc = field(e, ctx, kLdc), ap = field(e, ctx, kAp), first = field(e, ctx, kFirst);
      V c_block = gep(e, field(e, ctx, kC), e.add(e.mul(field(e, ctx, kIc), ldc), e.add(jc, col)));
      e.loop(ceil_div(e, mc, cfg_.mr), [&](V s) {
        V row = e.mul(s, e.i64(cfg_.mr));
        V rows = min(e, e.i64(cfg_.mr), e.sub(mc, row));
        V as = gep(e, ap, e.mul(row, kc));
        b.CreateCall(k, {as, bq, gep(e, c_block, e.mul(row, ldc)), ldc, kc, rows, cols, first});
      });
      b.CreateRetVoid();
    });
  }

  // Runs task(ctx, i) for i < n: on the pool when `parallel`, else in a loop.
  void run_tasks(Emitter& e, llvm::Function* task, V ctx, V n, V parallel) {
    auto& b = e.b();
    llvm::Function* f = b.GetInsertBlock()->getParent();
    llvm::BasicBlock* pool = llvm::BasicBlock::Create(e.ctx(), "pool", f);
    llvm::BasicBlock* serial = llvm::BasicBlock::Create(e.ctx(), "serial", f);
    llvm::BasicBlock* join = llvm::BasicBlock::Create(e.ctx(), "tasks_done", f);
    b.CreateCondBr(parallel, pool, serial);
    b.SetInsertPoint(pool);
    auto* pf_ty = llvm::FunctionType::get(b.getVoidTy(), {i64_, ptr_, ptr_}, false);
    llvm::FunctionCallee pf = m_.getOrInsertFunction("adj_parallel_for", pf_ty);
    b.CreateCall(pf, {n, task, ctx});
    b.CreateBr(join);
    b.SetInsertPoint(serial);
    e.loop(n, [&](V i) { b.CreateCall(task, {ctx, i}); });
    b.CreateBr(join);
    b.SetInsertPoint(join);
  }

  // gemm(m, n, k, A, a_rs, a_cs, B, b_rs, b_cs, C, scratch)
  void build_gemm(llvm::Function* f) {
    llvm::Function* packa = packa_task();
    llvm::Function* panel = panel_task();
    llvm::Function* mv = gemv();
    Emitter e(m_, f, t_);
    auto& b = e.b();
    V m = f->getArg(0), n = f->getArg(1), k = f->getArg(2);
    V a = f->getArg(3), a_rs = f->getArg(4), a_cs = f->getArg(5);
    V bm = f->getArg(6), b_rs = f->getArg(7), b_cs = f->getArg(8);
    V c = f->getArg(9), scratch = f->getArg(10);

    llvm::BasicBlock* ret = llvm::BasicBlock::Create(e.ctx(), "ret", f);
    auto exit_if = [&](V cond, const std::function<void()>& before) {
      llvm::BasicBlock* go = llvm::BasicBlock::Create(e.ctx(), "exit", f);
      llvm::BasicBlock* stay = llvm::BasicBlock::Create(e.ctx(), "go_on", f);
      b.CreateCondBr(cond, go, stay);
      b.SetInsertPoint(go);
      before();
      b.CreateBr(ret);
      b.SetInsertPoint(stay);
    };
    exit_if(b.CreateOr(b.CreateICmpEQ(m, e.i64(0)), b.CreateICmpEQ(n, e.i64(0))), [] {});
    exit_if(b.CreateICmpEQ(k, e.i64(0)), [&] {
      e.loop(e.mul(m, n), [&](V i) { b.CreateStore(llvm::ConstantFP::get(f_, 0.0), gep(e, c, i)); });
    });
    // Vector cases: one pass over the matrix, no packing.
    exit_if(b.CreateICmpEQ(m, e.i64(1)), [&] {  // c[j] = sum_p B(p, j) a(p)
      b.CreateCall(mv, {n, k, bm, b_cs, b_rs, a, a_cs, c});
    });
    exit_if(b.CreateICmpEQ(n, e.i64(1)), [&] {  // c[i] = sum_p A(i, p) b(p)
      b.CreateCall(mv, {m, k, a, a_rs, a_cs, bm, b_rs, c});
    });

    // k = 1: an outer product, c[i, :] = A(i, 0) B(0, :), B's row contiguous.
    exit_if(b.CreateAnd(b.CreateICmpEQ(k, e.i64(1)), b.CreateICmpEQ(b_cs, e.i64(1))),
            [&] { outer_product(e, m, n, a, a_rs, bm, c); });

    // Blocks of k as equal as possible, none deeper than kc.
    V kblocks = ceil_div(e, k, cfg_.kc);
    V kcb = b.CreateSDiv(e.add(k, e.sub(kblocks, e.i64(1))), kblocks);
    V bp = scratch;
    V ap = gep(e, scratch, e.mul(kcb, round_up(e, min(e, n, e.i64(cfg_.nc)), cfg_.nr())));
    // Blocks of m as equal as possible (whole strips), none taller than mc.
    V mblocks = ceil_div(e, m, cfg_.mc);
    V mcb = round_up(e, ceil_div_v(e, m, mblocks), cfg_.mr);
    V parallel = b.CreateICmpSGE(e.mul(e.mul(m, n), k), e.i64(kParallelWork));
    V ctx = b.CreateAlloca(ctx_ty_);
    auto set = [&](int fi, V v) {
      b.CreateStore(v, b.CreateStructGEP(ctx_ty_, ctx, static_cast<unsigned>(fi)));
    };
    set(kA, a), set(kArs, a_rs), set(kAcs, a_cs), set(kB, bm), set(kBrs, b_rs), set(kBcs, b_cs);
    set(kC, c), set(kLdc, n), set(kM, m), set(kAp, ap), set(kBp, bp);
    e.loop(ceil_div(e, n, cfg_.nc), [&](V jb) {
      V jc = e.mul(jb, e.i64(cfg_.nc));
      V nc = min(e, e.i64(cfg_.nc), e.sub(n, jc));
      e.loop(kblocks, [&](V kb) {
        V pc = e.mul(kb, kcb);
        set(kJc, jc), set(kNc, nc), set(kPc, pc), set(kKc, min(e, kcb, e.sub(k, pc)));
        set(kFirst, b.CreateZExt(b.CreateICmpEQ(kb, e.i64(0)), i64_));
        e.loop(mblocks, [&](V ib) {
          V ic = e.mul(ib, mcb);
          V mc = min(e, mcb, e.sub(m, ic));
          set(kIc, ic), set(kMc, mc);
          run_tasks(e, packa, ctx, ceil_div(e, mc, cfg_.mr), parallel);
          run_tasks(e, panel, ctx, ceil_div(e, nc, cfg_.nr()), parallel);
        });
      });
    });
    b.CreateBr(ret);
    b.SetInsertPoint(ret);
    b.CreateRetVoid();
  }

  static V ceil_div_v(Emitter& e, V a, V b) {
    return e.b().CreateSDiv(e.add(a, e.sub(b, e.i64(1))), b);
  }
  static V round_up(Emitter& e, V v, int64_t to) { return e.mul(ceil_div(e, v, to), e.i64(to)); }

  // gemv(len, k, A, rs, cs, x, xs, y): y[i] = sum_p A[i*rs + p*cs] * x[p*xs]
  // for i < len. A is streamed once, along whichever way it is contiguous.
  void build_gemv(llvm::Function* f) {
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

  // Rows contiguous along p: each y[i] is a dot product. Rows go L at a
  // time, one vector accumulator each (p in whole vectors, then one masked
  // vector); an L x L transpose then sums all L rows' lanes at once and
  // stores L results as one vector. Leftover rows go one at a time.
  void gemv_dot(Emitter& e, V len, V k, V a, V rs, V x, V y) {
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
          V av = mask ? masked_load(e, at, mask)
                      : b.CreateAlignedLoad(vec_, at, llvm::Align(ebytes()));
          e.set(acc[static_cast<size_t>(r)], fma(e, av, xv, e.get(acc[static_cast<size_t>(r)], vec_)));
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

  // c[i*n + j] = a[i*rs] * b[j], a row of vectors at a time.
  void outer_product(Emitter& e, V m, V n, V a, V rs, V bv, V c) {
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
      e.loop(e.sub(full, e.mul(quads, e.i64(4))), [&](V jb) {
        vector_at(e.mul(e.add(e.mul(quads, e.i64(4)), jb), e.i64(L)));
      });
      e.if_then(b.CreateICmpSLT(e.mul(full, e.i64(L)), n), [&] {
        V j = e.mul(full, e.i64(L));
        V bj = masked_load(e, gep(e, bv, j), tail);
        masked_store(e, b.CreateFMul(ai, bj), gep(e, row, j), tail);
      });
    });
  }

  // The lanes of v summed as a fixed tree (halves added pairwise).
  V reduce(Emitter& e, V v) {
    auto& b = e.b();
    for (int w = cfg_.lanes / 2; w >= 1; w /= 2) {
      std::vector<int> lo, hi;
      for (int l = 0; l < w; ++l) lo.push_back(l), hi.push_back(l + w);
      v = b.CreateFAdd(b.CreateShuffleVector(v, lo), b.CreateShuffleVector(v, hi));
    }
    return b.CreateExtractElement(v, uint64_t{0});
  }

  // Columns contiguous along i: y is built a block of four vectors at a
  // time, adding A[:, p] * x[p] for each p in ascending order.
  void gemv_axpy(Emitter& e, V len, V k, V a, V cs, V x, V xs, V y) {
    auto& b = e.b();
    const int L = cfg_.lanes, U = 4;
    e.loop(ceil_div(e, len, U * L), [&](V blk) {
      V i0 = e.mul(blk, e.i64(U * L));
      std::vector<V> acc, masks;
      for (int u = 0; u < U; ++u) {
        acc.push_back(e.local(vec_, llvm::Constant::getNullValue(vec_)));
        masks.push_back(lane_mask(e, e.add(i0, e.i64(u * L)), len));
      }
      // A whole block reads and writes plain vectors; the last may be masked.
      auto run = [&](bool masked) {
        e.loop(k, [&](V p) {
          V xv = splat(e, b.CreateLoad(f_, gep(e, x, e.mul(p, xs))));
          V col = gep(e, a, e.add(e.mul(p, cs), i0));
          for (int u = 0; u < U; ++u) {
            V at = gep(e, col, e.i64(u * L));
            V av = masked ? masked_load(e, at, masks[u])
                          : b.CreateAlignedLoad(vec_, at, llvm::Align(ebytes()));
            e.set(acc[u], fma(e, av, xv, e.get(acc[u], vec_)));
          }
        });
        for (int u = 0; u < U; ++u) {
          V at = gep(e, y, e.add(i0, e.i64(u * L)));
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

  llvm::Module& m_;
  DType t_;
  GemmConfig cfg_;
  llvm::PointerType* ptr_ = nullptr;
  llvm::Type* i64_ = nullptr;
  llvm::Type* f_ = nullptr;
  llvm::FixedVectorType* vec_ = nullptr;
  llvm::StructType* ctx_ty_ = nullptr;
};

}  // namespace

GemmConfig gemm_config(DType t) {
  GemmConfig c;
  int vector_bytes = host_has("avx512f") ? 64 : host_has("avx") ? 32 : 16;
  c.lanes = vector_bytes / static_cast<int>(Emitter::elem_bytes(t));
  // 32 vector registers hold 24 accumulators; 16 hold 12 (AVX2) or 8 (SSE).
  c.mr = vector_bytes == 64 ? 12 : vector_bytes == 32 ? 6 : 4;
  c.nr_vectors = 2;
  // The packed A block (mc x kc) stays in L2, a B panel (kc x NR) in L1.
  c.mc = 384;
  return c;
}

std::string gemm_symbol(DType t) { return t == DType::f64 ? "adj.gemm.f64" : "adj.gemm.f32"; }

std::unique_ptr<llvm::Module> build_gemm_library(llvm::LLVMContext& ctx, DType t) {
  auto m = std::make_unique<llvm::Module>(gemm_symbol(t), ctx);
  GemmGen gen(*m, t);
  gen.gemm();
  return m;
}

void emit_gemm(Emitter& e, V m, V n, V k, StridedMatrix a, StridedMatrix b, V c, V scratch) {
  // A declaration: the routine lives in the JIT's shared library module.
  auto* i64 = e.b().getInt64Ty();
  auto* ptr = llvm::PointerType::getUnqual(e.ctx());
  auto* type = llvm::FunctionType::get(e.b().getVoidTy(),
                                       {i64, i64, i64, ptr, i64, i64, ptr, i64, i64, ptr, ptr}, false);
  llvm::FunctionCallee gemm = e.module().getOrInsertFunction(gemm_symbol(e.float_type()), type);
  e.b().CreateCall(gemm, {m, n, k, a.data, a.rs, a.cs, b.data, b.rs, b.cs, c, scratch});
}

V gemm_scratch_bytes(Emitter& e, V m, V n, V k) {
  GemmConfig cfg = gemm_config(e.float_type());
  auto& b = e.b();
  auto min = [&](V x, int64_t y) { return b.CreateSelect(b.CreateICmpSLT(x, e.i64(y)), x, e.i64(y)); };
  auto round_up = [&](V x, int64_t to) {
    return e.mul(b.CreateSDiv(e.add(x, e.i64(to - 1)), e.i64(to)), e.i64(to));
  };
  V kc = min(k, cfg.kc);
  V b_block = e.mul(kc, round_up(min(n, cfg.nc), cfg.nr()));
  V a_block = e.mul(kc, round_up(min(m, cfg.mc), cfg.mr));
  return e.mul(e.add(b_block, a_block), e.i64(Emitter::elem_bytes(e.float_type())));
}

}  // namespace adjoint::codegen
