// Algebraic simplification and constant folding, to a fixed point.
//
// Why: reverse mode emits the chain rule literally (dy * 1, x + 0, the
// transpose of a transpose, `transpose` feeding a matmul); this pass turns
// that into what a person would write. The one that matters most for speed:
// matmul(transpose(a), b) becomes matmul(a, b){ta} (likewise for b), so the
// adjoints `dy @ W^T` and `x^T @ dy` read their operands transposed through
// the GEMM and no transposed copy is ever made.
//
// Guarantees, for a verified input graph:
//  - every value of the result equals the input's (folding evaluates in
//    double precision; x * 0 becomes 0 even where x is not finite);
//  - a node whose operands are all constants and whose shape is static is
//    evaluated with its op's reference rule and, when the result is one
//    repeated value, replaced by a constant of that shape;
//  - these identities are applied wherever they match:
//      x*1, 1*x, x+0, 0+x, x-0, x/1 -> x (broadcast_to when the result is
//        larger than x);  x*0, 0*x -> 0;  0-x -> neg(x);  pow(x, 1) -> x;
//      neg(neg(x)) -> x;  transpose(transpose(x)) -> x;
//      matmul(transpose(a), b) -> matmul(a, b){ta flipped} (same for b);
//      transpose(matmul(a, b){ta, tb}) -> matmul(b, a){!tb, !ta} when
//        nothing else uses the product;
//      reshape(reshape(x)) -> reshape(x);
//      reshape/broadcast_to/sum_to of x to its own shape -> x;
//  - matmul flags are written only when true ({ta=false} is dropped), so
//    equal products are equal nodes;
//  - replacement nodes keep the replaced node's name, location and adjoint
//    flag; every input and param is kept; results are remapped;
//  - the output has had cse and dce applied, and is verified-clean.
#pragma once

#include "ir/graph.hpp"

namespace adjoint {

Graph simplify(const Graph& g);

// One sweep of the rewrites, without cse/dce; `changed` says whether any
// rule fired. Exposed for tests.
Graph simplify_once(const Graph& g, bool& changed);

}  // namespace adjoint
