#include "generic/log.h"

#include <tessera/format.h>

#include "arch/x86_64/serial.h"
#include "generic/spinlock.h"

namespace tessera::kernel::log {
namespace {
Level current_level = Level::Info;
IrqSpinlock console_lock;

void serial_sink(void*, const char* text, size_t length) { serial::write(text, length); }

void emit(const char* prefix, const char* fmt, va_list args) {
  LockGuard guard(console_lock);
  if (prefix != nullptr) format(FormatSink{serial_sink, nullptr}, "%s", prefix);
  vformat(FormatSink{serial_sink, nullptr}, fmt, args);
  serial::write("\n", 1);
}
}  // namespace

void set_level(Level new_level) { current_level = new_level; }
Level level() { return current_level; }
bool enabled(Level l) { return static_cast<int>(l) <= static_cast<int>(current_level); }
void force_unlock() { console_lock = IrqSpinlock(); }

void vprint(const char* fmt, va_list args) {
  LockGuard guard(console_lock);
  vformat(FormatSink{serial_sink, nullptr}, fmt, args);
}

void print(const char* fmt, ...) {
  va_list args;
  va_start(args, fmt);
  vprint(fmt, args);
  va_end(args);
}

void write(const char* text, size_t length) {
  LockGuard guard(console_lock);
  serial::write(text, length);
}

#define TESSERA_LOG_FUNCTION(name, lvl, prefix) \
  void name(const char* fmt, ...) {             \
    if (!enabled(lvl)) return;                  \
    va_list args;                               \
    va_start(args, fmt);                        \
    emit(prefix, fmt, args);                    \
    va_end(args);                               \
  }
TESSERA_LOG_FUNCTION(error, Level::Error, "error: ")
TESSERA_LOG_FUNCTION(warn, Level::Warn, "warning: ")
TESSERA_LOG_FUNCTION(info, Level::Info, nullptr)
TESSERA_LOG_FUNCTION(debug, Level::Debug, "debug: ")
#undef TESSERA_LOG_FUNCTION

}  // namespace tessera::kernel::log
