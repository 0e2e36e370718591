// The generator behind gemm.hpp: one class that writes the GEMM and GEMV
// routines of a float type into a module, split over three files:
//
//   gemm.cpp         the driver adj.gemm (one region of C per thread, each
//                    blocked over n, k and m) and the public entry points
//   gemm_kernel.cpp  the MR x NR micro-kernel and the packing routines
//   gemv.cpp         matrix-vector products and the k = 1 outer product
//
// Summation order: within a kc block each element of C is a chain of fused
// multiply-adds in ascending k; blocks are added to C in ascending order.
// The order depends on the sizes only, never on the thread count.
//
// Internal to compiler/codegen (it includes LLVM headers).
#pragma once

#include <llvm/IR/Intrinsics.h>

#include <cassert>
#include <functional>
#include <string>
#include <utility>
#include <vector>

#include "codegen/gemm.hpp"

namespace adjoint::codegen::gemm_detail {

using V = llvm::Value*;

// The fields of a GEMM task's context, in order (all i64 or pointers).
// clang-format off
enum Field {
  kA, kArs, kAcs,   // A and its strides
  kB, kBrs, kBcs,   // B and its strides
  kC, kLdc,         // C and its row length
  kM, kN, kK,       // the product's sizes
  kSplitN, kRegion, // regions: cut along n (else m), columns (rows) each
  kScratch, kRegionElems, // all regions' scratch, and each region's share (elements)
  kRow0, kCol0,     // the region's place in C (for the epilogue)
  kIc, kMc,         // the current block of m: first row, rows
  kPc, kKc,         // the current block of k
  kJc, kNc,         // the current block of n
  kAp, kBp, kFirst, // packed A and B, and whether this is the first k block
  kLast,            // whether this is the last k block
  kPrefetchB,       // whether panel tasks prefetch their successor's B (see prefetch_part)
  kDirectB,         // whether whole panels read B where it lies (see direct_b)
  kEpi, kEpiCx,     // the epilogue (see emit_gemm) and its context; kEpi may be null
  kFields
};
// clang-format on

inline bool is_pointer_field(int f) {
  return f == kA || f == kB || f == kC || f == kScratch || f == kAp || f == kBp || f == kEpi ||
         f == kEpiCx;
}

class GemmGen {
 public:
  GemmGen(llvm::Module& m, DType t) : m_(m), t_(t), cfg_(gemm_config(t)) {
    // store_panel_vector's whole-vector stores reach at most one panel row
    // past their own only when a vector is at most two rows (MR) long.
    assert(2 * cfg_.mr >= cfg_.lanes);
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

  // Whether an m x n x k product is cut into regions for the pool's threads.
  static V uses_threads(Emitter& e, V m, V n, V k);
  // Regions a product is cut into at most (one scratch share each).
  static int64_t max_regions();
  // Elements of scratch one region of an m x n x k product packs into: a
  // kc x nc block of B and an mc x kc block of A, each no larger than needed.
  static V region_scratch_elems(Emitter& e, const GemmConfig& cfg, V m, V n, V k);

  llvm::Function* gemm() {
    return get("adj.gemm", [&](llvm::Function* f) { build_gemm(f); });
  }
  llvm::Function* gemv() {
    return get("adj.gemv", [&](llvm::Function* f) { build_gemv(f); });
  }

 private:
  std::string suffix() const { return t_ == DType::f64 ? ".f64" : ".f32"; }
  int64_t ebytes() const { return Emitter::elem_bytes(t_); }

  llvm::Function* get(const std::string& base, const std::function<void(llvm::Function*)>& build) {
    std::string name = base + suffix();
    if (llvm::Function* f = m_.getFunction(name)) return f;
    llvm::Function* f = nullptr;
    if (base == "adj.gemm")
      f = make(name,
               {i64_, i64_, i64_, ptr_, i64_, i64_, ptr_, i64_, i64_, ptr_, ptr_, ptr_, ptr_});
    else if (base == "adj.gemv")
      f = make(name, {i64_, i64_, ptr_, i64_, i64_, ptr_, i64_, ptr_});
    else if (base.rfind("adj.gemm.kernel", 0) == 0)
      f = make(name, {ptr_, ptr_, i64_, ptr_, i64_, i64_, i64_, i64_, i64_});
    else
      f = make(name, {ptr_, i64_});  // a pool task: (ctx, index)
    // Not inlined into their few call sites: each call is a large amount of
    // work, and copies would multiply compile time.
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
  // The scalar s (a float or an i64) in every lane.
  V splat(Emitter& e, V s) { return e.b().CreateVectorSplat(static_cast<unsigned>(cfg_.lanes), s); }
  V fma(Emitter& e, V a, V b, V c) {
    return e.b().CreateIntrinsic(llvm::Intrinsic::fma, {a->getType()}, {a, b, c});
  }
  // Lanes whose index (first + lane) is below `limit`.
  V lane_mask(Emitter& e, V first, V limit) {
    std::vector<llvm::Constant*> idx;
    for (int l = 0; l < cfg_.lanes; ++l) idx.push_back(llvm::ConstantInt::get(i64_, l));
    V lanes = e.b().CreateAdd(splat(e, first), llvm::ConstantVector::get(idx));
    return e.b().CreateICmpSLT(lanes, splat(e, limit));
  }
  V masked_load(Emitter& e, V p, V mask) {
    return e.b().CreateMaskedLoad(vec_, p, llvm::Align(ebytes()), mask,
                                  llvm::Constant::getNullValue(vec_));
  }
  void masked_store(Emitter& e, V v, V p, V mask) {
    e.b().CreateMaskedStore(v, p, llvm::Align(ebytes()), mask);
  }
  // `at` where `live`, else `inside` (an address within the matrix): for a
  // masked access whose lanes are all off when !live. Such an access still
  // takes a slow assist on AMD CPUs when its address lies past the matrix
  // (maybe on an unmapped page): mlp's 4-row last strip of x, read as 12
  // rows, spent 28% of its A packing there.
  static V within(Emitter& e, V live, V at, V inside) {
    return e.b().CreateSelect(live, at, inside);
  }

  // --- the micro-kernel
  // kernel(Ap, Bp, b_ks, C, ldc, kc, mr, nr, first): the MR x NR tile at C
  // gets Ap(MR x kc, k-major) times Bp(kc x NR, row p at Bp + p*b_ks: NR
  // when packed, B's row length when read in place); rows >= mr and columns
  // >= nr are left alone. first != 0: C = product, else C += product.
  // kernel(rows) computes only the first `rows` rows of the strip (still
  // MR-interleaved), for a last strip with that many rows or fewer left: a
  // 4-row strip cost a whole 12-row one (mlp's B = 64 is 5 strips and 4
  // rows; its step at 1 thread went from 173.5 to 165.4 us, median of 5
  // interleaved). Each row's sums are the same in every variant. Only MR/3:
  // each variant adds to the library's compile (2 of them, about 15 ms).
  llvm::Function* kernel(int rows);
  // The row counts of the variants, ascending (the last is MR).
  std::vector<int> kernel_rows() const;

  // One rank-1 update of the tile's acc.size() / nr_vectors rows:
  // acc += Ap[p, :] (x) Bp[p, :].
  std::vector<V> k_step(Emitter& e, V ap, V bp, V b_ks, V p, const std::vector<V>& acc);

  // Runs k steps from `p0`, `unroll` per iteration, while a whole iteration
  // fits below kc; returns where it stopped and the accumulators.
  std::pair<V, std::vector<V>> k_loop(Emitter& e, V ap, V bp, V b_ks, V kc, V p0,
                                      std::vector<V> acc0, int unroll);

  void build_kernel(llvm::Function* f, int rows);

  // --- packing
  // dst[p*W + r] = src[(r0 + r)*s_r + (p0 + p)*s_p] for r < width, p < kc,
  // and 0 for width <= r < W (the tile's padding). One of the strides is 1
  // (operands are contiguous matrices, read straight or transposed).
  void pack(Emitter& e, V dst, int64_t W, V src, V s_r, V s_p, V r0, V p0, V width, V kc);

  // Stores the first `valid` lanes of v at `at`, in row p of a panel with
  // kc rows (the g-th vector of a row of width W has W - g*L). Masked
  // stores are slow on some CPUs (AVX2 on AMD), so a vector reaching past
  // the row is stored whole when the next row, stored after it, overwrites
  // the excess: only the last row needs the mask.
  void store_panel_vector(Emitter& e, V v, V at, int64_t valid, V p, V kc);

  // Source rows contiguous along r: each panel row p is one masked vector
  // load per L elements.
  void pack_copy(Emitter& e, V dst, int64_t W, V base, V s_p, V width, V kc);

  // Prefetches part `s` of `parts` of the source of a B panel: rows r0 ..
  // r0 + width of B, each read along p (s_r == 1), kc deep from p0. The
  // panel task fetches its successor's this way, a part before each kernel
  // call: those rows lie s_p apart (a page, in a wide matrix), where the
  // hardware's prefetchers do not follow, so their packing otherwise waits
  // on every line while the kernels leave the memory system idle.
  void prefetch_part(Emitter& e, V src, V s_p, V r0, V p0, V width, V kc, V s, V parts);

  // Source contiguous along p: L x L blocks are loaded row by row (along p)
  // and transposed in registers, so both reads and writes are vectors.
  void pack_transpose(Emitter& e, V dst, int64_t W, V base, V s_r, V width, V kc);
  // Panel columns [r0, r0 + rows) of pack_transpose (rows <= L).
  void pack_transpose_group(Emitter& e, V dst, int64_t W, V r0, int64_t rows, V base, V s_r,
                            V width, V kc);

  // Transposes L vectors of L lanes: log2(L) rounds, each swapping the
  // off-diagonal blocks of size d between rows i and i + d.
  std::vector<V> transpose(Emitter& e, std::vector<V> v);

  V field(Emitter& e, V ctx, int f) {
    llvm::Type* t = is_pointer_field(f) ? static_cast<llvm::Type*>(ptr_) : i64_;
    return e.b().CreateLoad(t, e.b().CreateStructGEP(ctx_ty_, ctx, static_cast<unsigned>(f)));
  }

  // packa(ctx, s): packs the s-th MR-row strip of the current A block.
  llvm::Function* packa_task();

  // panel(ctx, q): packs the q-th NR-column panel of B (kc x NR, small
  // enough to stay in L1) when the block of rows is the first (ic == 0) and
  // reuses it for the others, then runs the micro-kernel down every strip of
  // the packed A block (which stays in L2); after the last k block, the
  // epilogue on the mc x NR block of C just finished, still in cache. The
  // reuse relies on build_gemm's loop order (rows innermost, the first
  // block first, one thread per region) and on packa never writing the B
  // region.
  llvm::Function* panel_task();

  // region(ctx, r): the blocked product (blocks of n, then k, then m) on
  // the r-th region of C, on the calling thread with the r-th share of the
  // scratch.
  llvm::Function* region_task();

  // Whether whole panels of B are read where B lies instead of packed: B's
  // rows contiguous (b_cs == 1), and a panel of them small enough in cache
  // and TLB terms (mlp's x in x^T @ dh).
  V direct_b(Emitter& e, V k, V b_rs, V b_cs);

  // epi(epi_cx, r0, rows, c0, cols) when epi is not null.
  void call_epilogue(Emitter& e, V epi, V epi_cx, V r0, V rows, V c0, V cols);

  // gemm(m, n, k, A, a_rs, a_cs, B, b_rs, b_cs, C, scratch, epi, epi_cx)
  void build_gemm(llvm::Function* f);

  static V ceil_div_v(Emitter& e, V a, V b) {
    return e.b().CreateSDiv(e.add(a, e.sub(b, e.i64(1))), b);
  }
  static V round_up(Emitter& e, V v, int64_t to) { return e.mul(ceil_div(e, v, to), e.i64(to)); }

  // gemv(len, k, A, rs, cs, x, xs, y): y[i] = sum_p A[i*rs + p*cs] * x[p*xs]
  // for i < len. A is streamed once, along whichever way it is contiguous.
  void build_gemv(llvm::Function* f);

  // Rows contiguous along p: each y[i] is a dot product. Rows go L at a
  // time, one vector accumulator each (p in whole vectors, then one masked
  // vector); an L x L transpose then sums all L rows' lanes at once and
  // stores L results as one vector. Leftover rows go one at a time.
  void gemv_dot(Emitter& e, V len, V k, V a, V rs, V x, V y);

  // c[i*n + j] = a[i*rs] * b[j], a row of vectors at a time.
  void outer_product(Emitter& e, V m, V n, V a, V rs, V bv, V c);

  // The lanes of v summed as a fixed tree (halves added pairwise).
  V reduce(Emitter& e, V v);

  // Columns contiguous along i: y is built a block of four vectors at a
  // time, adding A[:, p] * x[p] for each p in ascending order.
  void gemv_axpy(Emitter& e, V len, V k, V a, V cs, V x, V xs, V y);

  llvm::Module& m_;
  DType t_;
  GemmConfig cfg_;
  llvm::PointerType* ptr_ = nullptr;
  llvm::Type* i64_ = nullptr;
  llvm::Type* f_ = nullptr;
  llvm::FixedVectorType* vec_ = nullptr;
  llvm::StructType* ctx_ty_ = nullptr;
};

}  // namespace adjoint::codegen::gemm_detail
