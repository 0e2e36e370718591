#include "ops/rules.hpp"

namespace adjoint {

void define_index_ops(OpTableBuilder&) {}

}  // namespace adjoint
