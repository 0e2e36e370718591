// Included first by the runtime files whose floating-point results must be
// bit-identical on every platform (random numbers, initialisers): it turns
// off contraction of a*b+c into a fused multiply-add, which compilers may do
// by default where the target has FMA (aarch64, x86 with -march=native) and
// which changes the rounding. (Clang ignores the pragma under an explicit
// -ffp-contract=fast; its default, and GCC in any mode, honour it.)
#pragma once

#if defined(__clang__)
#pragma clang fp contract(off)
#elif defined(__GNUC__)
#pragma GCC optimize("fp-contract=off")
#endif
