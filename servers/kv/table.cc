#include "table.h"

#include <tessera/string.h>

namespace kv {
namespace {
template <typename T>
T load(const char* p) {
  T value;
  __builtin_memcpy(&value, p, sizeof(T));
  return value;
}

// Whether the `n` bytes at `a` and `b` are equal, compared a word at a time rather than byte by
// byte (the lookup of every request): the words at 0, 8, ... and the last eight bytes (which may
// overlap the word before), below eight bytes the same with 4-, 2- and 1-byte loads. Reads only
// bytes [0, n) of either side.
bool same_bytes(const char* a, const char* b, uint32_t n) {
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

bool same_key(const char* stored, uint8_t stored_size, Text key) {
  return stored_size == key.size && same_bytes(stored, key.data, key.size);
}
}  // namespace

// Inline in get(), the lookup of every request.
__attribute__((always_inline)) inline uint32_t Table::index_of(Text key) const {
  for (uint32_t i = 0; i < kCapacity; ++i) {
    if (entries_[i].used && same_key(entries_[i].key, entries_[i].key_size, key)) return i;
  }
  return kCapacity;
}

Result<bool> Table::put(Text key, Data value) {
  if (key.size == 0 || key.size > tessera::kv::kMaxKeyBytes || value.size > tessera::kv::kMaxValueBytes) {
    return tessera::Error::RangeError;
  }
  uint32_t index = index_of(key);
  const bool replaced = index < kCapacity;
  for (uint32_t i = 0; index == kCapacity && i < kCapacity; ++i) {
    if (!entries_[i].used) index = i;
  }
  if (index == kCapacity) return tessera::Error::NotEnoughMemory;
  Entry* entry = &entries_[index];
  if (!replaced) {
    entry->used = true;
    entry->key_size = static_cast<uint8_t>(key.size);
    memcpy(entry->key, key.data, key.size);
    ++size_;
  }
  entry->value_size = static_cast<uint16_t>(value.size);
  if (value.size > 0) memcpy(entry->value, value.data, value.size);
  return replaced;
}

Data Table::get(Text key, bool* found) const {
  const uint32_t index = index_of(key);
  *found = index < kCapacity;
  return *found ? Data{entries_[index].value, entries_[index].value_size} : Data{};
}

bool Table::remove(Text key) {
  const uint32_t index = index_of(key);
  if (index == kCapacity) return false;
  entries_[index].used = false;
  --size_;
  return true;
}

}  // namespace kv
