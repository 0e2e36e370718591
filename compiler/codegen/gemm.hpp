// Generated matrix products: a register-blocked GEMM (Goto/BLIS schedule:
// pack a kc x nc block of B, pack MR-row strips of A, an MR x NR
// micro-kernel over LLVM vectors sized for the host CPU) and a
// bandwidth-bound matrix-vector path for M = 1 or N = 1.
//
// Operands are read through strides, so a transposed operand (matmul's
// ta/tb) is absorbed by the packing routine and never copied as a
// transpose. C is cut into one region per thread of the runtime's pool,
// each computed on its thread; every element of C is computed by one
// region in an order fixed by the sizes, so results are the same bits for
// any number of threads.
//
// Internal to compiler/codegen (it includes LLVM headers).
#pragma once

#include <memory>
#include <string>

#include "codegen/emitter.hpp"

namespace adjoint::codegen {

// Tile and block sizes for one float type on the host CPU.
struct GemmConfig {
  int lanes = 16;      // elements per vector register
  int mr = 12;         // rows of C per micro-kernel tile (broadcast from A)
  int nr_vectors = 2;  // vectors per tile row: NR = nr_vectors * lanes
  int kc = 256;        // depth of a packed block
  int nc = 512;        // columns of a packed B block
  int mc = 240;        // rows of C per packed A block
  int nr() const { return nr_vectors * lanes; }
};

GemmConfig gemm_config(DType t);

// A logical matrix operand: element (i, p) is data[i * rs + p * cs].
struct StridedMatrix {
  llvm::Value* data;
  llvm::Value* rs;
  llvm::Value* cs;
};

// The GEMM routines for one float type, as a module of their own: compiled
// once per JIT (and kept in its object cache), and linked by every model
// that calls them. Its entry point is gemm_symbol(t).
std::unique_ptr<llvm::Module> build_gemm_library(llvm::LLVMContext& ctx, DType t);
std::string gemm_symbol(DType t);

// An elementwise pass the GEMM applies to C as blocks of it are finished:
// fn(cx, r0, rows, c0, cols), a `void (ptr, i64, i64, i64, i64)`, rewrites
// C's rows [r0, r0 + rows) x columns [c0, c0 + cols) in place. Every element
// of C goes through it exactly once, after its last multiply-add; blocks
// may run on any thread, in any order. Null `fn`: none.
struct GemmEpilogue {
  llvm::Value* fn = nullptr;
  llvm::Value* cx = nullptr;
};

// Emits a call computing C = A B for A [m,k], B [k,n] and C contiguous
// row-major [m,n] (the library's routine; the module only declares it);
// `scratch` holds at least gemm_scratch_bytes(m, n, k) bytes, 64-byte aligned.
void emit_gemm(Emitter& e, llvm::Value* m, llvm::Value* n, llvm::Value* k, StridedMatrix a,
               StridedMatrix b, llvm::Value* c, llvm::Value* scratch, GemmEpilogue epi = {});

// Bytes of packing buffers emit_gemm needs for these sizes.
llvm::Value* gemm_scratch_bytes(Emitter& e, llvm::Value* m, llvm::Value* n, llvm::Value* k);

}  // namespace adjoint::codegen
