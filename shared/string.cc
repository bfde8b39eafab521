// memcpy, memmove, memset, memcmp and strlen for freestanding code. The compiler may emit calls to
// the first four on its own, so the kernel and every user program link this file.
#include <stddef.h>
#include <stdint.h>

extern "C" {

// The bulk moves eight bytes per step (rep movsq / rep stosq), the tail byte by byte: the same
// work as one rep movsb/stosb on hardware with fast strings, and an eighth of the steps where each
// step counts (QEMU's -icount counts every repetition: docs/memory.md, "Costs").
void* memcpy(void* dest, const void* src, size_t n) {
  auto* d = static_cast<unsigned char*>(dest);
  const auto* s = static_cast<const unsigned char*>(src);
  size_t words = n / 8;
  size_t rest = n % 8;
  asm volatile("rep movsq" : "+D"(d), "+S"(s), "+c"(words) : : "memory");
  asm volatile("rep movsb" : "+D"(d), "+S"(s), "+c"(rest) : : "memory");
  return dest;
}

void* memmove(void* dest, const void* src, size_t n) {
  auto* d = static_cast<unsigned char*>(dest);
  const auto* s = static_cast<const unsigned char*>(src);
  if (d == s || n == 0) return dest;
  if (d < s || d >= s + n) return memcpy(dest, src, n);
  for (size_t i = n; i > 0; --i) d[i - 1] = s[i - 1];
  return dest;
}

void* memset(void* dest, int value, size_t n) {
  auto* d = static_cast<unsigned char*>(dest);
  const uint64_t pattern = uint64_t{0x0101010101010101} * static_cast<unsigned char>(value);
  size_t words = n / 8;
  size_t rest = n % 8;
  asm volatile("rep stosq" : "+D"(d), "+c"(words) : "a"(pattern) : "memory");
  asm volatile("rep stosb" : "+D"(d), "+c"(rest) : "a"(pattern) : "memory");
  return dest;
}

int memcmp(const void* a, const void* b, size_t n) {
  const auto* x = static_cast<const unsigned char*>(a);
  const auto* y = static_cast<const unsigned char*>(b);
  for (size_t i = 0; i < n; ++i) {
    if (x[i] != y[i]) return x[i] < y[i] ? -1 : 1;
  }
  return 0;
}

size_t strlen(const char* s) {
  size_t n = 0;
  while (s[n] != '\0') ++n;
  return n;
}

int strcmp(const char* a, const char* b) {
  while (*a != '\0' && *a == *b) { ++a; ++b; }
  return static_cast<unsigned char>(*a) - static_cast<unsigned char>(*b);
}

int strncmp(const char* a, const char* b, size_t n) {
  for (size_t i = 0; i < n; ++i) {
    if (a[i] != b[i] || a[i] == '\0') return static_cast<unsigned char>(a[i]) - static_cast<unsigned char>(b[i]);
  }
  return 0;
}

}  // extern "C"
