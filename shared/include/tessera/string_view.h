// StringView: a non-owning, bounds-checked view of characters, and the number parser for
// command-line values (kernel boot options, user-space command lines). Freestanding; no accessor ever reads outside [data, data+size).
#pragma once

#include <stddef.h>
#include <stdint.h>
#include <tessera/result.h>

namespace tessera {

struct StringView {
  static constexpr size_t kNotFound = ~size_t{0};

  const char* data = "";
  size_t size = 0;

  constexpr StringView() = default;
  // Views a NUL-terminated string (without the NUL); a null pointer gives the empty view.
  constexpr StringView(const char* text)  // NOLINT: implicit so literals pass as views
      : data(text != nullptr ? text : ""), size(length_of(text)) {}
  // Views exactly `length` characters at `text`; the caller guarantees they are readable.
  constexpr StringView(const char* text, size_t length)
      : data(length != 0 ? text : ""), size(length) {}

  constexpr bool empty() const { return size == 0; }
  // The character at `index`, or NUL when `index` is out of range.
  constexpr char at(size_t index) const { return index < size ? data[index] : '\0'; }

  // True when both views hold the same characters.
  constexpr bool equals(StringView other) const {
    if (size != other.size) return false;
    for (size_t i = 0; i < size; ++i) {
      if (data[i] != other.data[i]) return false;
    }
    return true;
  }
  constexpr bool operator==(StringView other) const { return equals(other); }

  // True when this view begins with `prefix` (every view starts with the empty view).
  constexpr bool starts_with(StringView prefix) const {
    return prefix.size <= size && substr(0, prefix.size).equals(prefix);
  }

  // Index of the first `c` at or after `from`, or kNotFound.
  constexpr size_t find(char c, size_t from = 0) const {
    for (size_t i = from; i < size; ++i) {
      if (data[i] == c) return i;
    }
    return kNotFound;
  }

  // Up to `count` characters starting at `pos`; both are clamped to the view, never out of range.
  constexpr StringView substr(size_t pos, size_t count = kNotFound) const {
    if (pos >= size) return StringView();
    size_t available = size - pos;
    return StringView(data + pos, count < available ? count : available);
  }

 private:
  static constexpr size_t length_of(const char* text) {
    size_t length = 0;
    if (text != nullptr) {
      while (text[length] != '\0') ++length;
    }
    return length;
  }
};

namespace detail {
constexpr int digit_value(char c) {
  if (c >= '0' && c <= '9') return c - '0';
  if (c >= 'a' && c <= 'f') return c - 'a' + 10;
  if (c >= 'A' && c <= 'F') return c - 'A' + 10;
  return -1;
}
}  // namespace detail

// Parses an unsigned number: decimal ("4096") or hexadecimal with a 0x/0X prefix ("0x1000"),
// optionally followed by one binary-unit suffix K, M or G (either case) meaning KiB, MiB, GiB.
// Errors: InvalidArgument for an empty string, a missing digit, or any other character;
// RangeError when the value (after the suffix) does not fit in 64 bits.
inline Result<uint64_t> parse_u64(StringView text) {
  uint64_t base = 10;
  size_t pos = 0;
  if (text.size >= 2 && text.data[0] == '0' && (text.data[1] == 'x' || text.data[1] == 'X')) {
    base = 16;
    pos = 2;
  }
  size_t digits_end = text.size;
  unsigned shift = 0;
  if (digits_end > pos) {
    switch (text.data[digits_end - 1]) {
      case 'K': case 'k': shift = 10; break;
      case 'M': case 'm': shift = 20; break;
      case 'G': case 'g': shift = 30; break;
      default: break;
    }
    if (shift != 0) --digits_end;
  }
  if (digits_end <= pos) return Error::InvalidArgument;

  uint64_t value = 0;
  for (size_t i = pos; i < digits_end; ++i) {
    int digit = detail::digit_value(text.data[i]);
    if (digit < 0 || static_cast<uint64_t>(digit) >= base) return Error::InvalidArgument;
    uint64_t scaled = 0;
    if (__builtin_mul_overflow(value, base, &scaled) ||
        add_overflows(scaled, static_cast<uint64_t>(digit), &value)) {
      // Keep validating so "99999999999999999999x" reports the junk, not the overflow.
      for (size_t j = i + 1; j < digits_end; ++j) {
        int rest = detail::digit_value(text.data[j]);
        if (rest < 0 || static_cast<uint64_t>(rest) >= base) return Error::InvalidArgument;
      }
      return Error::RangeError;
    }
  }
  if (shift != 0 && (value >> (64 - shift)) != 0) return Error::RangeError;
  return value << shift;
}

}  // namespace tessera
