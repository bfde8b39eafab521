// The interrupt descriptor table: every one of the 256 vectors has an entry stub.
#pragma once

namespace tessera::kernel::x86 {

// Fills and loads the IDT (shared by all CPUs: it holds no per-CPU state).
void init_idt();
// Loads the already-built IDT on another CPU.
void load_idt();

}  // namespace tessera::kernel::x86
