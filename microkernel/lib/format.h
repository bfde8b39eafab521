// The kernel uses the system-wide formatter (abi/include/tessera/format.h).
#pragma once

#include <tessera/format.h>

namespace tessera::kernel {
using tessera::format;
using tessera::format_to;
using tessera::FormatSink;
using tessera::vformat;
using tessera::vformat_to;
}  // namespace tessera::kernel
