// The hosted test shim: converts between libcapnp's dynamic values and the generated
// freestanding readers/builders, so tests can compare both implementations on any struct.
#include <cctype>

#include "emit.h"

namespace abigen {

namespace {

std::string element_from_dynamic(const Model& model, capnp::Type element, const std::string& value) {
  if (element.isText()) return "text_of(" + value + ".as<::capnp::Text>())";
  if (element.isData()) return "data_of(" + value + ".as<::capnp::Data>())";
  if (element.isEnum()) return "static_cast<" + model.cpp_type(element) + ">(" + value + ".as<::capnp::DynamicEnum>().getRaw())";
  return value + ".as<" + model.cpp_type(element) + ">()";
}

void emit_from(const Model& model, uint64_t id, std::ostream& out) {
  const auto schema = model.get(id).asStruct();
  out << "inline void from_dynamic([[maybe_unused]] ::capnp::DynamicStruct::Reader in, [[maybe_unused]] "
      << model.qualified(id) << "::Builder out) {\n";
  for (const auto& f : model.fields(schema)) {
    const std::string get = "in.get(\"" + f.schema_name + "\")";
    out << "  " << (f.in_union ? "if (active(in, \"" + f.schema_name + "\")) " : "") << "{\n";
    switch (f.kind) {
      case Kind::Void: if (f.in_union) out << "    out.set_" << f.name << "();\n"; break;
      case Kind::Bool: case Kind::Int: case Kind::Float: case Kind::Enum:
        out << "    out.set_" << f.name << "(" << element_from_dynamic(model, f.type, get) << ");\n";
        break;
      case Kind::Text: case Kind::Data:
        out << "    if (in.has(\"" << f.schema_name << "\")) out.set_" << f.name << "("
            << element_from_dynamic(model, f.type, get) << ");\n";
        break;
      case Kind::Struct:
        out << "    if (in.has(\"" << f.schema_name << "\")) from_dynamic(" << get
            << ".as<::capnp::DynamicStruct>(), out.init_" << f.name << "());\n";
        break;
      case Kind::Group:
        out << "    from_dynamic(" << get << ".as<::capnp::DynamicStruct>(), out." << (f.in_union ? "init_" : "") << f.name << "());\n";
        break;
      case Kind::List: {
        const auto element = f.type.asList().getElementType();
        out << "    if (in.has(\"" << f.schema_name << "\")) {\n"
            << "      auto list = " << get << ".as<::capnp::DynamicList>();\n"
            << "      auto built = out.init_" << f.name << "(list.size());\n"
            << "      for (uint32_t i = 0; i < list.size(); ++i) ";
        if (element.isStruct()) out << "from_dynamic(list[i].as<::capnp::DynamicStruct>(), built[i]);\n";
        else out << "built.set(i, " << element_from_dynamic(model, element, "list[i]") << ");\n";
        out << "    }\n";
        break;
      }
      case Kind::Cap:
        out << "    // Capabilities live in the transport's table; tests check them on raw pointers.\n";
        break;
    }
    out << "  }\n";
  }
  out << "}\n\n";
}

void emit_to(const Model& model, uint64_t id, std::ostream& out) {
  const auto schema = model.get(id).asStruct();
  out << "inline bool to_dynamic([[maybe_unused]] " << model.qualified(id)
      << "::Reader in, [[maybe_unused]] ::capnp::DynamicStruct::Builder out) {\n";
  for (const auto& f : model.fields(schema)) {
    const std::string field = "\"" + f.schema_name + "\"";
    out << "  " << (f.in_union ? "if (in.is_" + f.name + "()) " : "") << "{\n";
    switch (f.kind) {
      case Kind::Void: if (f.in_union) out << "    out.set(" << field << ", ::capnp::VOID);\n"; break;
      case Kind::Bool: case Kind::Int: case Kind::Float:
        out << "    out.set(" << field << ", in." << f.name << "());\n";
        break;
      case Kind::Enum:
        out << "    out.set(" << field << ", ::capnp::DynamicEnum(out.getSchema().getFieldByName(" << field
            << ").getType().asEnum(), static_cast<uint16_t>(in." << f.name << "())));\n";
        break;
      case Kind::Text: case Kind::Data: case Kind::Struct: case Kind::List:
        out << "    if (in.has_" << f.name << "()) {\n      auto value = in." << f.name << "();\n"
            << "      if (!value.ok()) return false;\n";
        if (f.kind == Kind::Text) out << "      out.set(" << field << ", ::capnp::Text::Reader(value.value().data, value.value().size));\n";
        if (f.kind == Kind::Data) out << "      out.set(" << field << ", ::capnp::Data::Reader(value.value().data, value.value().size));\n";
        if (f.kind == Kind::Struct) out << "      if (!to_dynamic(value.value(), out.init(" << field << ").as<::capnp::DynamicStruct>())) return false;\n";
        if (f.kind == Kind::List) {
          const auto element = f.type.asList().getElementType();
          out << "      auto list = value.value();\n"
              << "      auto built = out.init(" << field << ", list.size()).as<::capnp::DynamicList>();\n"
              << "      for (uint32_t i = 0; i < list.size(); ++i) {\n";
          if (element.isStruct()) {
            out << "        if (!to_dynamic(list[i], built[i].as<::capnp::DynamicStruct>())) return false;\n";
          } else if (element.isText() || element.isData()) {
            const char* type = element.isText() ? "Text" : "Data";
            out << "        auto item = list[i];\n        if (!item.ok()) return false;\n"
                << "        built.set(i, ::capnp::" << type << "::Reader(item.value().data, item.value().size));\n";
          } else if (element.isEnum()) {
            out << "        built.set(i, ::capnp::DynamicEnum(built.getSchema().getElementType().asEnum(), static_cast<uint16_t>(list[i])));\n";
          } else {
            out << "        built.set(i, list[i]);\n";
          }
          out << "      }\n";
        }
        out << "    }\n";
        break;
      case Kind::Group:
        out << "    if (!to_dynamic(in." << f.name << "(), out." << (f.in_union ? "init" : "get") << "(" << field
            << ").as<::capnp::DynamicStruct>())) return false;\n";
        break;
      case Kind::Cap:
        out << "    // Capabilities live in the transport's table; tests check them on raw pointers.\n";
        break;
    }
    out << "  }\n";
  }
  out << "  return true;\n}\n\n";
}

}  // namespace

std::string emit_dyn(const Model& model, uint64_t file, const std::string& basename) {
  std::ostringstream out;
  const std::string ns = model.ns_of(file) + "::dyn";
  out << "// Generated by tessera-capnpc from " << basename << ": HOST TEST SUPPORT ONLY (links libcapnp).\n"
      << "// Converts between libcapnp dynamic values and the freestanding readers/builders.\n"
      << "#pragma once\n\n#include <capnp/dynamic.h>\n\n#include <tessera/abi/" << basename << ".h>\n\n"
      << "namespace " << ns << " {\n\n"
      << "[[maybe_unused]] inline bool active(::capnp::DynamicStruct::Reader in, const char* name) {\n"
      << "  KJ_IF_MAYBE(field, in.which()) { return field->getProto().getName() == name; }\n  return false;\n}\n"
      << "[[maybe_unused]] inline ::tessera::capnp::Text text_of(::capnp::Text::Reader t) {\n"
      << "  return ::tessera::capnp::Text(t.cStr(), static_cast<uint32_t>(t.size()));\n}\n"
      << "[[maybe_unused]] inline ::tessera::capnp::Data data_of(::capnp::Data::Reader d) {\n"
      << "  return ::tessera::capnp::Data{d.begin(), static_cast<uint32_t>(d.size())};\n}\n\n";
  const auto structs = model.structs_in(file);
  for (uint64_t id : structs) {
    out << "inline void from_dynamic(::capnp::DynamicStruct::Reader in, " << model.qualified(id) << "::Builder out);\n";
    out << "inline bool to_dynamic(" << model.qualified(id) << "::Reader in, ::capnp::DynamicStruct::Builder out);\n";
  }
  out << "\n";
  for (uint64_t id : structs) {
    emit_from(model, id, out);
    emit_to(model, id, out);
  }
  out << "}  // namespace " << ns << "\n\n";
  // The entry and file types are shared by every shim, so a generated index of all schemas
  // (tests/host/abi/schema_index.py) can list them without knowing their namespaces.
  out << "#ifndef TESSERA_ABI_SHIM_TYPES_\n#define TESSERA_ABI_SHIM_TYPES_\n"
      << "namespace tessera_abi_shims {\n"
      << "// One entry per (non-group) struct: build a root from a dynamic value, read a root into one.\n"
      << "struct Entry {\n  uint64_t id;\n  const char* name;\n"
      << "  void (*build)(::capnp::DynamicStruct::Reader, ::tessera::capnp::MessageBuilder&);\n"
      << "  bool (*read)(::tessera::capnp::MessageReader&, ::capnp::DynamicStruct::Builder);\n};\n"
      << "// The shims of one schema file.\n"
      << "struct File {\n  const char* schema;\n  const Entry* entries;\n  unsigned count;\n};\n"
      << "}  // namespace tessera_abi_shims\n#endif\n\n";
  std::string stem = basename.substr(0, basename.find('.'));
  for (char& c : stem) {
    if (!std::isalnum(static_cast<unsigned char>(c))) c = '_';
  }
  unsigned count = 0;
  for (uint64_t id : structs) count += model.node(id).getStruct().getIsGroup() ? 0 : 1;
  out << "namespace " << ns << " {\n\nusing Entry = ::tessera_abi_shims::Entry;\n\n";
  const std::string file_entry = "namespace tessera_abi_shims {\ninline constexpr File k_" + stem + "{\"" + stem + "\", " +
                                 (count ? "::" + ns + "::kEntries" : std::string("nullptr")) + ", " +
                                 std::to_string(count) + "};\n}  // namespace tessera_abi_shims\n";
  if (count == 0) {
    out << "}  // namespace " << ns << "\n\n" << file_entry;
    return out.str();
  }
  out << "inline const Entry kEntries[] = {\n";
  for (uint64_t id : structs) {
    if (model.node(id).getStruct().getIsGroup()) continue;
    const std::string q = model.qualified(id);
    out << "    {" << hex(id) << ", \"" << model.flat_name(id) << "\",\n"
        << "     [](::capnp::DynamicStruct::Reader in, ::tessera::capnp::MessageBuilder& m) { from_dynamic(in, m.init_root_as<" << q << ">()); },\n"
        << "     [](::tessera::capnp::MessageReader& m, ::capnp::DynamicStruct::Builder out) {\n"
        << "       auto root = m.root_as<" << q << ">();\n       return root.ok() && to_dynamic(root.value(), out);\n     }},\n";
  }
  out << "};\n\n}  // namespace " << ns << "\n\n" << file_entry;
  return out.str();
}

}  // namespace abigen
