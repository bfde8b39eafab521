// The user half of every address space: canonical lower-half addresses below the last page (which
// would make SYSRET return to a non-canonical RIP).
#pragma once

#include <stdint.h>

namespace tessera::kernel {

constexpr uint64_t kUserAddressLimit = 0x00007FFFFFFFF000ull;
constexpr bool is_user_address(uint64_t address) { return address < kUserAddressLimit; }

}  // namespace tessera::kernel
