// The ABI's tooling contracts: the checked-in goldens match the build's generated headers,
// stock `capnp decode` reads what the freestanding builder wrote, and the plugin rejects
// unsupported schemas with a message naming the schema line.
#include <tessera/abi/features.capnp.h>

#include <catch.hpp>
#include <cstdio>
#include <fstream>
#include <sstream>
#include <string>

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

}  // namespace

TEST_CASE("checked-in goldens match the generated headers", "[abi][golden]") {
  for (const char* name : {"base", "kernel", "features", "bench", "kv"}) {
    INFO(name << ".capnp.h differs from abi/golden: review the change, then run "
              "`ninja -C <build> abi-update-goldens`");
    const std::string generated = read_file(std::string(ABI_GENERATED_DIR) + "/" + name + ".capnp.h");
    const std::string golden = read_file(std::string(ABI_GOLDEN_DIR) + "/" + name + ".capnp.h");
    REQUIRE_FALSE(generated.empty());
    const bool identical = generated == golden;
    CHECK(identical);
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

TEST_CASE("the plugin rejects unsupported schemas, naming the line", "[abi][plugin]") {
  struct Case {
    const char* file;
    const char* location;
    const char* message;
  };
  const Case cases[] = {
      {"generic.capnp", "generic.capnp:5: error:", "is generic"},
      {"any_pointer.capnp", "any_pointer.capnp:7: error:", "AnyPointer"},
      {"too_many_caps.capnp", "too_many_caps.capnp:7: error:", "carry 4 capabilities"},
      {"list_of_lists.capnp", "list_of_lists.capnp:6: error:", "list of lists"},
      {"kernel_not_flat.capnp", "kernel_not_flat.capnp:7: error:", "is not flat"},
      {"struct_default.capnp", "struct_default.capnp:10: error:", "has a default value"},
  };
  const std::string out_dir = temp_dir();
  for (const auto& c : cases) {
    INFO(c.file);
    std::string output;
    const int status = run(std::string("TESSERA_ABI_SRCDIR=") + ABI_BAD_SCHEMA_DIR + " " + CAPNP_PROGRAM +
                               " compile -I" + ABI_SOURCE_DIR + " --src-prefix=" + ABI_BAD_SCHEMA_DIR +
                               " -o" + ABI_PLUGIN + ":" + out_dir + " " + ABI_BAD_SCHEMA_DIR + "/" + c.file,
                           &output);
    CHECK(status != 0);
    CHECK(output.find(c.location) != std::string::npos);
    CHECK(output.find(c.message) != std::string::npos);
  }
  // A supported schema passes.
  std::string output;
  CHECK(run(std::string(CAPNP_PROGRAM) + " compile --src-prefix=" + ABI_SOURCE_DIR + " -o" + ABI_PLUGIN + ":" +
                out_dir + " " + ABI_SOURCE_DIR + "/test/features.capnp", &output) == 0);
}
