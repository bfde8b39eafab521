// Freestanding vocabulary shared by the kernel, libsys and servers: the few pieces of <utility>
// and <type_traits> the code needs, without a hosted C++ library. On a hosted build (host tests)
// the standard headers are used instead so both worlds agree.
#pragma once

#include <stddef.h>
#include <stdint.h>

#if __STDC_HOSTED__
#include <new>
#include <type_traits>
#include <utility>
namespace tessera {
using std::forward;
using std::move;
}  // namespace tessera
#else
// Placement new: the only form of `new` the kernel uses.
inline void* operator new(size_t, void* where) noexcept { return where; }
inline void* operator new[](size_t, void* where) noexcept { return where; }

namespace tessera {
template <typename T> struct RemoveReference { using Type = T; };
template <typename T> struct RemoveReference<T&> { using Type = T; };
template <typename T> struct RemoveReference<T&&> { using Type = T; };

template <typename T>
constexpr typename RemoveReference<T>::Type&& move(T&& value) noexcept {
  return static_cast<typename RemoveReference<T>::Type&&>(value);
}
template <typename T>
constexpr T&& forward(typename RemoveReference<T>::Type& value) noexcept {
  return static_cast<T&&>(value);
}
template <typename T>
constexpr T&& forward(typename RemoveReference<T>::Type&& value) noexcept {
  return static_cast<T&&>(value);
}
}  // namespace tessera
#endif

namespace tessera {
template <typename T> constexpr T min(T a, T b) { return b < a ? b : a; }
template <typename T> constexpr T max(T a, T b) { return a < b ? b : a; }

// Alignment helpers; `align` must be a power of two.
constexpr uint64_t align_down(uint64_t value, uint64_t align) { return value & ~(align - 1); }
constexpr uint64_t align_up(uint64_t value, uint64_t align) { return (value + align - 1) & ~(align - 1); }
constexpr bool is_aligned(uint64_t value, uint64_t align) { return (value & (align - 1)) == 0; }
constexpr bool is_power_of_two(uint64_t value) { return value != 0 && (value & (value - 1)) == 0; }

// a + b without wrapping; false on overflow.
constexpr bool add_overflows(uint64_t a, uint64_t b, uint64_t* sum) {
  return __builtin_add_overflow(a, b, sum);
}
}  // namespace tessera
