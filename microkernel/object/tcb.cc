#include "object/tcb.h"

#include <tessera/string.h>

#include "arch/x86_64/gdt.h"

namespace tessera::kernel {

void Tcb::set_initial_registers(uint64_t entry, uint64_t stack, uint64_t argument) {
  memset(&frame, 0, sizeof(frame));
  frame.rip = entry;
  frame.rsp = stack;
  frame.rdi = argument;
  frame.cs = x86::selector::kUserCode;
  frame.ss = x86::selector::kUserData;
  frame.rflags = sanitize_user_rflags(0);
  frame.vector = 0;  // not a system call: the first return uses IRETQ
}

void Tcb::reset_fpu() {
  memset(fpu, 0, sizeof(fpu));
  // FXSAVE layout: FCW at 0 (all exceptions masked), MXCSR at 24 (all SSE exceptions masked).
  const uint16_t fcw = 0x037F;
  const uint32_t mxcsr = 0x1F80;
  memcpy(fpu, &fcw, sizeof(fcw));
  memcpy(fpu + 24, &mxcsr, sizeof(mxcsr));
}

}  // namespace tessera::kernel
