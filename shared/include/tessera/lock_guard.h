// LockGuard: holds a lock for the lifetime of the guard (RAII). One template for every lock of the
// system: the kernel's Spinlock and IrqSpinlock (microkernel/generic/spinlock.h) and libsys's
// Mutex (tessera/sys/sync.h); anything with lock() and unlock().
//
//   LockGuard guard{lock_};
#pragma once

namespace tessera {

template <typename Lock>
class LockGuard {
 public:
  explicit LockGuard(Lock& lock) : lock_(lock) { lock_.lock(); }
  ~LockGuard() { lock_.unlock(); }
  LockGuard(const LockGuard&) = delete;
  LockGuard& operator=(const LockGuard&) = delete;

 private:
  Lock& lock_;
};

}  // namespace tessera
