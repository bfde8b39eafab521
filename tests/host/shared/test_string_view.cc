// StringView accessors and parse_u64.
#include <catch.hpp>

#include <tessera/string_view.h>

using tessera::Error;
using tessera::parse_u64;
using tessera::StringView;

static_assert(StringView("abc").size == 3);
static_assert(StringView("abc").equals("abc"));
static_assert(StringView("key=value").find('=') == 3);

TEST_CASE("StringView basics", "[string_view]") {
  StringView empty;
  CHECK(empty.empty());
  CHECK(empty.size == 0);
  CHECK(StringView(nullptr).empty());
  CHECK(empty.equals(""));
  CHECK(empty.at(0) == '\0');

  StringView hello("hello");
  CHECK(hello.size == 5);
  CHECK(hello.at(1) == 'e');
  CHECK(hello.at(5) == '\0');
  CHECK(hello.equals("hello"));
  CHECK_FALSE(hello.equals("hell"));
  CHECK_FALSE(hello.equals("hellp"));
  CHECK(hello == StringView("hello"));
}

TEST_CASE("StringView starts_with, find, substr clamp to the view", "[string_view]") {
  StringView text("console=serial");
  CHECK(text.starts_with("console"));
  CHECK(text.starts_with(""));
  CHECK_FALSE(text.starts_with("console=serial+"));
  CHECK_FALSE(text.starts_with("x"));
  CHECK(text.find('=') == 7);
  CHECK(text.find('=', 8) == StringView::kNotFound);
  CHECK(text.find('z') == StringView::kNotFound);
  CHECK(text.find('c', 100) == StringView::kNotFound);
  CHECK(text.substr(8).equals("serial"));
  CHECK(text.substr(0, 7).equals("console"));
  CHECK(text.substr(8, 1000).equals("serial"));
  CHECK(text.substr(14).empty());
  CHECK(text.substr(1000, 5).empty());
  StringView explicit_length("abcdef", 3);
  CHECK(explicit_length.equals("abc"));
}

TEST_CASE("parse_u64 accepts decimal, hex and binary suffixes", "[string_view]") {
  CHECK(parse_u64("0").value() == 0);
  CHECK(parse_u64("4096").value() == 4096);
  CHECK(parse_u64("0x1000").value() == 0x1000);
  CHECK(parse_u64("0XdeadBEEF").value() == 0xdeadbeef);
  CHECK(parse_u64("4K").value() == 4096);
  CHECK(parse_u64("4k").value() == 4096);
  CHECK(parse_u64("16M").value() == 16ull << 20);
  CHECK(parse_u64("2G").value() == 2ull << 30);
  CHECK(parse_u64("0x10K").value() == 0x10ull << 10);
  CHECK(parse_u64("18446744073709551615").value() == ~0ull);
  CHECK(parse_u64("0xffffffffffffffff").value() == ~0ull);
  CHECK(parse_u64("17179869183G").value() == 17179869183ull << 30);
}

TEST_CASE("parse_u64 rejects junk with InvalidArgument", "[string_view]") {
  for (const char* junk : {"", "x", "0x", "K", "0xK", "12a", "1 2", "-1", "+1", "1KK", "0x1g0", "1.5", "0b101",
                           "12\n", "99999999999999999999x"}) {
    INFO(junk);
    CHECK(parse_u64(junk).error() == Error::InvalidArgument);
  }
}

TEST_CASE("parse_u64 reports overflow as RangeError", "[string_view]") {
  CHECK(parse_u64("18446744073709551616").error() == Error::RangeError);
  CHECK(parse_u64("0x10000000000000000").error() == Error::RangeError);
  CHECK(parse_u64("17179869184G").error() == Error::RangeError);
  CHECK(parse_u64("0xffffffffffffffffK").error() == Error::RangeError);
  CHECK(parse_u64("99999999999999999999999999").error() == Error::RangeError);
}
