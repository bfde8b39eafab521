#include "lib/untyped_split.h"

namespace tessera::kernel {

size_t split_into_untyped(uint64_t base, uint64_t end, uint8_t min_bits, uint8_t max_bits, UntypedBlock* out,
                          size_t capacity) {
  size_t count = 0;
  if (min_bits > max_bits || max_bits > 63) return 0;
  const uint64_t min_size = uint64_t{1} << min_bits;
  // Round the start up to the minimum block size; the skipped bytes fit no block.
  uint64_t at = (base + min_size - 1) & ~(min_size - 1);
  if (at < base) return 0;  // wrapped
  while (at < end && end - at >= min_size) {
    // The largest block aligned at `at` that fits before `end`.
    uint8_t bits = at == 0 ? max_bits : static_cast<uint8_t>(__builtin_ctzll(at));
    if (bits > max_bits) bits = max_bits;
    while (bits > min_bits && (uint64_t{1} << bits) > end - at) --bits;
    if ((uint64_t{1} << bits) > end - at) break;
    if (count < capacity) out[count] = UntypedBlock{at, bits};
    ++count;
    at += uint64_t{1} << bits;
    if (at == 0) break;  // reached the top of the address space
  }
  return count;
}

}  // namespace tessera::kernel
