// The system-call registers of a saved TrapFrame, by their role. The register assignment is the
// one libsys uses (abi/include/tessera/syscall_regs.h); generic code reads a thread's arguments
// and writes its results only through this view, never through the TrapFrame's register names.
#pragma once

#include <stdint.h>

#include <tessera/error.h>
#include <tessera/syscall.h>
#include <tessera/syscall_regs.h>

#include "arch/x86_64/trap.h"

namespace tessera::kernel {

inline constexpr uint32_t kSyscallMessageRegisters = 4;

class SyscallRegs {
 public:
  explicit SyscallRegs(TrapFrame& frame) : f_(frame) {}

  // --- arguments ---
  uint64_t number() const { return f_.TESSERA_SYSCALL_REG_NUMBER; }
  uint64_t cptr() const { return f_.TESSERA_SYSCALL_REG_CPTR; }
  uint64_t info() const { return f_.TESSERA_SYSCALL_REG_INFO; }
  // Message register `i` (< 4), in or out.
  uint64_t mr(uint32_t i) const { return f_.*kMessageRegister[i]; }

  // --- results ---
  void set_result(Error e) { f_.TESSERA_SYSCALL_REG_RESULT = static_cast<uint64_t>(e); }
  void set_info(uint64_t info) { f_.TESSERA_SYSCALL_REG_INFO = info; }
  void set_badge(uint64_t badge) { f_.TESSERA_SYSCALL_REG_BADGE = badge; }
  void set_mr(uint32_t i, uint64_t value) { f_.*kMessageRegister[i] = value; }
  // Message registers 0-3 of `from` (another thread's saved system call) into this frame.
  void copy_mrs(const SyscallRegs& from) {
    for (uint32_t i = 0; i < kSyscallMessageRegisters; ++i) set_mr(i, from.mr(i));
  }
  // Ends a receive: message info, badge and an Ok result.
  void set_received(uint64_t info, uint64_t badge) {
    set_info(info);
    set_badge(badge);
    set_result(Error::Ok);
  }

  // The system call runs again when the thread next resumes: back onto the two-byte `syscall`
  // instruction, returning with IRETQ so that every register is restored.
  void restart() {
    f_.rip -= 2;
    f_.vector = 0;
  }

  TrapFrame& frame() const { return f_; }

 private:
  static constexpr uint64_t TrapFrame::* kMessageRegister[kSyscallMessageRegisters] = {
      &TrapFrame::TESSERA_SYSCALL_REG_MR0, &TrapFrame::TESSERA_SYSCALL_REG_MR1,
      &TrapFrame::TESSERA_SYSCALL_REG_MR2, &TrapFrame::TESSERA_SYSCALL_REG_MR3};

  TrapFrame& f_;
};

// The user-visible general registers in the order of Tcb.readRegisters/writeRegisters (rip rsp
// rflags rax rbx rcx rdx rsi rdi rbp r8-r15): index < kUserRegisterCount.
inline constexpr uint32_t kUserRegisterCount = 18;
inline uint64_t& user_register(TrapFrame& f, uint32_t index) {
  uint64_t* order[kUserRegisterCount] = {&f.rip, &f.rsp, &f.rflags, &f.rax, &f.rbx, &f.rcx, &f.rdx, &f.rsi, &f.rdi,
                                         &f.rbp, &f.r8,  &f.r9,     &f.r10, &f.r11, &f.r12, &f.r13, &f.r14, &f.r15};
  return *order[index];
}
// What user register `index` reads as (Tcb.readRegisters). A frame the system-call entry saved
// holds no RCX or R11 (syscall_entry.S): they read as what SYSCALL left in them, the return address
// and the flags.
inline uint64_t shown_user_register(TrapFrame& f, uint32_t index) {
  uint64_t& r = user_register(f, index);
  if (f.vector == vectors::kSyscall && &r == &f.rcx) return f.rip;
  if (f.vector == vectors::kSyscall && &r == &f.r11) return f.rflags;
  return r;
}

}  // namespace tessera::kernel
