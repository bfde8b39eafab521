// CommandLine: words, last-one-wins, append, truncation; for_each_in_list.
#include <catch.hpp>

#include <string>
#include <vector>

#include <tessera/cmdline.h>

using tessera::Error;
using tessera::CommandLine;
using tessera::for_each_in_list;
using tessera::StringView;

static std::string str(StringView view) { return std::string(view.data, view.size); }

TEST_CASE("CommandLine finds bare keys and key=value words", "[cmdline]") {
  CommandLine cmdline("  console=serial\tverbose  mem=512M\nempty= a=b=c ");
  CHECK(str(cmdline.text()) == "console=serial verbose mem=512M empty= a=b=c");
  CHECK(cmdline.has("console"));
  CHECK(cmdline.has("verbose"));
  CHECK(cmdline.has("empty"));
  CHECK_FALSE(cmdline.has("consol"));
  CHECK_FALSE(cmdline.has("console=serial"));
  CHECK_FALSE(cmdline.has(""));

  StringView value("untouched");
  CHECK(cmdline.get("console", &value));
  CHECK(str(value) == "serial");
  CHECK(cmdline.get("verbose", &value));
  CHECK(value.empty());
  CHECK(cmdline.get("empty", &value));
  CHECK(value.empty());
  CHECK(cmdline.get("a", &value));
  CHECK(str(value) == "b=c");
  value = StringView("untouched");
  CHECK_FALSE(cmdline.get("missing", &value));
  CHECK(str(value) == "untouched");
}

TEST_CASE("CommandLine get_u64", "[cmdline]") {
  CommandLine cmdline("mem=512M cpus=0x2 verbose bad=12q");
  CHECK(cmdline.get_u64("mem").value() == 512ull << 20);
  CHECK(cmdline.get_u64("cpus").value() == 2);
  CHECK(cmdline.get_u64("verbose").error() == Error::InvalidArgument);
  CHECK(cmdline.get_u64("bad").error() == Error::InvalidArgument);
  CHECK(cmdline.get_u64("missing").error() == Error::FailedLookup);
}

TEST_CASE("CommandLine: the last occurrence wins and append overrides", "[cmdline]") {
  CommandLine cmdline("log=info log=debug");
  StringView value;
  REQUIRE(cmdline.get("log", &value));
  CHECK(str(value) == "debug");
  StringView earlier = value;

  cmdline.append("  log=trace extra ");
  REQUIRE(cmdline.get("log", &value));
  CHECK(str(value) == "trace");
  CHECK(cmdline.has("extra"));
  CHECK(str(earlier) == "debug");  // append does not move stored text
  CHECK(str(cmdline.text()) == "log=info log=debug log=trace extra");

  CommandLine empty;
  CHECK(empty.text().empty());
  empty.append("a=1");
  CHECK(str(empty.text()) == "a=1");
  empty.append("");
  empty.append("   ");
  CHECK(str(empty.text()) == "a=1");
  CHECK_FALSE(empty.truncated());
}

TEST_CASE("CommandLine truncates at a word boundary and never overflows", "[cmdline]") {
  std::string long_word(1012, 'x');
  std::string input = "first=1 " + long_word + " last=2";
  CommandLine cmdline(StringView(input.data(), input.size()));
  CHECK(cmdline.truncated());
  CHECK(cmdline.text().size == 8 + 1012);  // "first=1 " + the long word; " last=2" would need 1027
  CHECK(cmdline.has("first"));
  CHECK_FALSE(cmdline.has("last"));

  // Exactly filling the buffer works; one more byte does not.
  std::string exact(CommandLine::kCapacity, 'y');
  CommandLine full(StringView(exact.data(), exact.size()));
  CHECK_FALSE(full.truncated());
  CHECK(full.text().size == CommandLine::kCapacity);
  full.append("z");
  CHECK(full.truncated());
  CHECK(full.text().size == CommandLine::kCapacity);

  std::string too_long(CommandLine::kCapacity + 1, 'y');
  CommandLine dropped(StringView(too_long.data(), too_long.size()));
  CHECK(dropped.truncated());
  CHECK(dropped.text().empty());

  // Many appends: the separator is accounted for.
  CommandLine many;
  for (int i = 0; i < 1000; ++i) many.append("ab=c");
  CHECK(many.truncated());
  CHECK(many.text().size <= CommandLine::kCapacity);
  CHECK(many.text().size % 5 == 4);  // whole words only
}

TEST_CASE("for_each_word and for_each_in_list", "[cmdline]") {
  CommandLine cmdline("a b=1 c");
  std::vector<std::string> words;
  cmdline.for_each_word([&](StringView word) { words.push_back(str(word)); });
  CHECK(words == std::vector<std::string>{"a", "b=1", "c"});

  std::vector<std::string> items;
  for_each_in_list(",serial,,vga,fb,", [&](StringView item) { items.push_back(str(item)); });
  CHECK(items == std::vector<std::string>{"serial", "vga", "fb"});
  items.clear();
  for_each_in_list("", [&](StringView item) { items.push_back(str(item)); });
  CHECK(items.empty());
  for_each_in_list("one", [&](StringView item) { items.push_back(str(item)); });
  CHECK(items == std::vector<std::string>{"one"});
}
