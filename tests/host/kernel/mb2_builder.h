// Builds multiboot2 boot information structures byte by byte for the host tests.
#pragma once

#include <cstdint>
#include <cstring>
#include <string>
#include <vector>

class Mb2Builder {
 public:
  Mb2Builder() { bytes_.resize(8); }

  // Appends a tag with `payload` after its 8-byte header; `size_override` replaces the size field.
  Mb2Builder& tag(uint32_t type, const std::vector<uint8_t>& payload, int64_t size_override = -1) {
    size_t start = bytes_.size();
    put32(type);
    put32(size_override >= 0 ? static_cast<uint32_t>(size_override) : static_cast<uint32_t>(8 + payload.size()));
    bytes_.insert(bytes_.end(), payload.begin(), payload.end());
    while ((bytes_.size() - start) % 8 != 0) bytes_.push_back(0);
    return *this;
  }

  Mb2Builder& string_tag(uint32_t type, const std::string& text) {
    std::vector<uint8_t> payload(text.begin(), text.end());
    payload.push_back(0);
    return tag(type, payload);
  }
  Mb2Builder& cmdline(const std::string& text) { return string_tag(1, text); }
  Mb2Builder& bootloader(const std::string& text) { return string_tag(2, text); }

  Mb2Builder& module(uint32_t start, uint32_t end, const std::string& text) {
    std::vector<uint8_t> payload;
    append32(payload, start);
    append32(payload, end);
    payload.insert(payload.end(), text.begin(), text.end());
    payload.push_back(0);
    return tag(3, payload);
  }

  Mb2Builder& basic_meminfo(uint32_t lower, uint32_t upper) {
    std::vector<uint8_t> payload;
    append32(payload, lower);
    append32(payload, upper);
    return tag(4, payload);
  }

  struct Entry {
    uint64_t base, length;
    uint32_t type;
  };
  Mb2Builder& mmap(const std::vector<Entry>& entries, uint32_t entry_size = 24) {
    std::vector<uint8_t> payload;
    append32(payload, entry_size);
    append32(payload, 0);
    for (const Entry& e : entries) {
      size_t start = payload.size();
      append64(payload, e.base);
      append64(payload, e.length);
      append32(payload, e.type);
      append32(payload, 0);
      payload.resize(start + entry_size, 0);
    }
    return tag(6, payload);
  }

  Mb2Builder& framebuffer(uint64_t address, uint32_t pitch, uint32_t width, uint32_t height, uint8_t bpp,
                          uint8_t type) {
    std::vector<uint8_t> payload;
    append64(payload, address);
    append32(payload, pitch);
    append32(payload, width);
    append32(payload, height);
    payload.push_back(bpp);
    payload.push_back(type);
    payload.push_back(0);
    payload.push_back(0);
    return tag(8, payload);
  }

  // An RSDP copy: tag 14 (v1, 20 bytes) or 15 (v2, 36 bytes); bytes are filled with `fill`.
  Mb2Builder& rsdp(uint32_t type, uint8_t fill) {
    return tag(type, std::vector<uint8_t>(type == 14 ? 20 : 36, fill));
  }

  Mb2Builder& end_tag() { return tag(0, {}); }

  // The structure with total_size filled in (an end tag is appended unless `with_end` is false).
  std::vector<uint8_t> finish(bool with_end = true) {
    if (with_end) end_tag();
    std::vector<uint8_t> out = bytes_;
    uint32_t total = static_cast<uint32_t>(out.size());
    std::memcpy(out.data(), &total, 4);
    return out;
  }

  static void append32(std::vector<uint8_t>& v, uint32_t x) {
    for (int i = 0; i < 4; ++i) v.push_back(static_cast<uint8_t>(x >> (8 * i)));
  }
  static void append64(std::vector<uint8_t>& v, uint64_t x) {
    append32(v, static_cast<uint32_t>(x));
    append32(v, static_cast<uint32_t>(x >> 32));
  }

 private:
  void put32(uint32_t x) { append32(bytes_, x); }
  std::vector<uint8_t> bytes_;
};
