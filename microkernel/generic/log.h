// Kernel logging to the serial console, filtered by the `log=` command-line level.
#pragma once

#include <stdarg.h>
#include <stddef.h>

namespace tessera::kernel::log {

enum class Level : int { Error = 0, Warn = 1, Info = 2, Debug = 3 };

void set_level(Level level);
Level level();
bool enabled(Level level);

// Unfiltered output with no prefix: banners and the test protocol lines.
void print(const char* format, ...) __attribute__((format(printf, 1, 2)));
void vprint(const char* format, va_list args);
void write(const char* text, size_t length);

void error(const char* format, ...) __attribute__((format(printf, 1, 2)));
void warn(const char* format, ...) __attribute__((format(printf, 1, 2)));
void info(const char* format, ...) __attribute__((format(printf, 1, 2)));
void debug(const char* format, ...) __attribute__((format(printf, 1, 2)));

// Used by the panic path: drops the console lock (another context may hold it forever).
void force_unlock();

}  // namespace tessera::kernel::log
