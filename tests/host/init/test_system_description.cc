// init's system-description parser (servers/init/system_description.cc) on the host, under
// ASan/UBSan: every option, the shipped boot/system.conf, bad lines named by number, and random
// text that must never crash it.
#include <catch.hpp>

#include <cstring>
#include <fstream>
#include <random>
#include <sstream>
#include <string>

#include "system_description.h"

namespace {
using init::ParseError;
using init::SystemDescription;

tessera::Error parse(const std::string& text, SystemDescription* d, ParseError* e) {
  return init::parse_system_description(text.data(), text.size(), d, e).error();
}
}  // namespace

TEST_CASE("the shipped boot/system.conf parses", "[system]") {
  std::ifstream file(SYSTEM_CONF_PATH);
  REQUIRE(file.good());
  std::stringstream text;
  text << file.rdbuf();
  SystemDescription d;
  ParseError e;
  REQUIRE(parse(text.str(), &d, &e) == tessera::Error::Ok);
  CHECK(d.program_count >= 2);
  CHECK(d.object_count >= 1);
}

TEST_CASE("every option of a program line is read", "[system]") {
  SystemDescription d;
  ParseError e;
  REQUIRE(parse("endpoint log\nnotification tick\n"
                "program logger image=proctest prio=7 mcp=6 budget=2000 period=10000 mem=4M restart=yes arg=x "
                "grants=endpoint:log:rg,notification:tick\n",
                &d, &e) == tessera::Error::Ok);
  REQUIRE(d.program_count == 1);
  const auto& p = d.programs[0];
  CHECK(std::strcmp(p.name, "logger") == 0);
  CHECK(std::strcmp(p.image, "proctest") == 0);
  CHECK(p.priority == 7);
  CHECK(p.mcp == 6);
  CHECK(p.budget_us == 2000);
  CHECK(p.period_us == 10000);
  CHECK(p.memory_bytes == 4u << 20);
  CHECK(p.restart);
  CHECK(p.grant_count == 2);
}

TEST_CASE("a program without mem= gets the default quota", "[system]") {
  SystemDescription d;
  ParseError e;
  REQUIRE(parse("program a\nprogram b mem=100M\n", &d, &e) == tessera::Error::Ok);
  CHECK(d.programs[0].memory_bytes == init::kDefaultMemoryQuota);
  CHECK(d.programs[1].memory_bytes == uint64_t{100} << 20);
}

TEST_CASE("bad lines are refused with their line number", "[system]") {
  const std::pair<const char*, uint32_t> bad[] = {
      {"endpoint a\nendpoint a\n", 2},
      {"endpoint Upper\n", 1},
      {"program p grants=endpoint:missing\n", 1},
      {"endpoint a\nprogram p grants=endpoint:a:rx\n", 2},
      {"program p prio=256\n", 1},
      {"program p mem=4097M\n", 1},
      {"program p mem=0M\n", 1},
      {"program p mem=2\n", 1},
      {"program p mem=M\n", 1},
      {"program p heap=4M\n", 1},
      {"frobnicate x\n", 1},
      {"endpoint a\nprogram p grants=endpoint:a:w:0\n", 2},
      {"endpoint a\nprogram p grants=endpoint:a:w:x1\n", 2},
      {"endpoint a\nprogram p grants=endpoint:a:w:281474976710656\n", 2},
  };
  for (const auto& [text, line] : bad) {
    SystemDescription d;
    ParseError e;
    INFO(text);
    CHECK(parse(text, &d, &e) != tessera::Error::Ok);
    CHECK(e.line == line);
  }
}

TEST_CASE("random and mutated text never crashes the parser", "[system]") {
  std::mt19937_64 rng(99);
  const std::string seed = "endpoint kv\nnotification w\nprogram kv prio=100 restart=yes grants=endpoint:kv:r\n";
  const char alphabet[] = "abcdefghijklmnopqrstuvwxyz0123456789 =:,#\n\t-_";
  for (int i = 0; i < 20000; ++i) {
    std::string text = seed;
    if (i % 2 == 0) {
      text.resize(rng() % 300);
      for (char& c : text) c = alphabet[rng() % (sizeof(alphabet) - 1)];
    } else {
      for (int k = 0; k < 4; ++k) text[rng() % text.size()] = static_cast<char>(rng());
      text.resize(rng() % (text.size() + 1));
    }
    SystemDescription d;
    ParseError e;
    (void)parse(text, &d, &e);
    REQUIRE(d.program_count <= init::kMaxSystemPrograms);
    REQUIRE(d.object_count <= init::kMaxSystemObjects);
  }
}

TEST_CASE("every endpoint grant is badged: by default with the program's number", "[system]") {
  SystemDescription d;
  ParseError e;
  REQUIRE(parse("endpoint svc\nnotification n\n"
                "program server grants=endpoint:svc:r\n"
                "program client grants=endpoint:svc:w,notification:n:w\n"
                "program named grants=endpoint:svc:w:4242,notification:n:w:8\n",
                &d, &e) == tessera::Error::Ok);
  REQUIRE(d.program_count == 3);
  using init::grant_badge;
  using init::ObjectKind;
  CHECK(grant_badge(ObjectKind::Endpoint, d.programs[0].grants[0], 0) == 1);
  CHECK(grant_badge(ObjectKind::Endpoint, d.programs[1].grants[0], 1) == 2);
  CHECK(grant_badge(ObjectKind::Notification, d.programs[1].grants[1], 1) == 0);
  CHECK(grant_badge(ObjectKind::Endpoint, d.programs[2].grants[0], 2) == 4242);
  CHECK(grant_badge(ObjectKind::Notification, d.programs[2].grants[1], 2) == 8);
  CHECK(d.programs[2].grants[0].rights == tessera::abi::kRightWrite);
}

TEST_CASE("errors name the object, program or option they are about", "[system]") {
  const std::pair<const char*, const char*> bad[] = {
      {"endpoint a\nprogram p grants=endpoint:missing\n", "missing"},
      {"endpoint kv\nendpoint kv\n", "kv"},
      {"endpoint a\nprogram p grants=endpoint:a,endpoint:a\n", "a"},
      {"program p\nprogram p\n", "p"},
      {"program p colour=red\n", "colour"},
      {"endpoint a\nprogram p grants=socket:a\n", "socket"},
  };
  for (const auto& [text, subject] : bad) {
    SystemDescription d;
    ParseError e;
    INFO(text);
    CHECK(parse(text, &d, &e) != tessera::Error::Ok);
    CHECK(std::string(e.subject) == subject);
  }
  SystemDescription d;
  ParseError e;
  CHECK(parse("program p prio=300\n", &d, &e) != tessera::Error::Ok);
  CHECK(std::string(e.subject).empty());
}
