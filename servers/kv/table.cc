#include "table.h"

#include <tessera/string.h>

namespace kv {
namespace {
bool same_key(const char* stored, uint8_t stored_size, Text key) {
  return stored_size == key.size && memcmp(stored, key.data, key.size) == 0;
}
}  // namespace

uint32_t Table::index_of(Text key) const {
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
