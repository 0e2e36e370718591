// The GEMM driver and the public entry points (see gemm_gen.hpp).
#include <llvm/TargetParser/Host.h>

#include <algorithm>
#include <memory>
#include <thread>

#include "codegen/gemm_gen.hpp"

namespace adjoint::codegen {

namespace gemm_detail {

// Work (m*n*k) below which the pool is not worth waking.
constexpr int64_t kParallelWork = int64_t{1} << 18;

// Size of B from which panel tasks prefetch it (see prefetch_part): about
// an L2 cache, below which B has usually just been written or read.
constexpr int64_t kPrefetchBytes = int64_t{512} << 10;

V GemmGen::uses_threads(Emitter& e, V m, V n, V k) {
  return e.b().CreateICmpSGE(e.mul(e.mul(m, n), k), e.i64(kParallelWork));
}

// This host's cores, up to 16. Each region needs its own share of the
// scratch (up to 0.9 MB in f32), so a model compiled here reserves one per
// core; a pool with more threads than that still cuts a product into this
// many.
int64_t GemmGen::max_regions() {
  static const int64_t regions =
      std::clamp<int64_t>(static_cast<int64_t>(std::thread::hardware_concurrency()), 1, 16);
  return regions;
}

V GemmGen::region_scratch_elems(Emitter& e, const GemmConfig& cfg, V m, V n, V k) {
  // A region's blocks are no larger than the whole product's. Whole
  // vectors, so that every region's packed B is aligned as the first's
  // (a vector that straddles two cache lines costs two accesses).
  V kc = min(e, k, e.i64(cfg.kc));
  V b_block = e.mul(kc, round_up(e, min(e, n, e.i64(cfg.nc)), cfg.nr()));
  V a_block = e.mul(kc, round_up(e, min(e, m, e.i64(cfg.mc)), cfg.mr));
  return round_up(e, e.add(b_block, a_block), cfg.lanes);
}

llvm::Function* GemmGen::packa_task() {
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

llvm::Function* GemmGen::panel_task() {
  std::vector<std::pair<int, llvm::Function*>> kernels;
  for (int rows : kernel_rows()) kernels.emplace_back(rows, kernel(rows));
  return get("adj.gemm.panel", [&](llvm::Function* f) {
    Emitter e(m_, f, t_);
    auto& b = e.b();
    V ctx = f->getArg(0), q = f->getArg(1);
    V kc = field(e, ctx, kKc), nc = field(e, ctx, kNc), mc = field(e, ctx, kMc);
    V col = e.mul(q, e.i64(cfg_.nr()));
    V cols = min(e, e.i64(cfg_.nr()), e.sub(nc, col));
    V packed = gep(e, field(e, ctx, kBp), e.mul(e.mul(q, kc), e.i64(cfg_.nr())));
    V jc = field(e, ctx, kJc);
    // A whole panel of a B that allows it is read where it lies.
    V direct = b.CreateAnd(b.CreateICmpNE(field(e, ctx, kDirectB), e.i64(0)),
                           b.CreateICmpEQ(cols, e.i64(cfg_.nr())));
    V in_place = gep(e, field(e, ctx, kB),
                     e.add(e.mul(field(e, ctx, kPc), field(e, ctx, kBrs)), e.add(jc, col)));
    V bq = b.CreateSelect(direct, in_place, packed);
    V b_ks = b.CreateSelect(direct, field(e, ctx, kBrs), e.i64(cfg_.nr()));
    // Column j of B is row j of the panel: s_r walks columns, s_p rows. The
    // block's panels are packed with its first block of rows and kept for
    // the others (one thread runs them in order).
    e.if_then(b.CreateAnd(b.CreateICmpEQ(field(e, ctx, kIc), e.i64(0)), b.CreateNot(direct)), [&] {
      pack(e, packed, cfg_.nr(), field(e, ctx, kB), field(e, ctx, kBcs), field(e, ctx, kBrs),
           e.add(jc, col), field(e, ctx, kPc), cols, kc);
    });
    V ldc = field(e, ctx, kLdc), ap = field(e, ctx, kAp), first = field(e, ctx, kFirst);
    V c_block = gep(e, field(e, ctx, kC), e.add(e.mul(field(e, ctx, kIc), ldc), e.add(jc, col)));
    V strips = ceil_div(e, mc, cfg_.mr);
    V next = e.add(col, e.i64(cfg_.nr()));
    V prefetch_next = b.CreateAnd(
        b.CreateICmpNE(field(e, ctx, kPrefetchB), e.i64(0)),
        b.CreateAnd(b.CreateICmpEQ(field(e, ctx, kIc), e.i64(0)), b.CreateICmpSLT(next, nc)));
    e.loop(strips, [&](V s) {
      e.if_then(prefetch_next, [&] {
        prefetch_part(e, field(e, ctx, kB), field(e, ctx, kBrs), e.add(jc, next),
                      field(e, ctx, kPc), min(e, e.i64(cfg_.nr()), e.sub(nc, next)), kc, s, strips);
      });
      V row = e.mul(s, e.i64(cfg_.mr));
      V rows = min(e, e.i64(cfg_.mr), e.sub(mc, row));
      V as = gep(e, ap, e.mul(row, kc));
      // The narrowest kernel that covers the strip's rows.
      V k = kernels.back().second;
      for (auto it = kernels.rbegin() + 1; it != kernels.rend(); ++it)
        k = b.CreateSelect(b.CreateICmpSLE(rows, e.i64(it->first)), it->second, k);
      b.CreateCall(kernels.back().second->getFunctionType(), k,
                   {as, bq, b_ks, gep(e, c_block, e.mul(row, ldc)), ldc, kc, rows, cols, first});
    });
    e.if_then(b.CreateICmpNE(field(e, ctx, kLast), e.i64(0)), [&] {
      call_epilogue(e, field(e, ctx, kEpi), field(e, ctx, kEpiCx),
                    e.add(field(e, ctx, kRow0), field(e, ctx, kIc)), mc,
                    e.add(field(e, ctx, kCol0), e.add(jc, col)), cols);
    });
    b.CreateRetVoid();
  });
}

llvm::Function* GemmGen::region_task() {
  llvm::Function* packa = packa_task();
  llvm::Function* panel = panel_task();
  return get("adj.gemm.region", [&](llvm::Function* f) {
    Emitter e(m_, f, t_);
    auto& b = e.b();
    V r = f->getArg(1);
    // A copy of the product's context, narrowed to the region.
    V ctx = b.CreateAlloca(ctx_ty_);
    b.CreateStore(b.CreateLoad(ctx_ty_, f->getArg(0)), ctx);
    auto set = [&](int fi, V v) {
      b.CreateStore(v, b.CreateStructGEP(ctx_ty_, ctx, static_cast<unsigned>(fi)));
    };
    V m = field(e, ctx, kM), n = field(e, ctx, kN), k = field(e, ctx, kK);
    V split_n = b.CreateICmpNE(field(e, ctx, kSplitN), e.i64(0));
    V size = field(e, ctx, kRegion);
    V off = e.mul(r, size);
    V extent = min(e, size, e.sub(b.CreateSelect(split_n, n, m), off));
    V row0 = b.CreateSelect(split_n, e.i64(0), off);
    V col0 = b.CreateSelect(split_n, off, e.i64(0));
    V rows = b.CreateSelect(split_n, m, extent);
    V cols = b.CreateSelect(split_n, extent, n);
    set(kA, gep(e, field(e, ctx, kA), e.mul(row0, field(e, ctx, kArs))));
    set(kB, gep(e, field(e, ctx, kB), e.mul(col0, field(e, ctx, kBcs))));
    set(kC, gep(e, field(e, ctx, kC), e.add(e.mul(row0, field(e, ctx, kLdc)), col0)));
    set(kRow0, row0), set(kCol0, col0);
    V scratch = gep(e, field(e, ctx, kScratch), e.mul(r, field(e, ctx, kRegionElems)));

    // Blocks of k as equal as possible, none deeper than kc.
    V kblocks = ceil_div(e, k, cfg_.kc);
    V kcb = b.CreateSDiv(e.add(k, e.sub(kblocks, e.i64(1))), kblocks);
    set(kBp, scratch);
    set(kAp, gep(e, scratch, e.mul(kcb, round_up(e, min(e, cols, e.i64(cfg_.nc)), cfg_.nr()))));
    // Blocks of m as equal as possible (whole strips), none taller than mc.
    V mblocks = ceil_div(e, rows, cfg_.mc);
    V mcb = round_up(e, ceil_div_v(e, rows, mblocks), cfg_.mr);
    e.loop(ceil_div(e, cols, cfg_.nc), [&](V jb) {
      V jc = e.mul(jb, e.i64(cfg_.nc));
      V nc = min(e, e.i64(cfg_.nc), e.sub(cols, jc));
      e.loop(kblocks, [&](V kb) {
        V pc = e.mul(kb, kcb);
        set(kJc, jc), set(kNc, nc), set(kPc, pc), set(kKc, min(e, kcb, e.sub(k, pc)));
        set(kFirst, b.CreateZExt(b.CreateICmpEQ(kb, e.i64(0)), i64_));
        set(kLast, b.CreateZExt(b.CreateICmpEQ(kb, e.sub(kblocks, e.i64(1))), i64_));
        e.loop(mblocks, [&](V ib) {
          V ic = e.mul(ib, mcb);
          V mc = min(e, mcb, e.sub(rows, ic));
          set(kIc, ic), set(kMc, mc);
          e.loop(ceil_div(e, mc, cfg_.mr), [&](V s) { b.CreateCall(packa, {ctx, s}); });
          e.loop(ceil_div(e, nc, cfg_.nr()), [&](V q) { b.CreateCall(panel, {ctx, q}); });
        });
      });
    });
    b.CreateRetVoid();
  });
}

void GemmGen::prefetch_part(Emitter& e, V src, V s_p, V r0, V p0, V width, V kc, V s, V parts) {
  auto& b = e.b();
  V per = ceil_div_v(e, kc, parts);
  V first = e.mul(s, per);
  V end = min(e, kc, e.add(first, per));
  V count = b.CreateSelect(b.CreateICmpSGT(end, first), e.sub(end, first), e.i64(0));
  V base = gep(e, src, e.add(r0, e.mul(p0, s_p)));
  e.loop(count, [&](V i) {
    V row = gep(e, base, e.mul(e.add(first, i), s_p));
    // The lines of the row's first and last element; locality 2: into L2,
    // where the next task's packing will read them.
    for (V at : {row, gep(e, row, e.sub(width, e.i64(1)))})
      b.CreateIntrinsic(llvm::Intrinsic::prefetch, {ptr_},
                        {at, b.getInt32(0), b.getInt32(2), b.getInt32(1)});
  });
}

V GemmGen::direct_b(Emitter& e, V k, V b_rs, V b_cs) {
  auto& b = e.b();
  // Rows of a panel lie b_rs apart: those of a row length that is a
  // multiple of 2^t bytes (t >= 6) fall in only 64 >> (t - 6) of L1's 64
  // sets, so a deep panel would evict itself. Read in place when kc rows of
  // two lines each (a 128-byte panel row, as on AVX-512; fewer bytes on
  // AVX2 and SSE only err on the safe side) fit in 3 ways of the sets they
  // use (a quarter of a 12-way 48 KB L1), and when they span at most 64
  // pages (the L1 TLB).
  V kc = min(e, k, e.i64(cfg_.kc));
  V row_bytes = e.mul(b_rs, e.i64(ebytes()));
  V tz = b.CreateIntrinsic(llvm::Intrinsic::cttz, {i64_}, {row_bytes, b.getFalse()});
  V shift = b.CreateSelect(b.CreateICmpSGT(tz, e.i64(6)), e.sub(min(e, tz, e.i64(12)), e.i64(6)),
                           e.i64(0));
  V sets = b.CreateAShr(e.i64(64), shift);
  V fits_sets = b.CreateICmpSLE(e.mul(kc, e.i64(2)), e.mul(sets, e.i64(3)));
  V fits_tlb = b.CreateICmpSLE(e.mul(kc, row_bytes), e.i64(int64_t{64} << 12));
  return b.CreateAnd(b.CreateICmpEQ(b_cs, e.i64(1)), b.CreateAnd(fits_sets, fits_tlb));
}

void GemmGen::call_epilogue(Emitter& e, V epi, V epi_cx, V r0, V rows, V c0, V cols) {
  auto& b = e.b();
  e.if_then(b.CreateIsNotNull(epi), [&] {
    auto* type = llvm::FunctionType::get(b.getVoidTy(), {ptr_, i64_, i64_, i64_, i64_}, false);
    b.CreateCall(type, epi, {epi_cx, r0, rows, c0, cols});
  });
}

void GemmGen::build_gemm(llvm::Function* f) {
  llvm::Function* region = region_task();
  llvm::Function* mv = gemv();
  Emitter e(m_, f, t_);
  auto& b = e.b();
  V m = f->getArg(0), n = f->getArg(1), k = f->getArg(2);
  V a = f->getArg(3), a_rs = f->getArg(4), a_cs = f->getArg(5);
  V bm = f->getArg(6), b_rs = f->getArg(7), b_cs = f->getArg(8);
  V c = f->getArg(9), scratch = f->getArg(10), epi = f->getArg(11), epi_cx = f->getArg(12);

  llvm::BasicBlock* ret = llvm::BasicBlock::Create(e.ctx(), "ret", f);
  // The paths with no blocks apply the epilogue to all of C at the end.
  auto exit_if = [&](V cond, const std::function<void()>& before) {
    llvm::BasicBlock* go = llvm::BasicBlock::Create(e.ctx(), "exit", f);
    llvm::BasicBlock* stay = llvm::BasicBlock::Create(e.ctx(), "go_on", f);
    b.CreateCondBr(cond, go, stay);
    b.SetInsertPoint(go);
    before();
    call_epilogue(e, epi, epi_cx, e.i64(0), m, e.i64(0), n);
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

  // Threads: C is cut into one region per thread, whole panels along n
  // when n >= m (each region then packs all of A, as each block of nc
  // columns does anyway), else whole strips along m. A region runs the
  // blocked product on one thread with its own scratch, so threads neither
  // wait for one another inside a product nor share a packed block (at 2
  // threads wide's step ran 1.3x faster than at 1 with shared blocks and a
  // barrier after each packing). Each element's sum is the same in any
  // region, so the bits do not depend on the thread count.
  V parallel = uses_threads(e, m, n, k);
  auto* width_type = llvm::FunctionType::get(b.getInt32Ty(), {}, false);
  V width = b.CreateSExt(b.CreateCall(m_.getOrInsertFunction("adj_parallel_width", width_type), {}),
                         i64_);
  V parts = b.CreateSelect(parallel, min(e, width, e.i64(max_regions())), e.i64(1));
  V split_n = b.CreateICmpSGE(n, m);
  V along = b.CreateSelect(split_n, n, m);
  V unit = b.CreateSelect(split_n, e.i64(cfg_.nr()), e.i64(cfg_.mr));
  V size = e.mul(ceil_div_v(e, ceil_div_v(e, along, parts), unit), unit);
  V regions = ceil_div_v(e, along, size);
  V ctx = b.CreateAlloca(ctx_ty_);
  auto set = [&](int fi, V v) {
    b.CreateStore(v, b.CreateStructGEP(ctx_ty_, ctx, static_cast<unsigned>(fi)));
  };
  set(kA, a), set(kArs, a_rs), set(kAcs, a_cs), set(kB, bm), set(kBrs, b_rs), set(kBcs, b_cs);
  set(kC, c), set(kLdc, n), set(kM, m), set(kN, n), set(kK, k);
  set(kSplitN, b.CreateZExt(split_n, i64_)), set(kRegion, size);
  set(kScratch, scratch), set(kRegionElems, region_scratch_elems(e, cfg_, m, n, k));
  // Prefetching B pays where its rows are contiguous (read a line per row,
  // rows far apart) and B is unlikely to be in cache already; elsewhere
  // (B read along p: a few long streams the hardware follows, or small)
  // it only costs (mlp's step was 15% slower with it everywhere).
  V b_bytes = e.mul(e.mul(k, n), e.i64(ebytes()));
  set(kPrefetchB, b.CreateZExt(b.CreateAnd(b.CreateICmpEQ(b_cs, e.i64(1)),
                                           b.CreateICmpSGE(b_bytes, e.i64(kPrefetchBytes))),
                               i64_));
  set(kDirectB, b.CreateZExt(direct_b(e, k, b_rs, b_cs), i64_));
  set(kEpi, epi), set(kEpiCx, epi_cx);
  e.run_tasks(region, ctx, regions, b.CreateICmpSGT(regions, e.i64(1)));
  b.CreateBr(ret);
  b.SetInsertPoint(ret);
  b.CreateRetVoid();
}

}  // namespace gemm_detail

namespace {

// The widest vector registers of the host, in bytes (read once: every
// matmul node asks).
int host_vector_bytes() {
  static const int bytes = [] {
    auto features = llvm::sys::getHostCPUFeatures();
    auto has = [&](const char* f) {
      auto it = features.find(f);
      return it != features.end() && it->second;
    };
    return has("avx512f") ? 64 : has("avx") ? 32 : 16;
  }();
  return bytes;
}

}  // namespace

using gemm_detail::GemmGen;
using gemm_detail::V;

GemmConfig gemm_config(DType t) {
  GemmConfig c;
  int vector_bytes = host_vector_bytes();
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

void emit_gemm(Emitter& e, V m, V n, V k, StridedMatrix a, StridedMatrix b, V c, V scratch,
               GemmEpilogue epi) {
  // A declaration: the routine lives in the JIT's shared library module.
  auto* i64 = e.b().getInt64Ty();
  auto* ptr = llvm::PointerType::getUnqual(e.ctx());
  auto* type = llvm::FunctionType::get(
      e.b().getVoidTy(), {i64, i64, i64, ptr, i64, i64, ptr, i64, i64, ptr, ptr, ptr, ptr}, false);
  llvm::FunctionCallee gemm = e.module().getOrInsertFunction(gemm_symbol(e.float_type()), type);
  auto* null = llvm::ConstantPointerNull::get(ptr);
  V fn = epi.fn ? epi.fn : null, cx = epi.cx ? epi.cx : null;
  e.b().CreateCall(gemm, {m, n, k, a.data, a.rs, a.cs, b.data, b.rs, b.cs, c, scratch, fn, cx});
}

V gemm_scratch_bytes(Emitter& e, V m, V n, V k) {
  GemmConfig cfg = gemm_config(e.float_type());
  V regions = e.b().CreateSelect(GemmGen::uses_threads(e, m, n, k), e.i64(GemmGen::max_regions()),
                                 e.i64(1));
  V elems = e.mul(GemmGen::region_scratch_elems(e, cfg, m, n, k), regions);
  return e.mul(elems, e.i64(Emitter::elem_bytes(e.float_type())));
}

}  // namespace adjoint::codegen
