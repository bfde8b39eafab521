// QEMU's firmware configuration device: how the test harness hands the kernel extra command-line
// words (`-fw_cfg name=opt/tessera/cmdline,string=...`) without rebuilding the boot image.
#pragma once

#include <stddef.h>

namespace tessera::kernel::fw_cfg {

// Copies the named file into buffer (NUL-terminated, truncated to capacity-1). Returns the bytes
// copied, or 0 when there is no fw_cfg device or no such file.
size_t read_file(const char* name, char* buffer, size_t capacity);

}  // namespace tessera::kernel::fw_cfg
