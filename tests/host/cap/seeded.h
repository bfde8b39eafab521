// Seeded randomness for the host property tests (property_test.cc, lifetime_model_test.cc):
// splitmix64, small and fast, and seeds/counts that environment variables can override.
#pragma once

#include <cstdint>
#include <cstdlib>

namespace captest {

// The value of environment variable `name` (any base strtoull reads), or `fallback`.
inline uint64_t env_or(const char* name, uint64_t fallback) {
  const char* value = std::getenv(name);
  return value != nullptr ? std::strtoull(value, nullptr, 0) : fallback;
}

// splitmix64: good enough to drive a fuzzer deterministically from a seed.
class Rng {
 public:
  explicit Rng(uint64_t seed) : state_(seed) {}
  uint64_t next() {
    uint64_t z = (state_ += 0x9E3779B97F4A7C15ull);
    z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9ull;
    z = (z ^ (z >> 27)) * 0x94D049BB133111EBull;
    return z ^ (z >> 31);
  }
  uint64_t below(uint64_t n) { return n == 0 ? 0 : next() % n; }
  bool percent(uint64_t p) { return below(100) < p; }

 private:
  uint64_t state_;
};

}  // namespace captest
