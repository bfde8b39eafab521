#pragma once

#include <tessera/string_view.h>

// Runs the named benchmark set ("syscall", "all") and prints BENCH lines.
void run_benchmarks(tessera::StringView which);

namespace tessera { struct BootInfo; }
// Runs the IPC benchmarks (bench=ipc) and prints BENCH lines.
void run_ipc_benchmarks(const tessera::BootInfo& info);
void run_trace_benchmarks(const tessera::BootInfo& info);
// Runs the memory benchmarks (bench=memory: a memory server and the program membench) and prints
// BENCH lines.
void run_memory_benchmarks(const tessera::BootInfo& info);
