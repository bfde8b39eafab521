#include "generic/symbols.h"

#include <tessera/format.h>

#include "generic/kernel_layout.h"

namespace tessera::kernel::symbols {
namespace {
const char* table = nullptr;
size_t table_length = 0;

struct Line {
  uint64_t address;
  char type;
  const char* name;
  size_t name_length;
};

int hex_value(char c) {
  if (c >= '0' && c <= '9') return c - '0';
  if (c >= 'a' && c <= 'f') return c - 'a' + 10;
  if (c >= 'A' && c <= 'F') return c - 'A' + 10;
  return -1;
}

// Parses "<hex address> <type> <name>\n" starting at `pos`; advances pos past the line.
bool next_line(size_t* pos, Line* line) {
  while (*pos < table_length) {
    size_t p = *pos;
    size_t end = p;
    while (end < table_length && table[end] != '\n') ++end;
    *pos = end + 1;
    uint64_t address = 0;
    size_t digits = 0;
    while (p < end && hex_value(table[p]) >= 0 && digits < 16) {
      address = (address << 4) | static_cast<uint64_t>(hex_value(table[p]));
      ++p;
      ++digits;
    }
    if (digits == 0 || p + 3 > end || table[p] != ' ' || table[p + 2] != ' ') continue;
    line->address = address;
    line->type = table[p + 1];
    line->name = table + p + 3;
    line->name_length = end - (p + 3);
    return true;
  }
  return false;
}

bool is_code(char type) { return type == 'T' || type == 't' || type == 'W' || type == 'w'; }
}  // namespace

void init(const char* text, size_t length) {
  table = text;
  table_length = length;
}

void describe(uint64_t address, char* buffer, size_t capacity) {
  Line best{};
  bool found = false;
  const bool in_text = (address >= reinterpret_cast<uint64_t>(__text_start) &&
                        address < reinterpret_cast<uint64_t>(__text_end)) ||
                       (address >= layout::kernel_phys_start() && address < reinterpret_cast<uint64_t>(__text_start) -
                                                                                layout::kKernelVirtualBase);
  if (!in_text) {
    format_to(buffer, capacity, "?");
    return;
  }
  size_t pos = 0;
  Line line{};
  while (table != nullptr && next_line(&pos, &line)) {
    if (!is_code(line.type) || line.address > address) continue;
    if (!found || line.address >= best.address) {
      best = line;
      found = true;
    }
  }
  if (!found) {
    format_to(buffer, capacity, "?");
    return;
  }
  format_to(buffer, capacity, "%.*s+0x%lx", static_cast<int>(best.name_length), best.name,
            address - best.address);
}

}  // namespace tessera::kernel::symbols
