// The shell's line editor (servers/shell/line_editor.h) and path resolution (path.h) on the host:
// editing keys, overlong lines, hostile bytes (every byte value, random streams), and paths with
// ".", ".." and repeated slashes.
#include <catch.hpp>

#include <random>
#include <string>
#include <utility>
#include <vector>

#include "line_editor.h"
#include "path.h"

namespace {
using shell::LineEditor;

struct Fed {
  std::string echo;
  std::vector<std::pair<LineEditor::Event, std::string>> events;
};

Fed feed(LineEditor& e, const std::string& bytes) {
  Fed out;
  for (const char c : bytes) {
    char echo[LineEditor::kMaxEcho];
    size_t n = 0;
    const LineEditor::Event ev = e.feed(static_cast<uint8_t>(c), echo, &n, sizeof(echo));
    out.echo.append(echo, n);
    if (ev != LineEditor::Event::None) out.events.emplace_back(ev, ev == LineEditor::Event::Line ? e.line() : "");
  }
  return out;
}

std::string resolve(const char* cwd, const char* path) {
  char out[shell::kMaxPath];
  REQUIRE(shell::resolve_path(cwd, path, out));
  return out;
}
}  // namespace

TEST_CASE("line editor: a line, echo, CR LF once") {
  LineEditor e;
  const Fed f = feed(e, "echo hi\r\nls\n");
  REQUIRE(f.events.size() == 2);
  CHECK(f.events[0].second == "echo hi");
  CHECK(f.events[1].second == "ls");
  CHECK(f.echo == "echo hi\r\nls\r\n");
}

TEST_CASE("line editor: backspace, DEL, Ctrl-U, Ctrl-C") {
  LineEditor e;
  Fed f = feed(e, "\x7f" "ab\x08" "c\x7f" "d\r");
  REQUIRE(f.events.size() == 1);
  CHECK(f.events[0].second == "ad");
  CHECK(f.echo == "ab\b \bc\b \bd\r\n");
  f = feed(e, "garbage\x15ok\r");
  CHECK(f.events.back().second == "ok");
  f = feed(e, "never\x03");
  REQUIRE(f.events.size() == 1);
  CHECK(f.events[0].first == LineEditor::Event::Cancelled);
  CHECK(f.echo == "never^C\r\n");
  CHECK(e.pending() == 0);
}

TEST_CASE("line editor: a line past kMaxLine is refused, the next one works") {
  LineEditor e;
  Fed f = feed(e, std::string(LineEditor::kMaxLine + 50, 'x') + "\r");
  REQUIRE(f.events.size() == 1);
  CHECK(f.events[0].first == LineEditor::Event::TooLong);
  CHECK(f.echo.size() == LineEditor::kMaxLine + 2);  // the characters that fit, then CR LF
  f = feed(e, std::string(LineEditor::kMaxLine, 'y') + "\r");
  CHECK(f.events[0].first == LineEditor::Event::Line);
  CHECK(f.events[0].second == std::string(LineEditor::kMaxLine, 'y'));
}

TEST_CASE("line editor: escape sequences and non-printing bytes are ignored") {
  LineEditor e;
  const Fed f = feed(e, std::string("\x1b[A\x1b[1;5C\x1bOP\x1bx\x00\x01\x07\xff\x80", 17) + "ok\r");
  REQUIRE(f.events.size() == 1);
  CHECK(f.events[0].second == "ok");
  CHECK(f.echo == "ok\r\n");
}

TEST_CASE("line editor: random bytes never overflow and lines stay printable") {
  std::mt19937 rng(7);
  LineEditor e;
  for (int i = 0; i < 200000; ++i) {
    char echo[LineEditor::kMaxEcho];
    size_t n = 0;
    const LineEditor::Event ev = e.feed(static_cast<uint8_t>(rng()), echo, &n, sizeof(echo));
    REQUIRE(n <= sizeof(echo));
    REQUIRE(e.pending() <= LineEditor::kMaxLine);
    if (ev == LineEditor::Event::Line) {
      for (const char* p = e.line(); *p != 0; ++p) REQUIRE((*p >= 0x20 && *p < 0x7f));
    }
  }
}

TEST_CASE("paths: absolute, relative, . and .., repeated slashes") {
  CHECK(resolve("/", "") == "/");
  CHECK(resolve("/", ".") == "/");
  CHECK(resolve("/", "..") == "/");
  CHECK(resolve("/a/b", "c") == "/a/b/c");
  CHECK(resolve("/a/b", "../c") == "/a/c");
  CHECK(resolve("/a/b", "/x//y/./z/..") == "/x/y");
  CHECK(resolve("/a", "../../..") == "/");
  CHECK(resolve("/", "a/") == "/a");
  char out[shell::kMaxPath];
  CHECK_FALSE(shell::resolve_path("/", std::string(300, 'a').c_str(), out));
}
