// The conformance runner (docs/conformance.md): `suite=conformance test=A,B,...` runs each named
// test of the embedded conformance program (tests/conformance/) in a fresh process of its own.
#pragma once

#include <tessera/bootinfo.h>

namespace init {

// Lists (`test=list`) or runs the tests the command line names, prints the harness protocol
// (tests/qemu/protocol.py) and ends the QEMU run.
[[noreturn]] void run_conformance(const tessera::BootInfo& info);

}  // namespace init
