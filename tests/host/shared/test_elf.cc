// ELF64 loader parsing (shared/elf.cc): valid images and hostile ones.
#include <catch.hpp>

#include <cstring>
#include <random>
#include <vector>

#include <tessera/elf.h>

using tessera::Error;
namespace elf = tessera::elf;

namespace {
constexpr uint64_t kUserTop = 0x00007FFFFFFFF000ull;

struct Ph { uint32_t type, flags; uint64_t offset, vaddr, paddr, filesz, memsz, align; };

// Builds an ELF64 executable with the given program headers (contents are zero bytes).
std::vector<uint8_t> make_image(const std::vector<Ph>& phs, uint64_t entry, size_t size = 0x3000) {
  std::vector<uint8_t> b(size, 0);
  const uint8_t ident[16] = {0x7f, 'E', 'L', 'F', 2, 1, 1};
  std::memcpy(b.data(), ident, 16);
  auto put16 = [&](size_t o, uint16_t v) { std::memcpy(b.data() + o, &v, 2); };
  auto put32 = [&](size_t o, uint32_t v) { std::memcpy(b.data() + o, &v, 4); };
  auto put64 = [&](size_t o, uint64_t v) { std::memcpy(b.data() + o, &v, 8); };
  put16(16, 2);    // ET_EXEC
  put16(18, 62);   // EM_X86_64
  put32(20, 1);
  put64(24, entry);
  put64(32, 64);   // phoff
  put16(52, 64);
  put16(54, 56);
  put16(56, static_cast<uint16_t>(phs.size()));
  for (size_t i = 0; i < phs.size(); ++i) std::memcpy(b.data() + 64 + i * 56, &phs[i], 56);
  return b;
}

Ph text(uint64_t vaddr = 0x400000) { return Ph{1, 5, 0x1000, vaddr, vaddr, 0x800, 0x800, 0x1000}; }
Ph data(uint64_t vaddr = 0x401000) { return Ph{1, 6, 0x2000, vaddr, vaddr, 0x100, 0x2000, 0x1000}; }
}  // namespace

TEST_CASE("a text and a data segment parse", "[elf]") {
  const auto image = make_image({text(), data()}, 0x400010);
  elf::Image out{};
  REQUIRE(elf::parse(image.data(), image.size(), kUserTop, &out).ok());
  CHECK(out.entry == 0x400010);
  REQUIRE(out.segment_count == 2);
  CHECK(out.segments[0].executable);
  CHECK_FALSE(out.segments[0].writable);
  CHECK(out.segments[1].writable);
  CHECK(out.segments[1].mem_size == 0x2000);
}

TEST_CASE("hostile images are rejected with the matching error", "[elf]") {
  elf::Image out{};
  auto parse = [&](const std::vector<uint8_t>& b) { return elf::parse(b.data(), b.size(), kUserTop, &out).error(); };
  auto good = make_image({text()}, 0x400000);

  CHECK(elf::parse(nullptr, 0, kUserTop, &out).error() == Error::TruncatedMessage);
  CHECK(elf::parse(good.data(), 63, kUserTop, &out).error() == Error::TruncatedMessage);
  auto bad_magic = good;
  bad_magic[1] = 'X';
  CHECK(parse(bad_magic) == Error::MalformedMessage);
  auto elf32 = good;
  elf32[4] = 1;
  CHECK(parse(elf32) == Error::NotSupported);
  CHECK(parse(make_image({Ph{1, 7, 0x1000, 0x400000, 0, 0x100, 0x100, 0}}, 0x400000)) == Error::InvalidArgument);
  CHECK(parse(make_image({Ph{1, 5, 0x1000, 0x400000, 0, 0x200, 0x100, 0}}, 0x400000)) == Error::MalformedMessage);
  CHECK(parse(make_image({Ph{1, 5, 0x2f00, 0x400000, 0, 0x200, 0x200, 0}}, 0x400000)) == Error::TruncatedMessage);
  CHECK(parse(make_image({Ph{1, 5, ~0ull - 8, 0x400000, 0, 0x200, 0x200, 0}}, 0x400000)) == Error::TruncatedMessage);
  CHECK(parse(make_image({text(0)}, 0x10)) == Error::RangeError);
  CHECK(parse(make_image({text(kUserTop - 0x100)}, kUserTop - 0x100)) == Error::RangeError);
  CHECK(parse(make_image({Ph{1, 5, 0x1000, ~0ull - 0x10, 0, 0x10, 0x100, 0}}, ~0ull - 0x8)) == Error::RangeError);
  CHECK(parse(make_image({text(), text(0x400400)}, 0x400000)) == Error::MalformedMessage);
  CHECK(parse(make_image({data()}, 0x401000)) == Error::InvalidArgument);   // entry not executable
  CHECK(parse(make_image({text()}, 0x500000)) == Error::InvalidArgument);   // entry outside
  std::vector<Ph> many(17, text());
  for (size_t i = 0; i < many.size(); ++i) many[i].vaddr = 0x400000 + i * 0x1000;
  CHECK(parse(make_image(many, 0x400000, 0x4000)) == Error::RangeError);
  auto no_phdrs = good;
  no_phdrs[56] = 0;
  CHECK(parse(no_phdrs) == Error::MalformedMessage);
}

TEST_CASE("random corruption never crashes the parser", "[elf]") {
  const auto good = make_image({text(), data()}, 0x400010);
  std::mt19937_64 rng(1234);
  for (int round = 0; round < 5000; ++round) {
    auto b = good;
    const int flips = 1 + static_cast<int>(rng() % 8);
    for (int i = 0; i < flips; ++i) b[rng() % 0x200] = static_cast<uint8_t>(rng());
    b.resize(rng() % 4 == 0 ? rng() % b.size() : b.size());
    elf::Image out{};
    const auto r = elf::parse(b.data(), b.size(), kUserTop, &out);
    if (r.ok()) {
      REQUIRE(out.segment_count >= 1);
      for (size_t i = 0; i < out.segment_count; ++i) {
        const auto& s = out.segments[i];
        REQUIRE(s.file_offset + s.file_size <= b.size());
        REQUIRE(!(s.writable && s.executable));
        REQUIRE(s.vaddr + s.mem_size <= kUserTop);
      }
    }
  }
}
