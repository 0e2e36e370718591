// Names for generated code in `perf`: with ADJOINT_PERF_MAP set, every
// function the JIT links is appended to /tmp/perf-PID.map, the file perf
// reads for code it cannot find in an ELF file ("START SIZE NAME" in hex).
//
// Internal to compiler/jit.
#pragma once

#include <llvm/ExecutionEngine/Orc/LLJIT.h>

namespace adjoint {

// Adds the plugin to the JIT's linking layer when ADJOINT_PERF_MAP is set
// to anything but "0"; does nothing otherwise.
void enable_perf_map_if_asked(llvm::orc::LLJIT& jit);

}  // namespace adjoint
