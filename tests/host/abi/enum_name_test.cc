// error_name(Error) and the other generated enum-name functions, checked against libcapnp's view of
// the schemas: every enumerant has its C++ enumerator's name, a value outside the enum a fallback.
#include <catch.hpp>

#include <cctype>
#include <string>

#include <tessera/abi/base.capnp.h>
#include <tessera/abi/features.capnp.h>
#include <tessera/abi/kernel.capnp.h>
#include <tessera/error.h>

#include "schema_env.h"

namespace {

// The C++ enumerator the generator makes of a schema enumerant ("invalidArgument" -> "InvalidArgument").
std::string enumerator_name(capnp::EnumSchema::Enumerant e) {
  std::string name = e.getProto().getName().cStr();
  name[0] = static_cast<char>(std::toupper(static_cast<unsigned char>(name[0])));
  return name;
}

// Usable in constant expressions, so kernel and user code pay nothing at start-up.
static_assert(tessera::error_name(tessera::Error::Ok)[0] == 'O');

}  // namespace

TEST_CASE("error_name names every enumerant of Error in abi/base.capnp", "[abi][enum-name]") {
  const capnp::EnumSchema schema = abitest::enum_schema("base.capnp", "Error");
  const auto enumerants = schema.getEnumerants();
  REQUIRE(enumerants.size() == tessera::kErrorCount);
  for (auto e : enumerants) {
    INFO("enumerant " << e.getProto().getName().cStr() << " @" << e.getOrdinal());
    CHECK(std::string(tessera::error_name(static_cast<tessera::Error>(e.getOrdinal()))) == enumerator_name(e));
  }
}

TEST_CASE("error_name of a value outside Error is a fallback", "[abi][enum-name]") {
  CHECK(std::string(tessera::error_name(static_cast<tessera::Error>(tessera::kErrorCount))) == "(unknown Error)");
  CHECK(std::string(tessera::error_name(static_cast<tessera::Error>(0xffff))) == "(unknown Error)");
}

TEST_CASE("every enum gets a name function: ObjectType and the feature schema's Color", "[abi][enum-name]") {
  const auto object_types = abitest::enum_schema("kernel.capnp", "ObjectType").getEnumerants();
  REQUIRE(object_types.size() == tessera::abi::kObjectTypeCount);
  for (auto e : object_types) {
    CHECK(std::string(tessera::abi::object_type_name(static_cast<tessera::abi::ObjectType>(e.getOrdinal()))) ==
          enumerator_name(e));
  }
  CHECK(std::string(tessera::abi::object_type_name(static_cast<tessera::abi::ObjectType>(999))) ==
        "(unknown ObjectType)");
  const auto colors = abitest::enum_schema("test/features.capnp", "Color").getEnumerants();
  for (auto e : colors) {
    CHECK(std::string(tessera::abitest::color_name(static_cast<tessera::abitest::Color>(e.getOrdinal()))) ==
          enumerator_name(e));
  }
}
