#include "adjoint/abi.h"

namespace adjoint {
// The ABI version this runtime was built for.
int runtime_abi_version() { return ADJ_ABI_VERSION; }
}  // namespace adjoint
