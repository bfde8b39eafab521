// Cutting physical ranges into the naturally aligned power-of-two blocks untyped capabilities need.
#pragma once

#include <stddef.h>
#include <stdint.h>

namespace tessera::kernel {

struct UntypedBlock {
  uint64_t base;
  uint8_t size_bits;
};

// Splits [base, end) into the fewest blocks that are each aligned to their own size, between
// 2^min_bits and 2^max_bits bytes; bytes that fit no such block are skipped. Writes at most
// `capacity` blocks, in address order, and returns how many the range needs (which may exceed
// capacity: the caller sees what it missed).
size_t split_into_untyped(uint64_t base, uint64_t end, uint8_t min_bits, uint8_t max_bits, UntypedBlock* out,
                          size_t capacity);

}  // namespace tessera::kernel
