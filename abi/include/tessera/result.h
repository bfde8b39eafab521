// Result<T>: a value or an Error, the return type of every fallible operation in kernel and
// user space. TRY(expr) propagates an error to the caller and otherwise yields the value.
#pragma once

#include <tessera/error.h>
#include <tessera/meta.h>

namespace tessera {

template <typename T>
class [[nodiscard]] Result {
 public:
  Result(const T& value) : ok_(true) { new (&value_) T(value); }      // NOLINT: implicit by design
  Result(T&& value) : ok_(true) { new (&value_) T(move(value)); }      // NOLINT
  Result(Error error) : error_(error), ok_(false) {}                   // NOLINT
  Result(const Result& other) : ok_(other.ok_) {
    if (ok_) new (&value_) T(other.value_); else error_ = other.error_;
  }
  Result(Result&& other) : ok_(other.ok_) {
    if (ok_) new (&value_) T(move(other.value_)); else error_ = other.error_;
  }
  Result& operator=(const Result&) = delete;
  ~Result() { if (ok_) value_.~T(); }

  bool ok() const { return ok_; }
  explicit operator bool() const { return ok_; }
  Error error() const { return ok_ ? Error::Ok : error_; }
  T& value() { return value_; }
  const T& value() const { return value_; }
  T& operator*() { return value_; }
  const T& operator*() const { return value_; }
  T* operator->() { return &value_; }
  const T* operator->() const { return &value_; }
  T take() { return move(value_); }
  T value_or(T fallback) const { return ok_ ? value_ : fallback; }

 private:
  union {
    T value_;
    Error error_;
  };
  bool ok_;
};

template <>
class [[nodiscard]] Result<void> {
 public:
  Result() : error_(Error::Ok) {}
  Result(Error error) : error_(error) {}  // NOLINT: implicit by design
  bool ok() const { return error_ == Error::Ok; }
  explicit operator bool() const { return ok(); }
  Error error() const { return error_; }
  void take() const {}

 private:
  Error error_;
};

}  // namespace tessera

// Evaluates `expr` (a Result); on error returns that error from the enclosing function,
// otherwise evaluates to the contained value. TRY may nest (each use gets its own temporary).
#define TESSERA_TRY_CONCAT_(a, b) a##b
#define TESSERA_TRY_NAME_(n) TESSERA_TRY_CONCAT_(tessera_try_result_, n)
#define TESSERA_TRY_IMPL_(expr, name)              \
  ({                                              \
    auto&& name = (expr);                         \
    if (!name.ok()) return name.error();          \
    name.take();                                  \
  })
#define TRY(expr) TESSERA_TRY_IMPL_(expr, TESSERA_TRY_NAME_(__COUNTER__))
