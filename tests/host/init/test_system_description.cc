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

TEST_CASE("m gives a server its endpoint unbadged (to mint capabilities of its own); only on endpoints, never with a badge", "[system]") {
  SystemDescription d;
  ParseError e;
  REQUIRE(parse("endpoint svc\nnotification n\n"
                "program server grants=endpoint:svc:rwgm\n"
                "program client grants=endpoint:svc:wg\n",
                &d, &e) == tessera::Error::Ok);
  using init::grant_badge;
  using init::ObjectKind;
  CHECK(d.programs[0].grants[0].unbadged);
  CHECK(d.programs[0].grants[0].rights == (tessera::abi::kRightRead | tessera::abi::kRightWrite | tessera::abi::kRightGrant));
  CHECK(grant_badge(ObjectKind::Endpoint, d.programs[0].grants[0], 0) == 0);
  CHECK(grant_badge(ObjectKind::Endpoint, d.programs[1].grants[0], 1) == 2);
  CHECK(parse("endpoint svc\nprogram p grants=endpoint:svc:m\n", &d, &e) == tessera::Error::InvalidArgument);   // no rights
  CHECK(parse("endpoint svc\nprogram p grants=endpoint:svc:rm:5\n", &d, &e) == tessera::Error::InvalidArgument);  // and a badge
  CHECK(parse("notification n\nprogram p grants=notification:n:rm\n", &d, &e) == tessera::Error::InvalidArgument);
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

TEST_CASE("hardware declarations: irq, ioports and pci lines are read", "[system][hardware]") {
  SystemDescription d;
  ParseError e;
  REQUIRE(parse("irq rtc line=8\n"
                "irq blk-int line=0xb trigger=level polarity=low\n"
                "ioports com1 first=0x3f8 last=0x3ff\n"
                "ioports low first=96 last=100\n"
                "pci blk vendor=0x1af4 device=0x1001\n"
                "pci second vendor=0x1af4 device=0x1001 index=1\n"
                "pci bridge slot=00:1f.7\n"
                "program drv grants=irq:rtc,ioports:com1,pci:blk,pci:bridge\n",
                &d, &e) == tessera::Error::Ok);
  REQUIRE(d.object_count == 7);
  CHECK(d.objects[0].kind == init::ObjectKind::Irq);
  CHECK(d.objects[0].line == 8);
  CHECK_FALSE(d.objects[0].level);
  CHECK_FALSE(d.objects[0].active_low);
  CHECK(d.objects[1].line == 11);
  CHECK(d.objects[1].level);
  CHECK(d.objects[1].active_low);
  CHECK(d.objects[2].kind == init::ObjectKind::IoPorts);
  CHECK(d.objects[2].first == 0x3F8);
  CHECK(d.objects[2].last == 0x3FF);
  CHECK(d.objects[3].first == 96);
  CHECK(d.objects[4].kind == init::ObjectKind::Pci);
  CHECK_FALSE(d.objects[4].by_slot);
  CHECK(d.objects[4].vendor == 0x1AF4);
  CHECK(d.objects[4].device == 0x1001);
  CHECK(d.objects[4].index == 0);
  CHECK(d.objects[5].index == 1);
  CHECK(d.objects[6].by_slot);
  CHECK(d.objects[6].bus == 0);
  CHECK(d.objects[6].slot == 0x1F);
  CHECK(d.objects[6].function == 7);
  REQUIRE(d.program_count == 1);
  REQUIRE(d.programs[0].grant_count == 4);
  CHECK(d.programs[0].grants[2].object == 4);
  CHECK(std::string(init::kind_name(init::ObjectKind::Pci)) == "pci");
}

TEST_CASE("bad hardware lines are refused with their line, reason and subject", "[system][hardware]") {
  struct Bad {
    const char* text;
    uint32_t line;
    const char* reason;  // a part of it
    const char* subject;
  };
  const Bad bad[] = {
      {"irq a\n", 1, "irq needs line=N", ""},
      {"irq a line=24\n", 1, "0-23", ""},
      {"irq a line=x\n", 1, "0-23", ""},
      {"irq a line=3 trigger=rising\n", 1, "edge or level", ""},
      {"irq a line=3 polarity=up\n", 1, "high or low", ""},
      {"irq a line=3 first=1\n", 1, "unknown irq option", "first"},
      {"irq a line\n", 1, "KEY=VALUE", ""},
      {"ioports a first=0x60\n", 1, "first= and last=", ""},
      {"ioports a first=0x64 last=0x60\n", 1, "first is above last", ""},
      {"ioports a first=0x60 last=0x10000\n", 1, "0-0xffff", ""},
      {"ioports a first=0xcfc last=0xcfc\n", 1, "PCI configuration ports", ""},
      {"ioports a first=0xc00 last=0xd00\n", 1, "PCI configuration ports", ""},
      {"ioports a first=0xg0 last=0xf0\n", 1, "0-0xffff", ""},
      {"pci a vendor=0x1af4\n", 1, "vendor= and device=", ""},
      {"pci a vendor=6900 device=0x1001\n", 1, "0x0000-0xffff", ""},
      {"pci a vendor=0x1af40 device=0x1001\n", 1, "0x0000-0xffff", ""},
      {"pci a slot=00:03.0 vendor=0x1af4 device=0x1001\n", 1, "not both", ""},
      {"pci a slot=0:3.0\n", 1, "BB:DD.F", ""},
      {"pci a slot=00:20.0\n", 1, "BB:DD.F", ""},
      {"pci a slot=00:03.8\n", 1, "BB:DD.F", ""},
      {"pci a slot=00:03\n", 1, "BB:DD.F", ""},
      {"pci a vendor=0x1af4 device=0x1001 index=256\n", 1, "0-255", ""},
      {"pci a vendor=0x1af4 device=0x1001 line=3\n", 1, "unknown pci option", "line"},
      {"irq a line=1\nirq a line=2\n", 2, "declared twice", "a"},
      {"irq a line=1\nprogram p grants=irq:a:r\n", 2, "no rights or badge", "a"},
      {"pci a slot=00:03.0\nprogram p grants=pci:a:w:5\n", 2, "no rights or badge", "a"},
      {"irq a line=1\nprogram p grants=ioports:a\n", 2, "not declared above", "a"},
      {"program p grants=pci:missing\n", 1, "not declared above", "missing"},
      {"irq Bad line=1\n", 1, "bad object name", "Bad"},
  };
  for (const Bad& b : bad) {
    SystemDescription d;
    ParseError e;
    INFO(b.text);
    CHECK(parse(b.text, &d, &e) != tessera::Error::Ok);
    CHECK(e.line == b.line);
    CHECK(std::string(e.reason).find(b.reason) != std::string::npos);
    CHECK(std::string(e.subject) == b.subject);
  }
}

TEST_CASE("control declarations and grants") {
  SystemDescription d;
  ParseError e;
  REQUIRE(parse("control ctl\nprogram sh grants=control:ctl\n", &d, &e) == tessera::Error::Ok);
  CHECK(d.objects[0].kind == init::ObjectKind::Control);
  CHECK(d.programs[0].grant_count == 1);
  CHECK(parse("control ctl\nprogram sh grants=control:ctl:w\n", &d, &e) == tessera::Error::InvalidArgument);
  CHECK(std::string(e.reason) == "control grants take no rights or badge");
  CHECK(parse("program sh grants=control:ctl\n", &d, &e) == tessera::Error::InvalidArgument);
  CHECK(parse("endpoint ctl\nprogram sh grants=control:ctl\n", &d, &e) == tessera::Error::InvalidArgument);
  CHECK(parse("control ctl extra\n", &d, &e) == tessera::Error::InvalidArgument);
}

TEST_CASE("trace declarations: the TraceControl cap and a CPU's ring, granted without rights", "[system][trace]") {
  SystemDescription d;
  ParseError e;
  REQUIRE(parse("trace tc\ntrace ring ring=0\nprogram t cmdline=trace,trace_ms grants=trace:tc,trace:ring\n", &d, &e) ==
          tessera::Error::Ok);
  CHECK(d.objects[0].kind == init::ObjectKind::Trace);
  CHECK(!d.objects[0].ring);
  CHECK(d.objects[1].ring);
  CHECK(d.objects[1].cpu == 0);
  CHECK(d.programs[0].grant_count == 2);
  CHECK(std::strcmp(d.programs[0].cmdline_keys, "trace,trace_ms") == 0);
  CHECK(parse("trace tc ring=8\n", &d, &e) == tessera::Error::InvalidArgument);
  CHECK(parse("trace tc cpu=0\n", &d, &e) == tessera::Error::InvalidArgument);
  CHECK(std::string(e.reason) == "unknown trace option (ring)");
  CHECK(parse("trace tc\nprogram t grants=trace:tc:r\n", &d, &e) == tessera::Error::InvalidArgument);
  CHECK(parse("program t cmdline=\n", &d, &e) == tessera::Error::InvalidArgument);
}
