// Shared fixtures of the ABI host tests: libcapnp's view of every schema in abi/ (parsed from
// source at run time) and the generated conversion shims of every schema, in one table.
#pragma once

#include <capnp/dynamic.h>
#include <capnp/schema.h>
#include <tessera/capnp/builder.h>
#include <tessera/capnp/reader.h>

#include <cstdint>
#include <string>
#include <vector>

namespace abitest {

// One generated struct with its conversion shims (see abi/generator/emit_dyn.cc).
struct ShimEntry {
  std::string schema;  // "kernel", "features", ...
  uint64_t id;
  std::string name;
  void (*build)(capnp::DynamicStruct::Reader, tessera::capnp::MessageBuilder&);
  bool (*read)(tessera::capnp::MessageReader&, capnp::DynamicStruct::Builder);
};

// Every non-group struct of every schema in abi_schemas (abi/meson.build).
const std::vector<ShimEntry>& all_entries();

// The schemas of abi_schemas (abi/meson.build), passed to the tests by the build.
struct SchemaInfo {
  std::string name;  // "kv"
  std::string path;  // relative to abi/: "kv.capnp"
};
std::vector<SchemaInfo> all_schemas();

// Ids of the non-group structs libcapnp finds in schema `file` (declared, nested and method
// parameters/results), to check each has a generated shim.
std::vector<uint64_t> structs_of(const std::string& file);

// libcapnp's schema for the struct with `id` (parsed from abi/*.capnp once per process).
capnp::StructSchema struct_schema(uint64_t id);
capnp::StructSchema struct_schema(const std::string& file, const std::string& name);
// libcapnp's schema for the top-level enum `name` of `file` ("base.capnp", "Error").
capnp::EnumSchema enum_schema(const std::string& file, const std::string& name);

// A message segment as bytes, for comparisons.
std::vector<uint8_t> bytes_of(const tessera::capnp::Word* words, uint32_t count);

// A libcapnp text rendering of a struct (value equality for tests).
std::string text_of(capnp::DynamicStruct::Reader reader);

}  // namespace abitest
