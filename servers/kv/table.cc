#include "table.h"

#include <tessera/string.h>

namespace kv {
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

bool Table::remove(Text key) {
  const uint32_t index = index_of(key);
  if (index == kCapacity) return false;
  entries_[index].used = false;
  --size_;
  return true;
}

}  // namespace kv
