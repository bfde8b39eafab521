// C++ start-up: runs main() with the start-up argument and stops the thread when it returns.
#include <stdint.h>

#include <tessera/sys/debug.h>

int main(uint64_t argument);

extern "C" [[noreturn]] void tessera_start(uint64_t argument) {
  const int status = main(argument);
  if (status != 0) tessera::sys::print("process exited with status %d\n", status);
  tessera::sys::suspend_self();
}
