// printf-style formatting for freestanding code (kernel and user space alike), writing through a character sink. Supports
// %c %s %d %i %u %x %X %o %p %%, flags '-' '0' '+' ' ', width and precision (both may be '*'),
// and the length modifiers h hh l ll z j t. Unknown conversions are printed verbatim.
#pragma once

#include <stdarg.h>
#include <stddef.h>

namespace tessera {

struct FormatSink {
  void (*put)(void* context, const char* text, size_t length);
  void* context;
};

// Formats into the sink; returns the number of characters produced.
size_t vformat(FormatSink sink, const char* format, va_list args);
size_t format(FormatSink sink, const char* format, ...) __attribute__((format(printf, 2, 3)));

// snprintf: always NUL-terminates when capacity > 0; returns the length the full output would have.
size_t vformat_to(char* buffer, size_t capacity, const char* format, va_list args);
size_t format_to(char* buffer, size_t capacity, const char* format, ...) __attribute__((format(printf, 3, 4)));

}  // namespace tessera
