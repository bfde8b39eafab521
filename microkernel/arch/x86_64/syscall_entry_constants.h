// Constants the system-call entry (syscall_entry.S) needs from C++: where the running thread and
// its system-call count are, which numbers take the fastpath, and the fastpath's mode. Each one is
// static_assert'ed against its C++ definition in object/fastpath.cc, so they cannot drift apart.
#pragma once

#define GS_CURRENT 32                      // Cpu::current
#define TCB_SYSCALLS 0x380                 // Tcb::syscalls
#define SYSCALL_SEND 3                     // Syscall::Send, the last of tessera_syscall_entries
#define SYSCALL_NULL 16                    // Syscall::Null
#define FASTPATH_PLAIN 1                   // FastpathMode::Plain
#define USER_ADDRESS_LIMIT 0x00007FFFFFFFF000  // kUserAddressLimit
