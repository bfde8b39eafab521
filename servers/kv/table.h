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
  // The value under `key`, valid until the next put/remove of that key; Data{} with `found`
  // false when there is none.
  Data get(Text key, bool* found) const;
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
  uint32_t index_of(Text key) const;

  Entry entries_[kCapacity] = {};
  uint32_t size_ = 0;
};

}  // namespace kv
