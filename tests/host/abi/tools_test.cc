// The ABI's tooling contracts: the checked-in goldens match the build's generated headers,
// stock `capnp decode` reads what the freestanding builder wrote, and the plugin rejects
// unsupported schemas with a message naming the schema line.
#include <tessera/abi/features.capnp.h>

#include <catch.hpp>
#include <cstdio>
#include <filesystem>
#include <fstream>
#include <set>
#include <sstream>
#include <string>
#include <vector>

#include "schema_env.h"

namespace {

std::string read_file(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  std::ostringstream out;
  out << in.rdbuf();
  return out.str();
}

// Runs a shell command; returns its exit status and combined output.
int run(const std::string& command, std::string* output) {
  FILE* pipe = popen((command + " 2>&1").c_str(), "r");
  REQUIRE(pipe != nullptr);
  char chunk[4096];
  size_t n;
  while ((n = fread(chunk, 1, sizeof chunk, pipe)) > 0) output->append(chunk, n);
  return pclose(pipe);
}

std::string temp_dir() {
  char pattern[] = "/tmp/tessera-abi-XXXXXX";
  REQUIRE(mkdtemp(pattern) != nullptr);
  return pattern;
}

// Compiles (syntax only, as a user would) `out_dir`/use.cc: `header` (a generated one in
// `out_dir`), two client transports (Transport with call only, TransportWithInfo with call_info
// too, as libsys's), then `body`. Returns the compiler's status; its output goes to `output`.
int compile_use(const std::string& out_dir, const std::string& header, const std::string& body, std::string* output) {
  std::ofstream(out_dir + "/use.cc") << "#include \"" << header << "\"\n" << R"(
struct Transport {
  tessera::capnp::Word words[tessera::capnp::kMaxMessageWords];
  uint64_t caps[tessera::capnp::kMaxExtraCaps];
  tessera::capnp::Word* send_words() { return words; }
  uint64_t* send_caps() { return caps; }
  const tessera::capnp::Word* reply_words() const { return words; }
  tessera::Result<tessera::capnp::MessageInfo> call(uint64_t, uint64_t, uint32_t, uint32_t) {
    return tessera::Error::NotSupported;
  }
};
struct TransportWithInfo : Transport {
  tessera::Result<tessera::capnp::MessageInfo> call_info(uint64_t, uint64_t) { return tessera::Error::NotSupported; }
};
)" << body;
  return run(std::string(HOST_CXX) + " -std=c++20 -Wall -Wextra -Werror -fsyntax-only " + ABI_RUNTIME_INCLUDES + " -I" +
                 out_dir + " " + out_dir + "/use.cc",
             output);
}

}  // namespace

TEST_CASE("checked-in goldens match the generated headers", "[abi][golden]") {
  for (const auto& schema : abitest::all_schemas()) {
    const std::string& name = schema.name;
    INFO(name << ".capnp.h differs from abi/golden: review the change, then run "
              "`ninja -C <build> abi-update-goldens`");
    const std::string generated = read_file(std::string(ABI_GENERATED_DIR) + "/" + name + ".capnp.h");
    const std::string golden = read_file(std::string(ABI_GOLDEN_DIR) + "/" + name + ".capnp.h");
    REQUIRE_FALSE(generated.empty());
    const bool identical = generated == golden;
    CHECK(identical);
  }
}

TEST_CASE("every schema of abi_schemas is generated, golden-checked and round-tripped", "[abi][golden]") {
  // The build passes abi_schemas (abi/meson.build) to the tests: a schema added there, e.g. by
  // scripts/new-server, is covered without editing any test.
  const auto schemas = abitest::all_schemas();
  std::set<std::string> names;
  for (const auto& schema : schemas) names.insert(schema.name);
  CHECK(names.count("kv") == 1);
  CHECK(names.count("features") == 1);
  std::set<uint64_t> shimmed;
  for (const auto& entry : abitest::all_entries()) shimmed.insert(entry.id);
  for (const auto& schema : schemas) {
    INFO("schema " << schema.name << " (abi/" << schema.path << ")");
    CHECK_FALSE(read_file(std::string(ABI_GENERATED_DIR) + "/" + schema.name + ".capnp.h").empty());
    const std::string golden = read_file(std::string(ABI_GOLDEN_DIR) + "/" + schema.name + ".capnp.h");
    INFO("abi/golden/" << schema.name << ".capnp.h is missing or has no shape block: run "
                          "`ninja -C <build> abi-update-goldens` and review it");
    CHECK(golden.find("// @shape file abi/" + schema.path + "\n") != std::string::npos);
    for (uint64_t id : abitest::structs_of(schema.path)) {
      INFO("struct " << abitest::struct_schema(id).getProto().getDisplayName().cStr() << " has no round-trip shim");
      CHECK(shimmed.count(id) == 1);
    }
  }
  // No golden without its schema (a schema dropped from abi_schemas must drop its golden).
  for (const auto& entry : std::filesystem::directory_iterator(ABI_GOLDEN_DIR)) {
    const std::string file = entry.path().filename().string();
    INFO("abi/golden/" << file << " belongs to no schema of abi_schemas");
    CHECK(names.count(file.substr(0, file.find(".capnp.h"))) == 1);
  }
}

namespace {

// A copy of the schemas under abi/ in a temporary directory, to change one and compare it with
// the goldens.
struct SchemaCopy {
  std::string dir = temp_dir();
  std::string out = temp_dir();

  SchemaCopy() {
    std::filesystem::create_directories(dir + "/test");
    for (const auto& schema : abitest::all_schemas()) {
      std::filesystem::copy_file(std::string(ABI_SOURCE_DIR) + "/" + schema.path, dir + "/" + schema.path);
    }
  }
  // Replaces `from` (which must occur) by `to` in schema `path`.
  void edit(const std::string& path, const std::string& from, const std::string& to) {
    std::string text = read_file(dir + "/" + path);
    const size_t at = text.find(from);
    REQUIRE(at != std::string::npos);
    text.replace(at, from.size(), to);
    std::ofstream(dir + "/" + path, std::ios::binary | std::ios::trunc) << text;
  }
  // Generates schema `name` and runs the compatibility check against abi/golden/.
  int check(const std::string& name, const std::string& path, std::string* output) {
    std::string generated;
    const int status = run(std::string("TESSERA_ABI_SRCDIR=") + dir + " " + CAPNP_PROGRAM + " compile --src-prefix=" +
                               dir + " -o" + ABI_PLUGIN + ":" + out + " " + dir + "/" + path, &generated);
    INFO(generated);
    REQUIRE(status == 0);
    return run(std::string(PYTHON_PROGRAM) + " " + SOURCE_ROOT + "/abi/check_compat.py " + ABI_GOLDEN_DIR + " " + out +
                   " " + name, output);
  }
};

}  // namespace

TEST_CASE("the compatibility check passes the schemas as they are and appended members", "[abi][compat]") {
  SchemaCopy copy;
  std::string output;
  CHECK(copy.check("kv", "kv.capnp", &output) == 0);
  INFO(output);
  copy.edit("kv.capnp", "  watch @3", "  list @4 (prefix :Text) -> (keys :List(Text));\n  watch @3");
  copy.edit("test/features.capnp", "  other @12 :Bool;", "  other @12 :Bool;\n  extra @13 :UInt64;");
  output.clear();
  CHECK(copy.check("kv", "kv.capnp", &output) == 0);
  output.clear();
  CHECK(copy.check("features", "test/features.capnp", &output) == 0);
}

TEST_CASE("the compatibility check rejects breaking changes, naming schema, type and member", "[abi][compat]") {
  struct Case {
    const char* name;
    const char* path;
    const char* from;
    const char* to;
    std::vector<std::string> messages;
  };
  const Case cases[] = {
      {"kv", "kv.capnp", "get @1 (key :Text) -> (found :Bool, value :Data);\n", "get @2 (key :Text) -> (found :Bool, value :Data);\n",
       {"abi/kv.capnp: breaking: interface Store: method get: ordinal changed @1 -> @2",
        "abi/kv.capnp: breaking: interface Store: method delete: ordinal changed @2 -> @1"}},
      {"features", "test/features.capnp", "  x @0 :Int32;\n  y @1 :Int32;\n  label", "  x @0 :Int64;\n  y @1 :Int32;\n  label",
       {"abi/test/features.capnp: breaking: struct Point: field x: type changed Int32 -> Int64"}},
      {"features", "test/features.capnp", "  other @12 :Bool;\n", "",
       {"abi/test/features.capnp: breaking: struct Scalars: field other: removed"}},
      {"kv", "kv.capnp", "interface Store @0x99db401a0856390e", "interface Store @0x99db401a0856390f",
       {"abi/kv.capnp: breaking: interface Store: id changed 0x99db401a0856390e -> 0x99db401a0856390f"}},
      {"features", "test/features.capnp", "count @1 :UInt32 = 7;", "count @1 :UInt32 = 8;",
       {"struct Defaults: field count: default changed"}},
  };
  for (const auto& c : cases) {
    INFO(c.path << ": '" << c.from << "' -> '" << c.to << "'");
    SchemaCopy copy;
    if (std::string(c.name) == "kv" && std::string(c.from).rfind("get @1", 0) == 0) {
      copy.edit(c.path, "delete @2 (key :Text)", "delete @1 (key :Text)");  // swap get and delete
    }
    copy.edit(c.path, c.from, c.to);
    std::string output;
    const int status = copy.check(c.name, c.path, &output);
    INFO(output);
    CHECK(status != 0);
    for (const auto& message : c.messages) CHECK(output.find(message) != std::string::npos);
  }
}

TEST_CASE("capnp decode prints a message the freestanding builder wrote", "[abi][tools]") {
  using namespace tessera::abitest;  // NOLINT: test file
  tessera::capnp::Word buffer[64];
  tessera::capnp::MessageBuilder builder(buffer, 64);
  auto shape = builder.init_root_as<Shape>();
  shape.set_id(3);
  auto polygon = shape.init_polygon(2);
  polygon[0].set_x(1);
  polygon[1].set_label("b");
  shape.style().set_solid(Color::Green);
  const uint32_t words = builder.finish().value();

  const std::string dir = temp_dir();
  const std::string message = dir + "/shape.bin";
  {
    std::ofstream out(message, std::ios::binary);
    out.write(reinterpret_cast<const char*>(buffer), words * 8);
  }
  std::string output;
  const int status = run(std::string(CAPNP_PROGRAM) + " decode --flat --short " + ABI_SOURCE_DIR +
                             "/test/features.capnp Shape < " + message, &output);
  CHECK(status == 0);
  CHECK(output == "(id = 3, polygon = [(x = 1, y = 0), (x = 0, y = 0, label = \"b\")], "
                  "style = (solid = green), position = (x = 0, y = 0))\n");
}

TEST_CASE("scripts/capnp-decode decodes a message carrying capabilities", "[abi][tools]") {
  using namespace tessera::abitest;  // NOLINT: test file
  tessera::capnp::Word buffer[64];
  uint64_t caps[3] = {};
  tessera::capnp::MessageBuilder builder(buffer, 64, caps, 3);
  auto root = builder.init_root_as<Everything>();
  root.set_name("watched");
  root.set_service(tessera::capnp::CapRef{0x55});
  root.init_nested().set_any_cap(tessera::capnp::CapRef{0x66});
  const uint32_t words = builder.finish().value();
  const std::string message = temp_dir() + "/everything.bin";
  std::ofstream(message, std::ios::binary).write(reinterpret_cast<const char*>(buffer), words * 8);

  // Stock capnp decode cannot read capability pointers.
  std::string output;
  CHECK(run(std::string(CAPNP_PROGRAM) + " decode --flat " + ABI_SOURCE_DIR + "/test/features.capnp Everything < " +
                message, &output) != 0);
  output.clear();
  const int status = run(std::string(PYTHON_PROGRAM) + " " + SOURCE_ROOT + "/scripts/capnp-decode --short " +
                             ABI_SOURCE_DIR + "/test/features.capnp Everything " + message, &output);
  INFO(output);
  CHECK(status == 0);
  CHECK(output.find("name = \"watched\"") != std::string::npos);
  CHECK(output.find("capability: root.ptr[18] (word ") != std::string::npos);
  CHECK(output.find(") -> cap table index 0\n") != std::string::npos);
  CHECK(output.find("capability: root.ptr[16].ptr[19] (word ") != std::string::npos);
  CHECK(output.find(") -> cap table index 1\n") != std::string::npos);
  output.clear();
  CHECK(run(std::string(PYTHON_PROGRAM) + " " + SOURCE_ROOT + "/scripts/capnp-decode --help", &output) == 0);
  CHECK(output.find("Usage: scripts/capnp-decode") != std::string::npos);
}

TEST_CASE("the plugin rejects unsupported schemas, naming the line from the repository root", "[abi][plugin]") {
  struct Case {
    const char* file;
    const char* location;
    const char* message;
  };
  const Case cases[] = {
      {"generic.capnp", "tests/host/abi/bad/generic.capnp:5: error:", "is generic"},
      {"any_pointer.capnp", "tests/host/abi/bad/any_pointer.capnp:7: error:", "AnyPointer"},
      {"too_many_caps.capnp", "tests/host/abi/bad/too_many_caps.capnp:7: error:", "carry 4 capabilities"},
      {"list_of_lists.capnp", "tests/host/abi/bad/list_of_lists.capnp:6: error:", "list of lists"},
      {"kernel_not_flat.capnp", "tests/host/abi/bad/kernel_not_flat.capnp:7: error:", "is not flat"},
      {"struct_default.capnp", "tests/host/abi/bad/struct_default.capnp:10: error:", "has a default value"},
      {"method_with.capnp", "tests/host/abi/bad/method_with.capnp:7: error:",
       "method 'getWith' of Getter generates Client::get_with(), which method 'get' generates too; rename"},
      {"field_has.capnp", "tests/host/abi/bad/field_has.capnp:7: error:",
       "field 'hasKey' of Entry generates has_key(), which field 'key' generates too; rename"},
  };
  const std::string out_dir = temp_dir();
  for (const auto& c : cases) {
    INFO(c.file);
    std::string output;
    // From another working directory and with the schemas' directory only: the plugin finds the
    // repository root by itself.
    const int status = run(std::string("cd /tmp && TESSERA_ABI_SRCDIR=") + ABI_BAD_SCHEMA_DIR + " " + CAPNP_PROGRAM +
                               " compile -I" + ABI_SOURCE_DIR + " --src-prefix=" + ABI_BAD_SCHEMA_DIR +
                               " -o" + ABI_PLUGIN + ":" + out_dir + " " + ABI_BAD_SCHEMA_DIR + "/" + c.file,
                           &output);
    INFO(output);
    CHECK(status != 0);
    CHECK(output.find(std::string("tessera-capnpc: ") + c.location) != std::string::npos);
    CHECK(output.find(c.message) != std::string::npos);
  }
  // A supported schema passes.
  std::string output;
  CHECK(run(std::string(CAPNP_PROGRAM) + " compile --src-prefix=" + ABI_SOURCE_DIR + " -o" + ABI_PLUGIN + ":" +
                out_dir + " " + ABI_SOURCE_DIR + "/test/features.capnp", &output) == 0);
}

TEST_CASE("generated names never collide: methods label, dispatch, call, fields raw and which compile", "[abi][plugin]") {
  const std::string out_dir = temp_dir();
  std::string output;
  REQUIRE(run(std::string("TESSERA_ABI_SRCDIR=") + ABI_BAD_SCHEMA_DIR + " " + CAPNP_PROGRAM + " compile -I" +
                  ABI_SOURCE_DIR + " --src-prefix=" + ABI_BAD_SCHEMA_DIR + " -o" + ABI_PLUGIN + ":" + out_dir + " " +
                  ABI_BAD_SCHEMA_DIR + "/generated_names.capnp", &output) == 0);
  // A client, a server with every method, and the struct accessors, compiled as a user would.
  const char* body = R"(template class names::Clash::Client<Transport>;
using names::Clash;
struct Impl : Clash::Server<Impl> {
  tessera::Result<void> label(Clash::LabelParams::Reader p, Clash::LabelResults::Builder r) {
    r.set_raw_(p.raw_());
    return {};
  }
  tessera::Result<void> dispatch_(Clash::DispatchParams::Reader, Clash::DispatchResults::Builder) { return {}; }
  tessera::Result<void> call(Clash::CallParams::Reader, Clash::CallResults::Builder) { return {}; }
  tessera::Result<void> method_of(Clash::MethodOfParams::Reader, Clash::MethodOfResults::Builder) { return {}; }
};
tessera::capnp::Reply serve(Impl& impl, const tessera::capnp::Request& r, const tessera::capnp::ReplyBuffer& b) {
  return impl.dispatch(r, b);
}
uint64_t use(names::Holder::Reader h, names::Holder::Builder b, Transport& t) {
  b.set_raw_(1);
  b.set_which_("x");
  b.set_label(2);
  b.set_dispatch();
  Clash::Client<Transport> client(t, 1);
  (void)client.label(3);
  (void)client.dispatch_("w");
  return h.raw_() + h.raw().read<uint8_t>(0) + h.is_label() + Clash::label(Clash::Method::Label);
}
)";
  output.clear();
  const int status = compile_use(out_dir, "generated_names.capnp.h", body, &output);
  INFO(output);
  CHECK(status == 0);
}

// Issue 18: a flat stub hands call_raw_ its message info as it is (no range check there), so the
// generator makes one only for parameters whose fixed part fits the message words; others keep
// just the builder form (which reports RangeError). Both transports compile: with call_info (the
// info word as it is, libsys's) and with call only.
TEST_CASE("no flat stub for parameters past the message words; call_info is optional", "[abi][plugin]") {
  const std::string dir = temp_dir();
  const std::string out_dir = temp_dir();
  {
    std::ofstream schema(dir + "/wide.capnp");
    schema << "@0xd1a7c5f3b2e4a691;\nusing Abi = import \"/base.capnp\";\n$Abi.namespace(\"wide\");\n"
           << "interface Wide @0xe2b8d6a4c3f5b7a2 {\n  wide @0 (";
    for (int i = 0; i < 120; ++i) schema << (i ? ", " : "") << "f" << i << " :UInt64";  // 1 + 120 words
    schema << ") -> ();\n  narrow @1 (";
    for (int i = 0; i < 119; ++i) schema << (i ? ", " : "") << "f" << i << " :UInt64";  // 1 + 119: fits
    schema << ") -> ();\n}\n";
  }
  std::string output;
  REQUIRE(run(std::string("TESSERA_ABI_SRCDIR=") + dir + " " + CAPNP_PROGRAM + " compile -I" + ABI_SOURCE_DIR +
                  " --src-prefix=" + dir + " -o" + ABI_PLUGIN + ":" + out_dir + " " + dir + "/wide.capnp",
              &output) == 0);
  std::ifstream header_file(out_dir + "/wide.capnp.h");
  const std::string header((std::istreambuf_iterator<char>(header_file)), std::istreambuf_iterator<char>());
  CHECK(header.find("::tessera::Result<void> narrow(uint64_t f0") != std::string::npos);
  CHECK(header.find("::tessera::Result<void> wide(uint64_t f0") == std::string::npos);
  CHECK(header.find("wide_with(Fill&& fill)") != std::string::npos);
  output.clear();
  const int status = compile_use(out_dir, "wide.capnp.h",
                                 "template class wide::Wide::Client<Transport>;\n"
                                 "template class wide::Wide::Client<TransportWithInfo>;\n",
                                 &output);
  INFO(output);
  CHECK(status == 0);
}
