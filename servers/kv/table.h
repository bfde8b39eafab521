// The key-value table behind servers/kv: fixed capacity, no allocation, pure logic (no system
// calls), so its limits are those of the protocol (abi/kv.capnp) and nothing a client sends can
// overflow it.
#pragma once

#include <stddef.h>
#include <stdint.h>

#include <tessera/abi/kv.capnp.h>
#include <tessera/result.h>

namespace kv {

using tessera::Result;
using tessera::capnp::Data;
using tessera::capnp::Text;

class Table {
 public:
  static constexpr uint32_t kCapacity = 32;

  // Stores a copy of `value` under `key`; returns whether an older value was replaced.
  // RangeError for an empty key, a key over kMaxKeyBytes or a value over kMaxValueBytes;
  // NotEnoughMemory when all kCapacity entries hold other keys.
  Result<bool> put(Text key, Data value);
  // The value under `key`, valid until the next put/remove of that key; Data{} (data nullptr)
  // when there is none (a value found, even an empty one, never has data nullptr). Inline: the
  // lookup of every get request, in the dispatcher.
  Data get(Text key) const {
    const uint32_t index = index_of(key);
    return index < kCapacity ? Data{entries_[index].value, entries_[index].value_size} : Data{};
  }
  // Removes `key`; returns whether it was there.
  bool remove(Text key);
  uint32_t size() const { return size_; }

 private:
  struct Entry {
    bool used;
    uint8_t key_size;
    uint16_t value_size;
    char key[tessera::kv::kMaxKeyBytes];
    uint8_t value[tessera::kv::kMaxValueBytes];
  };
  // The index of `key`'s entry, or kCapacity when it has none.
  uint32_t index_of(Text key) const {
    for (uint32_t i = 0; i < kCapacity; ++i) {
      if (entries_[i].used && entries_[i].key_size == key.size && same_bytes(entries_[i].key, key.data, key.size)) return i;
    }
    return kCapacity;
  }
  template <typename T>
  static T load(const char* p) {
    T value;
    __builtin_memcpy(&value, p, sizeof(T));
    return value;
  }
  // Whether the `n` bytes at `a` and `b` are equal, compared a word at a time rather than byte by
  // byte: the words at 0, 8, ... and the last eight bytes (which may overlap the word before),
  // below eight bytes the same with 4-, 2- and 1-byte loads. Reads only bytes [0, n) of either side.
  static bool same_bytes(const char* a, const char* b, uint32_t n) {
    if (n >= 8) {
      for (uint32_t i = 0; i + 8 < n; i += 8) {
        if (load<uint64_t>(a + i) != load<uint64_t>(b + i)) return false;
      }
      return load<uint64_t>(a + n - 8) == load<uint64_t>(b + n - 8);
    }
    if (n >= 4) return load<uint32_t>(a) == load<uint32_t>(b) && load<uint32_t>(a + n - 4) == load<uint32_t>(b + n - 4);
    if (n >= 2) return load<uint16_t>(a) == load<uint16_t>(b) && load<uint16_t>(a + n - 2) == load<uint16_t>(b + n - 2);
    return n == 0 || a[0] == b[0];
  }

  Entry entries_[kCapacity] = {};
  uint32_t size_ = 0;
};

}  // namespace kv
