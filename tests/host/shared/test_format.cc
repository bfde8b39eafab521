// format/format_to (shared/format.cc): conversions, flags, truncation.
#include <catch.hpp>

#include <climits>
#include <cstdarg>
#include <cstdint>
#include <string>

#include <tessera/format.h>

using tessera::format;
using tessera::format_to;
using tessera::FormatSink;

namespace {

// Deliberately not format-checked: some cases pass malformed format strings on purpose.
std::string fmt(const char* format_string, ...) {
  char buffer[256];
  va_list args;
  va_start(args, format_string);
  size_t n = tessera::vformat_to(buffer, sizeof buffer, format_string, args);
  va_end(args);
  std::string out(buffer);
  CHECK(n == out.size());
  return out;
}

}  // namespace

TEST_CASE("format: integers", "[format]") {
  CHECK(fmt("%d %i %u", -42, 17, 4000000000u) == "-42 17 4000000000");
  CHECK(fmt("%x %X %o", 0xbeefu, 0xbeefu, 8u) == "beef BEEF 10");
  CHECK(fmt("%lld", LLONG_MIN) == "-9223372036854775808");
  CHECK(fmt("%llu", ULLONG_MAX) == "18446744073709551615");
  CHECK(fmt("%lx", 0xffffffffffffffffUL) == "ffffffffffffffff");
  CHECK(fmt("%zu %zx", size_t{12345}, size_t{0xabc}) == "12345 abc");
  CHECK(fmt("%hhd %hd", 300, 70000) == "44 4464");
  CHECK(fmt("%hhu", 0x1ff) == "255");
  CHECK(fmt("%d", 0) == "0");
}

TEST_CASE("format: width, precision and flags", "[format]") {
  CHECK(fmt("[%5d]", 42) == "[   42]");
  CHECK(fmt("[%-5d]", 42) == "[42   ]");
  CHECK(fmt("[%05d]", -42) == "[-0042]");
  CHECK(fmt("[%+d] [% d]", 5, 5) == "[+5] [ 5]");
  CHECK(fmt("[%.3d]", 7) == "[007]");
  CHECK(fmt("[%8.3x]", 0xau) == "[     00a]");
  CHECK(fmt("[%.0d]", 0) == "[]");
  CHECK(fmt("[%*d]", 4, 1) == "[   1]");
  CHECK(fmt("[%*d]", -4, 1) == "[1   ]");
  CHECK(fmt("[%.*s]", 2, "abcdef") == "[ab]");
  CHECK(fmt("[%08x]", 0x1234u) == "[00001234]");
}

TEST_CASE("format: characters, strings, pointers, percent and unknown conversions", "[format]") {
  CHECK(fmt("%c%c", 'o', 'k') == "ok");
  CHECK(fmt("[%3c]", 'x') == "[  x]");
  CHECK(fmt("[%s]", "hi") == "[hi]");
  CHECK(fmt("[%-4s]", "hi") == "[hi  ]");
  CHECK(fmt("[%4s]", "hi") == "[  hi]");
  CHECK(fmt("%s", static_cast<const char*>(nullptr)) == "(null)");
  CHECK(fmt("%p", reinterpret_cast<void*>(0x1234)) == "0x0000000000001234");
  CHECK(fmt("100%%") == "100%");
  CHECK(fmt("%q %d", 3) == "%q 3");  // unknown conversion printed verbatim, consumes nothing
  CHECK(fmt("tail %") == "tail %");
  CHECK(fmt("") == "");
}

TEST_CASE("format_to truncates, always terminates, reports the full length", "[format]") {
  char small[6];
  CHECK(format_to(small, sizeof small, "%s", "hello world") == 11);
  CHECK(std::string(small) == "hello");
  char exact[6];
  CHECK(format_to(exact, sizeof exact, "%d", 12345) == 5);
  CHECK(std::string(exact) == "12345");
  char one[1] = {'x'};
  CHECK(format_to(one, 1, "abc") == 3);
  CHECK(one[0] == '\0');
  char untouched = 'z';
  CHECK(format_to(&untouched, 0, "abc") == 3);
  CHECK(untouched == 'z');
}

TEST_CASE("format writes through a sink in pieces", "[format]") {
  std::string collected;
  FormatSink sink{[](void* context, const char* text, size_t length) {
                    static_cast<std::string*>(context)->append(text, length);
                  },
                  &collected};
  CHECK(format(sink, "a=%d b=%s", 1, "two") == 9);
  CHECK(collected == "a=1 b=two");
}

TEST_CASE("absurd widths and precisions are clamped, not overflowed", "[format]") {
  char buffer[16];
  const size_t n = tessera::format_to(buffer, sizeof(buffer), "%99999999999d|%.99999999999s", 7, "abc");
  CHECK(n == 4096 + 1 + 3);
  CHECK(std::string(buffer).size() == 15);
}
