#pragma once
// Runs the named benchmark set ("syscall", "all") and prints BENCH lines.
void run_benchmarks(const char* which);
