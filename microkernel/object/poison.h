// Debug option `kernel_poison` (meson_options.txt, on by default): a destroyed kernel object's
// memory is filled with kPoisonWord before it can be retyped, and every path on which the kernel
// follows a reference stored in another object (queue links, reply links, bindings, IRQ lines,
// page-table entries) checks that it does not lead into poisoned memory. A dangling reference then
// panics at once with "dangling reference" instead of silently reading memory that has been reused.
// Off, every check compiles to nothing.
#pragma once

#include <stdint.h>

namespace tessera::kernel {

#ifdef TESSERA_KERNEL_POISON
inline constexpr bool kPoisonFreed = true;
#else
inline constexpr bool kPoisonFreed = false;
#endif

// Non-canonical, so never a kernel pointer; as a page-table entry it has the present bit set, so
// a walk that meets it is caught rather than followed.
inline constexpr uint64_t kPoisonWord = 0xDEAD'0BAD'DEAD'0BADull;

[[noreturn]] void dangling_reference(const char* what, const void* where);

// Checks a word of an object that only the kernel writes (a pointer field): poisoned means the
// object was destroyed while the reference to it was kept.
inline void check_live_word(const void* word, const char* what, const void* object) {
  if constexpr (kPoisonFreed) {
    if (*static_cast<const volatile uint64_t*>(word) == kPoisonWord) dangling_reference(what, object);
  }
}

// Checks a page-table entry the kernel is about to follow.
inline void check_entry(uint64_t entry, const void* where) {
  if constexpr (kPoisonFreed) {
    if (entry == kPoisonWord) dangling_reference("page-table entry", where);
  }
}

}  // namespace tessera::kernel
