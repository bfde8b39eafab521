#include <stdarg.h>

#include <tessera/bootinfo.h>
#include <tessera/format.h>
#include <tessera/sys/debug.h>
#include <tessera/sys/syscall.h>

namespace tessera::sys {
namespace {
// Buffers output so one print() is one kernel write (lines from threads do not interleave).
struct LineBuffer {
  char data[512];
  size_t used = 0;
  void flush() {
    if (used > 0) debug_write(data, used);
    used = 0;
  }
};
void put(void* context, const char* text, size_t length) {
  auto* b = static_cast<LineBuffer*>(context);
  for (size_t i = 0; i < length; ++i) {
    if (b->used == sizeof(b->data)) b->flush();
    b->data[b->used++] = text[i];
  }
}
}  // namespace

Error debug_write(const char* text, size_t length) {
  return syscall2(Syscall::DebugWrite, reinterpret_cast<uint64_t>(text), length);
}

void print(const char* fmt, ...) {
  LineBuffer buffer;
  va_list args;
  va_start(args, fmt);
  vformat(FormatSink{put, &buffer}, fmt, args);
  va_end(args);
  buffer.flush();
}

void exit_machine(int code) {
  // The root task's DebugControl cap (slot 9 of the root layout); anyone else lacks it and stops.
  syscall2(Syscall::DebugExitMachine, tessera::kSlotDebugControl, static_cast<uint64_t>(code));
  suspend_self();
}

void suspend_self() {
  for (;;) syscall2(Syscall::DebugSuspendSelf, 0, 0);
}

}  // namespace tessera::sys
