// Multiboot2 parser: valid structures, every malformed case, and random mutations under ASan.
#include <catch.hpp>

#include <cstring>
#include <memory>
#include <random>
#include <string>

#include "lib/multiboot2.h"
#include "mb2_builder.h"

using tessera::Error;
namespace mb2 = tessera::kernel::mb2;

namespace {

// Parses a copy of `bytes` in a heap block of exactly `capacity` bytes (default: the size), so
// ASan reports any read outside what the parser was allowed to read. The copy lives as long as
// this object, because the BootInfo points into it.
struct Parsed {
  explicit Parsed(const std::vector<uint8_t>& bytes, size_t capacity = SIZE_MAX) {
    if (capacity == SIZE_MAX) capacity = bytes.size();
    copy.reset(new uint8_t[capacity == 0 ? 1 : capacity]);
    std::memcpy(copy.get(), bytes.data(), std::min(capacity, bytes.size()));
    info = std::make_unique<mb2::BootInfo>();
    error = mb2::parse(copy.get(), capacity, info.get()).error();
  }
  std::unique_ptr<uint8_t[]> copy;
  std::unique_ptr<mb2::BootInfo> info;
  Error error;
};

std::string str(tessera::StringView view) { return std::string(view.data, view.size); }

void set32(std::vector<uint8_t>& bytes, size_t offset, uint32_t value) { std::memcpy(&bytes[offset], &value, 4); }

// The offset of the first tag of `type` in a built structure.
size_t tag_offset(const std::vector<uint8_t>& bytes, uint32_t type) {
  size_t offset = 8;
  for (;;) {
    uint32_t t, size;
    std::memcpy(&t, &bytes[offset], 4);
    std::memcpy(&size, &bytes[offset + 4], 4);
    if (t == type) return offset;
    offset += (size + 7) & ~size_t{7};
  }
}

std::vector<uint8_t> full_structure() {
  return Mb2Builder()
      .cmdline("console=serial mem=512M")
      .bootloader("GRUB 2.06")
      .basic_meminfo(639, 523264)
      .mmap({{0, 0x9fc00, 1}, {0x9fc00, 0x400, 2}, {0xf0000, 0x10000, 2}, {0x100000, 0x1fee0000, 1},
             {0x1ffe0000, 0x20000, 3}, {0xfffc0000, 0x40000, 4}, {0x100000000, 0x1000, 5}, {0x200000000, 0x1000, 77}})
      .module(0x200000, 0x234567, "init arg")
      .module(0x300000, 0x300000, "")
      .framebuffer(0xfd000000, 4096, 1024, 768, 32, 1)
      .rsdp(14, 0xaa)
      .rsdp(15, 0xbb)
      .tag(21, {0, 0, 0x10, 0})  // load base address: unknown to the parser, skipped
      .finish();
}

}  // namespace

TEST_CASE("multiboot2: a full structure parses", "[multiboot2]") {
  std::vector<uint8_t> bytes = full_structure();
  Parsed parsed(bytes);
  REQUIRE(parsed.error == Error::Ok);
  const mb2::BootInfo& info = *parsed.info;
  CHECK(info.total_size == bytes.size());
  CHECK(str(info.cmdline) == "console=serial mem=512M");
  CHECK(str(info.bootloader) == "GRUB 2.06");
  CHECK(info.has_basic_meminfo);
  CHECK(info.mem_lower_kib == 639);
  CHECK(info.mem_upper_kib == 523264);

  REQUIRE(info.region_count == 8);
  CHECK(info.regions[0].base == 0);
  CHECK(info.regions[0].length == 0x9fc00);
  CHECK(info.regions[0].type == mb2::MemoryType::Available);
  CHECK(info.regions[1].type == mb2::MemoryType::Reserved);
  CHECK(info.regions[4].type == mb2::MemoryType::AcpiReclaimable);
  CHECK(info.regions[5].type == mb2::MemoryType::AcpiNvs);
  CHECK(info.regions[6].type == mb2::MemoryType::Bad);
  CHECK(info.regions[6].base == 0x100000000);
  CHECK(info.regions[7].type == mb2::MemoryType::Reserved);  // unknown type 77

  REQUIRE(info.module_count == 2);
  CHECK(info.modules[0].start == 0x200000);
  CHECK(info.modules[0].end == 0x234567);
  CHECK(str(info.modules[0].cmdline) == "init arg");
  CHECK(info.modules[1].start == info.modules[1].end);
  CHECK(info.modules[1].cmdline.empty());

  REQUIRE(info.has_framebuffer);
  CHECK(info.framebuffer.address == 0xfd000000);
  CHECK(info.framebuffer.pitch == 4096);
  CHECK(info.framebuffer.width == 1024);
  CHECK(info.framebuffer.height == 768);
  CHECK(info.framebuffer.bpp == 32);
  CHECK(info.framebuffer.type == 1);

  REQUIRE(info.acpi_rsdp != nullptr);  // tag 15 preferred over 14
  CHECK(info.acpi_rsdp_size == 36);
  CHECK(info.acpi_rsdp[0] == 0xbb);
  CHECK(info.acpi_rsdp >= parsed.copy.get());
  CHECK(info.acpi_rsdp + info.acpi_rsdp_size <= parsed.copy.get() + bytes.size());
}

TEST_CASE("multiboot2: RSDP v2 is preferred in either order; v1 alone is used", "[multiboot2]") {
  Parsed new_first(Mb2Builder().rsdp(15, 0x22).rsdp(14, 0x11).finish());
  REQUIRE(new_first.error == Error::Ok);
  CHECK(new_first.info->acpi_rsdp[0] == 0x22);
  CHECK(new_first.info->acpi_rsdp_size == 36);

  Parsed old_only(Mb2Builder().rsdp(14, 0x11).finish());
  REQUIRE(old_only.error == Error::Ok);
  CHECK(old_only.info->acpi_rsdp[0] == 0x11);
  CHECK(old_only.info->acpi_rsdp_size == 20);

  Parsed none(Mb2Builder().finish());
  REQUIRE(none.error == Error::Ok);
  CHECK(none.info->acpi_rsdp == nullptr);
  CHECK_FALSE(none.info->has_framebuffer);
  CHECK_FALSE(none.info->has_basic_meminfo);
  CHECK(none.info->region_count == 0);
  CHECK(none.info->cmdline.empty());
}

TEST_CASE("multiboot2: the minimal structure and a capacity larger than total_size", "[multiboot2]") {
  std::vector<uint8_t> minimal = Mb2Builder().finish();
  CHECK(minimal.size() == 16);
  CHECK(Parsed(minimal).error == Error::Ok);
  std::vector<uint8_t> padded = minimal;
  padded.resize(64, 0xee);
  Parsed parsed(padded);
  CHECK(parsed.error == Error::Ok);
  CHECK(parsed.info->total_size == 16);
}

TEST_CASE("multiboot2: empty memory maps and empty entries", "[multiboot2]") {
  Parsed no_entries(Mb2Builder().mmap({}).finish());
  REQUIRE(no_entries.error == Error::Ok);
  CHECK(no_entries.info->region_count == 0);

  Parsed zero_length(Mb2Builder().mmap({{0x1000, 0, 1}, {0x2000, 0x1000, 1}}).finish());
  REQUIRE(zero_length.error == Error::Ok);
  REQUIRE(zero_length.info->region_count == 1);
  CHECK(zero_length.info->regions[0].base == 0x2000);
}

TEST_CASE("multiboot2: larger entry sizes and several mmap tags are accepted", "[multiboot2]") {
  Parsed parsed(Mb2Builder().mmap({{0, 0x1000, 1}, {0x1000, 0x1000, 2}}, 32).mmap({{0x5000, 0x1000, 1}}).finish());
  REQUIRE(parsed.error == Error::Ok);
  REQUIRE(parsed.info->region_count == 3);
  CHECK(parsed.info->regions[1].base == 0x1000);
  CHECK(parsed.info->regions[1].type == mb2::MemoryType::Reserved);
  CHECK(parsed.info->regions[2].base == 0x5000);
}

TEST_CASE("multiboot2: overlapping regions are reported as given", "[multiboot2]") {
  Parsed parsed(Mb2Builder().mmap({{0, 0x10000, 1}, {0x8000, 0x10000, 2}}).finish());
  REQUIRE(parsed.error == Error::Ok);
  REQUIRE(parsed.info->region_count == 2);
  CHECK(parsed.info->regions[1].base == 0x8000);
}

TEST_CASE("multiboot2: header and capacity errors", "[multiboot2]") {
  std::vector<uint8_t> valid = full_structure();
  mb2::BootInfo info;
  CHECK(mb2::parse(nullptr, 100, &info).error() == Error::TruncatedMessage);
  CHECK(Parsed(valid, 0).error == Error::TruncatedMessage);
  CHECK(Parsed(valid, 7).error == Error::TruncatedMessage);
  CHECK(Parsed(valid, valid.size() - 1).error == Error::TruncatedMessage);
  CHECK(Parsed(valid, 8).error == Error::TruncatedMessage);

  std::vector<uint8_t> small = valid;
  set32(small, 0, 8);
  CHECK(Parsed(small).error == Error::MalformedMessage);
  set32(small, 0, 15);
  CHECK(Parsed(small).error == Error::MalformedMessage);
  set32(small, 0, 0xffffffff);
  CHECK(Parsed(small).error == Error::TruncatedMessage);
}

TEST_CASE("multiboot2: structural errors are MalformedMessage", "[multiboot2]") {
  SECTION("missing end tag") {
    CHECK(Parsed(Mb2Builder().cmdline("x").finish(false)).error == Error::MalformedMessage);
  }
  SECTION("end tag with a size other than 8") {
    std::vector<uint8_t> bytes = Mb2Builder().tag(0, {0, 0, 0, 0, 0, 0, 0, 0}).finish(false);
    CHECK(Parsed(bytes).error == Error::MalformedMessage);
  }
  SECTION("tag size below 8") {
    for (uint32_t size : {0u, 1u, 7u}) {
      std::vector<uint8_t> bytes = Mb2Builder().tag(21, {1, 2, 3, 4}, size).finish();
      CHECK(Parsed(bytes).error == Error::MalformedMessage);
    }
  }
  SECTION("tag crossing total_size") {
    std::vector<uint8_t> bytes = full_structure();
    set32(bytes, tag_offset(bytes, 8) + 4, static_cast<uint32_t>(bytes.size()));
    CHECK(Parsed(bytes).error == Error::MalformedMessage);
    std::vector<uint8_t> huge = full_structure();
    set32(huge, tag_offset(huge, 1) + 4, 0xffffffff);
    CHECK(Parsed(huge).error == Error::MalformedMessage);
  }
  SECTION("tag whose padding swallows the end tag") {
    std::vector<uint8_t> bytes = Mb2Builder().tag(21, std::vector<uint8_t>(8, 0)).finish();
    set32(bytes, 8 + 4, 17);  // padded to 24: the end tag would start at total_size
    CHECK(Parsed(bytes).error == Error::MalformedMessage);
  }
  SECTION("unterminated string whose size runs past the buffer") {
    std::vector<uint8_t> bytes = Mb2Builder().tag(1, {'a', 'b', 'c', 'd', 'e', 'f', 'g', 'h'}, 64).finish(false);
    CHECK(Parsed(bytes).error == Error::MalformedMessage);
  }
  SECTION("padding that runs past a total_size that is not a multiple of 8") {
    std::vector<uint8_t> bytes = Mb2Builder().tag(21, std::vector<uint8_t>(13, 'x')).finish(false);
    set32(bytes, 0, 8 + 21);  // the tag ends exactly at total_size; its padding does not fit
    CHECK(Parsed(bytes, 8 + 21).error == Error::MalformedMessage);
  }
  SECTION("total_size cutting the end tag") {
    std::vector<uint8_t> bytes = full_structure();
    set32(bytes, 0, static_cast<uint32_t>(bytes.size() - 4));
    CHECK(Parsed(bytes).error == Error::MalformedMessage);
  }
  SECTION("unterminated strings") {
    for (uint32_t type : {1u, 2u}) {
      std::vector<uint8_t> bytes = Mb2Builder().tag(type, {'a', 'b', 'c'}).finish();
      CHECK(Parsed(bytes).error == Error::MalformedMessage);
    }
    CHECK(Parsed(Mb2Builder().tag(1, {}).finish()).error == Error::MalformedMessage);
    // The NUL in the padding after the tag does not count.
    std::vector<uint8_t> bytes = Mb2Builder().tag(1, {'a', 'b', 'c', 0}).finish();
    set32(bytes, 8 + 4, 8 + 3);
    CHECK(Parsed(bytes).error == Error::MalformedMessage);
    std::vector<uint8_t> module;
    Mb2Builder::append32(module, 0x1000);
    Mb2Builder::append32(module, 0x2000);
    module.push_back('m');
    CHECK(Parsed(Mb2Builder().tag(3, module).finish()).error == Error::MalformedMessage);
  }
  SECTION("tags too small for their fixed part") {
    CHECK(Parsed(Mb2Builder().tag(3, {0, 0, 0, 0}).finish()).error == Error::MalformedMessage);
    CHECK(Parsed(Mb2Builder().tag(4, {0, 0, 0, 0}).finish()).error == Error::MalformedMessage);
    CHECK(Parsed(Mb2Builder().tag(6, {24, 0, 0, 0}).finish()).error == Error::MalformedMessage);
    CHECK(Parsed(Mb2Builder().tag(8, std::vector<uint8_t>(21, 0)).finish()).error == Error::MalformedMessage);
    CHECK(Parsed(Mb2Builder().tag(14, std::vector<uint8_t>(19, 0)).finish()).error == Error::MalformedMessage);
    CHECK(Parsed(Mb2Builder().tag(15, std::vector<uint8_t>(35, 0)).finish()).error == Error::MalformedMessage);
  }
  SECTION("module with start > end") {
    CHECK(Parsed(Mb2Builder().module(0x2000, 0x1000, "m").finish()).error == Error::MalformedMessage);
  }
  SECTION("bad mmap entry_size") {
    for (uint32_t entry_size : {0u, 8u, 16u, 20u, 28u}) {
      INFO(entry_size);
      std::vector<uint8_t> bytes = Mb2Builder().mmap({{0, 0x1000, 1}}, 24).finish();
      set32(bytes, 8 + 8, entry_size);
      CHECK(Parsed(bytes).error == Error::MalformedMessage);
    }
  }
  SECTION("mmap entries not filling the tag") {
    std::vector<uint8_t> bytes = Mb2Builder().mmap({{0, 0x1000, 1}, {0x1000, 0x1000, 1}}).finish();
    set32(bytes, 8 + 4, 8 + 8 + 24 + 8);  // one and a third entries
    CHECK(Parsed(bytes).error == Error::MalformedMessage);
    // A partial entry at the very end must not be read past the tag (nor the buffer).
    std::vector<uint8_t> last = Mb2Builder().mmap({{0, 0x1000, 1}}).finish();
    set32(last, 8 + 4, 8 + 8 + 24 + 8);
    CHECK(Parsed(last).error == Error::MalformedMessage);
  }
  SECTION("mmap region wrapping past 2^64") {
    CHECK(Parsed(Mb2Builder().mmap({{~0ull - 0xfff, 0x1000, 1}}).finish()).error == Error::MalformedMessage);
    CHECK(Parsed(Mb2Builder().mmap({{~0ull - 0xfff, 0xfff, 1}}).finish()).error == Error::Ok);
  }
}

TEST_CASE("multiboot2: too many regions or modules is RangeError", "[multiboot2]") {
  std::vector<Mb2Builder::Entry> entries;
  for (uint64_t i = 0; i < mb2::kMaxRegions; ++i) entries.push_back({i * 0x1000, 0x1000, 1});
  Parsed at_limit(Mb2Builder().mmap(entries).finish());
  REQUIRE(at_limit.error == Error::Ok);
  CHECK(at_limit.info->region_count == mb2::kMaxRegions);
  entries.push_back({0x10000000, 0x1000, 1});
  CHECK(Parsed(Mb2Builder().mmap(entries).finish()).error == Error::RangeError);

  Mb2Builder modules;
  for (uint32_t i = 0; i < mb2::kMaxModules; ++i) modules.module(i * 0x1000, i * 0x1000 + 0x800, "m");
  std::vector<uint8_t> limit_bytes = Mb2Builder(modules).finish();
  Parsed module_limit(limit_bytes);
  REQUIRE(module_limit.error == Error::Ok);
  CHECK(module_limit.info->module_count == mb2::kMaxModules);
  modules.module(0x100000, 0x100001, "one too many");
  CHECK(Parsed(modules.finish()).error == Error::RangeError);
}

TEST_CASE("multiboot2: random mutations never read out of bounds", "[multiboot2][fuzz]") {
  const std::vector<uint8_t> valid = full_structure();
  std::mt19937_64 random(0x7e55e7a);
  int accepted = 0;
  for (int round = 0; round < 4000; ++round) {
    std::vector<uint8_t> bytes = valid;
    int flips = 1 + static_cast<int>(random() % 8);
    for (int i = 0; i < flips; ++i) {
      size_t at = random() % bytes.size();
      switch (random() % 4) {
        case 0: bytes[at] = static_cast<uint8_t>(random()); break;
        case 1: bytes[at] ^= static_cast<uint8_t>(1u << (random() % 8)); break;
        case 2: bytes[at] = 0; break;
        default: bytes[at] = 0xff; break;
      }
    }
    size_t capacity = bytes.size();
    if (random() % 4 == 0) capacity = random() % (bytes.size() + 1);
    Parsed parsed(bytes, capacity);
    if (parsed.error != Error::Ok) continue;
    ++accepted;
    // Whatever was accepted must describe memory inside the buffer.
    const mb2::BootInfo& info = *parsed.info;
    const uint8_t* begin = parsed.copy.get();
    const uint8_t* end = begin + capacity;
    REQUIRE(info.total_size <= capacity);
    REQUIRE(info.region_count <= mb2::kMaxRegions);
    REQUIRE(info.module_count <= mb2::kMaxModules);
    auto inside = [&](tessera::StringView view) {
      if (view.empty()) return true;
      auto* p = reinterpret_cast<const uint8_t*>(view.data);
      return p >= begin && p + view.size < end && p[view.size] == 0;
    };
    REQUIRE(inside(info.cmdline));
    REQUIRE(inside(info.bootloader));
    for (size_t i = 0; i < info.module_count; ++i) {
      REQUIRE(inside(info.modules[i].cmdline));
      REQUIRE(info.modules[i].start <= info.modules[i].end);
    }
    for (size_t i = 0; i < info.region_count; ++i) REQUIRE(info.regions[i].length != 0);
    if (info.acpi_rsdp != nullptr) {
      REQUIRE(info.acpi_rsdp >= begin);
      REQUIRE(info.acpi_rsdp + info.acpi_rsdp_size <= end);
    }
  }
  CHECK(accepted > 0);  // some mutations (e.g. inside strings) stay valid
}
