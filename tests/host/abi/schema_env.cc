// Loads the abi/ schemas with libcapnp's SchemaParser and gathers the generated shims.
#include "schema_env.h"

#include <capnp/schema-parser.h>
#include <kj/filesystem.h>

#include "abi_schema_index.h"  // generated from abi_schemas in abi/meson.build

#include <map>

namespace abitest {
namespace {

void walk_struct(capnp::StructSchema schema, std::map<uint64_t, capnp::StructSchema>* out) {
  (*out)[schema.getProto().getId()] = schema;
  for (auto field : schema.getFields()) {
    if (field.getProto().isGroup()) walk_struct(field.getType().asStruct(), out);
  }
}

// Every struct reachable from `parsed`: nested declarations, groups and method params/results.
void walk(capnp::ParsedSchema parsed, std::map<uint64_t, capnp::StructSchema>* out) {
  const auto proto = parsed.getProto();
  if (proto.isStruct()) walk_struct(parsed.asStruct(), out);
  if (proto.isInterface()) {
    for (auto method : parsed.asInterface().getMethods()) {
      walk_struct(method.getParamType(), out);
      walk_struct(method.getResultType(), out);
    }
  }
  for (auto nested : proto.getNestedNodes()) walk(parsed.getNested(nested.getName()), out);
}

struct Parsed {
  kj::Own<kj::Filesystem> filesystem = kj::newDiskFilesystem();
  capnp::SchemaParser parser;
  std::map<std::string, capnp::ParsedSchema> files;
  std::map<uint64_t, capnp::StructSchema> structs;

  Parsed() {
    const auto& root = filesystem->getRoot();
    auto abi_dir = kj::Path::parse(&ABI_SOURCE_DIR[1]);  // drop the leading '/'
    const kj::ReadableDirectory* imports[] = {&root};
    for (const auto& schema : kSchemaFiles) {
      const char* file = schema.path;
      files.emplace(file, parser.parseFromDirectory(root, abi_dir.append(kj::Path::parse(file)),
                                                    kj::arrayPtr(imports, 1)));
    }
    for (auto& [name, file] : files) walk(file, &structs);
  }
};

Parsed& parsed() {
  static Parsed instance;
  return instance;
}

}  // namespace

const std::vector<ShimEntry>& all_entries() {
  static const std::vector<ShimEntry> entries = [] {
    std::vector<ShimEntry> out;
    for (const auto& schema : kSchemaFiles) {
      for (unsigned i = 0; i < schema.shims->count; ++i) {
        const auto& e = schema.shims->entries[i];
        out.push_back({schema.name, e.id, e.name, e.build, e.read});
      }
    }
    return out;
  }();
  return entries;
}

std::vector<SchemaInfo> all_schemas() {
  std::vector<SchemaInfo> out;
  for (const auto& schema : kSchemaFiles) out.push_back({schema.name, schema.path});
  return out;
}

std::vector<uint64_t> structs_of(const std::string& file) {
  std::map<uint64_t, capnp::StructSchema> structs;
  walk(parsed().files.at(file), &structs);
  std::vector<uint64_t> out;
  for (const auto& [id, schema] : structs) {
    if (!schema.getProto().getStruct().getIsGroup()) out.push_back(id);
  }
  return out;
}

capnp::StructSchema struct_schema(uint64_t id) {
  return parsed().structs.at(id);
}

capnp::StructSchema struct_schema(const std::string& file, const std::string& name) {
  return parsed().files.at(file).getNested(name).getProto().getId() != 0
             ? parsed().files.at(file).getNested(name).asStruct()
             : capnp::StructSchema();
}

capnp::EnumSchema enum_schema(const std::string& file, const std::string& name) {
  return parsed().files.at(file).getNested(name).asEnum();
}

std::vector<uint8_t> bytes_of(const tessera::capnp::Word* words, uint32_t count) {
  const auto* bytes = reinterpret_cast<const uint8_t*>(words);
  return std::vector<uint8_t>(bytes, bytes + count * 8u);
}

std::string text_of(capnp::DynamicStruct::Reader reader) { return kj::str(reader).cStr(); }

}  // namespace abitest
