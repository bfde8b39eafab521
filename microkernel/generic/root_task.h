// Starting the first user process (the root task) from the `init` boot module.
#pragma once

#include <tessera/result.h>

#include "generic/boot.h"

namespace tessera::kernel {

// Loads the `init` module's ELF image into a new address space with a stack, an IPC buffer and the
// boot-information page, and makes its thread runnable at the highest priority.
// NotSupported when there is no init module.
Result<void> start_root_task(BootState& state);

}  // namespace tessera::kernel
