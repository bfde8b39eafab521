// Struct readers and builders: shells (ids, section sizes, union tags), classes with inline
// data accessors, then the pointer accessors defined once every type is complete.
#include <cstring>

#include "emit.h"

namespace abigen {

using capnp::schema::Type;

std::string hex(uint64_t value) {
  std::ostringstream s;
  s << "0x" << std::hex << value << "ull";
  return s.str();
}

std::string c_string(const std::string& bytes) {
  std::ostringstream s;
  s << '"';
  for (unsigned char c : bytes) {
    if (c == '"' || c == '\\') s << '\\' << c;
    else if (c >= 0x20 && c < 0x7f) s << c;
    else s << "\\" << std::oct << static_cast<int>(c) / 64 << (static_cast<int>(c) / 8) % 8 << c % 8 << std::dec;
  }
  s << '"';
  return s.str();
}

std::string mask_argument(const Model& model, const FieldInfo& f) {
  auto v = f.field.getProto().getSlot().getDefaultValue();
  uint64_t bits = 0;
  switch (f.type.which()) {
    case Type::BOOL: return v.getBool() ? ", true" : "";
    case Type::INT8: bits = static_cast<uint8_t>(v.getInt8()); break;
    case Type::INT16: bits = static_cast<uint16_t>(v.getInt16()); break;
    case Type::INT32: bits = static_cast<uint32_t>(v.getInt32()); break;
    case Type::INT64: bits = static_cast<uint64_t>(v.getInt64()); break;
    case Type::UINT8: bits = v.getUint8(); break;
    case Type::UINT16: bits = v.getUint16(); break;
    case Type::UINT32: bits = v.getUint32(); break;
    case Type::UINT64: bits = v.getUint64(); break;
    case Type::FLOAT32: {
      const float value = v.getFloat32();
      uint32_t raw;
      std::memcpy(&raw, &value, 4);
      return raw == 0 ? "" : ", __builtin_bit_cast(float, " + std::to_string(raw) + "u)";
    }
    case Type::FLOAT64: {
      const double value = v.getFloat64();
      std::memcpy(&bits, &value, 8);
      return bits == 0 ? "" : ", __builtin_bit_cast(double, " + hex(bits) + ")";
    }
    case Type::ENUM: bits = v.getEnum(); return bits == 0 ? "" : ", static_cast<uint16_t>(" + std::to_string(bits) + ")";
    default: return "";
  }
  return bits == 0 ? "" : ", static_cast<" + model.cpp_type(f.type) + ">(" + hex(bits) + ")";
}

namespace {

const char* element_size(capnp::Type element) {
  switch (element.which()) {
    case Type::BOOL: return "Bit";
    case Type::INT8: case Type::UINT8: return "Byte";
    case Type::INT16: case Type::UINT16: case Type::ENUM: return "TwoBytes";
    case Type::INT32: case Type::UINT32: case Type::FLOAT32: return "FourBytes";
    case Type::INT64: case Type::UINT64: case Type::FLOAT64: return "EightBytes";
    default: return "Pointer";
  }
}

std::string group_id_name(const Model& model, const FieldInfo& f) {
  return model.qualified(f.field.getProto().getGroup().getTypeId());
}

std::string struct_name(const Model& model, capnp::Type type) {
  return model.qualified(type.asStruct().getProto().getId());
}

// Statements that reset every slot of group `group` (nested groups and union tags included) to
// its default, as libcapnp's initGroup does: data zeroed, pointers cleared (and their objects
// zeroed). Used by init_<group>() of a group inside a union.
void emit_group_clear(const Model& model, capnp::StructSchema group, std::ostream& out) {
  const auto s = group.getProto().getStruct();
  if (s.getDiscriminantCount() > 0) out << "  view_.write<uint16_t>(" << s.getDiscriminantOffset() << ", 0);\n";
  for (const auto& f : model.fields(group)) {
    const std::string off = std::to_string(f.offset);
    switch (f.kind) {
      case Kind::Void: break;
      case Kind::Bool: out << "  view_.write_bool(" << off << ", false);\n"; break;
      case Kind::Int: case Kind::Float:
        out << "  view_.write<" << model.cpp_type(f.type) << ">(" << off << ", 0);\n";
        break;
      case Kind::Enum: out << "  view_.write<uint16_t>(" << off << ", 0);\n"; break;
      case Kind::Text: case Kind::Data: case Kind::Struct: case Kind::List: case Kind::Cap:
        out << "  view_.clear_pointer(" << off << ");\n";
        break;
      case Kind::Group:
        emit_group_clear(model, model.get(f.field.getProto().getGroup().getTypeId()).asStruct(), out);
        break;
    }
  }
}

}  // namespace

unsigned scalar_bits(capnp::Type type) {
  switch (type.which()) {
    case Type::BOOL: return 1;
    case Type::INT8: case Type::UINT8: return 8;
    case Type::INT16: case Type::UINT16: case Type::ENUM: return 16;
    case Type::INT32: case Type::UINT32: case Type::FLOAT32: return 32;
    case Type::INT64: case Type::UINT64: case Type::FLOAT64: return 64;
    default: return 0;
  }
}

std::string list_reader_type(const Model& model, capnp::Type element) {
  if (element.isText()) return "::tessera::capnp::TextList";
  if (element.isData()) return "::tessera::capnp::DataList";
  if (element.isStruct()) return "::tessera::capnp::StructList<" + struct_name(model, element) + "::Reader>";
  return "::tessera::capnp::PrimitiveList<" + model.cpp_type(element) + ">";
}

std::string list_builder_type(const Model& model, capnp::Type element) {
  if (element.isText()) return "::tessera::capnp::TextListBuilder";
  if (element.isData()) return "::tessera::capnp::DataListBuilder";
  if (element.isStruct()) return "::tessera::capnp::StructListBuilder<" + struct_name(model, element) + "::Builder>";
  return "::tessera::capnp::PrimitiveListBuilder<" + model.cpp_type(element) + ">";
}

void emit_struct_shells(const Model& model, uint64_t file, std::ostream& out) {
  for (uint64_t id : model.structs_in(file)) out << "struct " << model.flat_name(id) << ";\n";
  out << "\n";
  for (uint64_t id : model.structs_in(file)) {
    const auto schema = model.get(id).asStruct();
    const auto s = schema.getProto().getStruct();
    out << "struct " << model.flat_name(id) << " {\n";
    out << "  static constexpr uint64_t kId = " << hex(id) << ";\n";
    out << "  static constexpr uint16_t kDataWords = " << s.getDataWordCount() << ";\n";
    out << "  static constexpr uint16_t kPointerCount = " << s.getPointerCount() << ";\n";
    if (s.getDiscriminantCount() > 0) {
      out << "  // The active member of the union (a hostile message may hold any value).\n";
      out << "  enum class Which : uint16_t {";
      bool first = true;
      for (const auto& f : model.fields(schema)) {
        if (!f.in_union) continue;
        out << (first ? " " : ", ") << pascal_case(f.schema_name) << " = " << f.discriminant;
        first = false;
      }
      out << " };\n";
    }
    for (const auto& f : model.fields(schema)) {
      if (f.kind == Kind::Group) out << "  using " << pascal_case(f.schema_name) << " = " << group_id_name(model, f) << ";\n";
    }
    for (auto nested : schema.getProto().getNestedNodes()) {
      const auto kind = model.node(nested.getId()).which();
      if (kind != capnp::schema::Node::STRUCT && kind != capnp::schema::Node::ENUM) continue;
      out << "  using " << nested.getName().cStr() << " = " << model.qualified(nested.getId()) << ";\n";
    }
    out << "  class Reader;\n  class Builder;\n};\n\n";
  }
}

void emit_struct_classes(const Model& model, uint64_t file, std::ostream& out) {
  for (uint64_t id : model.structs_in(file)) {
    const auto schema = model.get(id).asStruct();
    const auto s = schema.getProto().getStruct();
    const std::string name = model.flat_name(id);
    const std::string disc = std::to_string(s.getDiscriminantOffset());
    const auto fields = model.fields(schema);

    out << "// Read-only view of a " << name << "; pointer fields are checked when followed.\n";
    out << "class " << name << "::Reader {\n public:\n";
    out << "  Reader() = default;\n";
    out << "  explicit Reader(::tessera::capnp::StructReader raw) : view_(raw) {}\n";
    out << "  const ::tessera::capnp::StructReader& raw() const { return view_; }\n";
    if (s.getDiscriminantCount() > 0) {
      out << "  Which which() const { return static_cast<Which>(view_.read<uint16_t>(" << disc << ")); }\n";
    }
    for (const auto& f : fields) {
      const std::string off = std::to_string(f.offset);
      if (f.in_union) {
        out << "  bool is_" << f.name << "() const { return view_.read<uint16_t>(" << disc
            << ") == " << f.discriminant << "; }\n";
      }
      switch (f.kind) {
        case Kind::Void: break;
        case Kind::Bool:
          out << "  bool " << f.name << "() const { return view_.read_bool(" << off << mask_argument(model, f) << "); }\n";
          break;
        case Kind::Int: case Kind::Float:
          out << "  " << model.cpp_type(f.type) << " " << f.name << "() const { return view_.read<"
              << model.cpp_type(f.type) << ">(" << off << mask_argument(model, f) << "); }\n";
          break;
        case Kind::Enum:
          out << "  " << model.cpp_type(f.type) << " " << f.name << "() const { return static_cast<"
              << model.cpp_type(f.type) << ">(view_.read<uint16_t>(" << off << mask_argument(model, f) << ")); }\n";
          break;
        case Kind::Text: case Kind::Data: case Kind::Struct: case Kind::List:
          out << "  bool has_" << f.name << "() const { return view_.has_pointer(" << off << "); }\n";
          if (f.kind == Kind::Text) out << "  ::tessera::Result<::tessera::capnp::Text> " << f.name << "() const;\n";
          if (f.kind == Kind::Data) out << "  ::tessera::Result<::tessera::capnp::Data> " << f.name << "() const;\n";
          if (f.kind == Kind::Struct) out << "  ::tessera::Result<" << struct_name(model, f.type) << "::Reader> " << f.name << "() const;\n";
          if (f.kind == Kind::List) {
            out << "  ::tessera::Result<" << list_reader_type(model, f.type.asList().getElementType()) << "> " << f.name << "() const;\n";
          }
          break;
        case Kind::Cap:
          out << "  bool has_" << f.name << "() const { return view_.has_pointer(" << off << "); }\n";
          out << "  ::tessera::Result<::tessera::capnp::CapIndex> " << f.name
              << "() const { return view_.read_capability(" << off << "); }\n";
          break;
        case Kind::Group:
          out << "  " << group_id_name(model, f) << "::Reader " << f.name << "() const;\n";
          break;
      }
    }
    out << "\n private:\n  ::tessera::capnp::StructReader view_;\n};\n\n";

    out << "// Writer for a " << name << " inside a MessageBuilder (errors are sticky there).\n";
    out << "class " << name << "::Builder {\n public:\n";
    out << "  Builder() = default;\n";
    out << "  explicit Builder(::tessera::capnp::StructBuilder raw) : view_(raw) {}\n";
    out << "  ::tessera::capnp::StructBuilder& raw() { return view_; }\n";
    if (s.getDiscriminantCount() > 0) {
      out << "  Which which() const { return static_cast<Which>(view_.read<uint16_t>(" << disc << ")); }\n";
    }
    for (const auto& f : fields) {
      const std::string off = std::to_string(f.offset);
      const std::string tag = f.in_union ? "view_.write<uint16_t>(" + disc + ", " + std::to_string(f.discriminant) + "); " : "";
      switch (f.kind) {
        case Kind::Void:
          if (f.in_union) out << "  void set_" << f.name << "() { " << tag << "}\n";
          break;
        case Kind::Bool:
          out << "  void set_" << f.name << "(bool value) { " << tag << "view_.write_bool(" << off << ", value" << mask_argument(model, f) << "); }\n";
          break;
        case Kind::Int: case Kind::Float:
          out << "  void set_" << f.name << "(" << model.cpp_type(f.type) << " value) { " << tag << "view_.write<"
              << model.cpp_type(f.type) << ">(" << off << ", value" << mask_argument(model, f) << "); }\n";
          break;
        case Kind::Enum:
          out << "  void set_" << f.name << "(" << model.cpp_type(f.type) << " value) { " << tag
              << "view_.write<uint16_t>(" << off << ", static_cast<uint16_t>(value)" << mask_argument(model, f) << "); }\n";
          break;
        case Kind::Text:
          out << "  __attribute__((always_inline)) void set_" << f.name << "(::tessera::capnp::Text value) { " << tag << "view_.write_text(" << off << ", value); }\n";
          break;
        case Kind::Data:
          out << "  __attribute__((always_inline)) void set_" << f.name << "(::tessera::capnp::Data value) { " << tag << "view_.write_data(" << off << ", value); }\n";
          break;
        case Kind::Struct:
          out << "  " << struct_name(model, f.type) << "::Builder init_" << f.name << "();\n";
          break;
        case Kind::List:
          out << "  " << list_builder_type(model, f.type.asList().getElementType()) << " init_" << f.name << "(uint32_t count);\n";
          break;
        case Kind::Cap:
          out << "  void set_" << f.name << "(::tessera::capnp::CapRef cap) { " << tag << "view_.write_capability(" << off << ", cap); }\n";
          out << "  void set_" << f.name << "(::tessera::capnp::CapIndex cap) { " << tag << "view_.write_capability_index(" << off << ", cap); }\n";
          break;
        case Kind::Group:
          out << "  " << group_id_name(model, f) << "::Builder " << (f.in_union ? "init_" : "") << f.name << "();\n";
          break;
      }
    }
    out << "\n private:\n  ::tessera::capnp::StructBuilder view_;\n};\n\n";
  }
}

void emit_struct_bodies(const Model& model, uint64_t file, std::ostream& out) {
  for (uint64_t id : model.structs_in(file)) {
    const auto schema = model.get(id).asStruct();
    const std::string q = model.flat_name(id);  // definitions are emitted inside the namespace
    const std::string disc = std::to_string(schema.getProto().getStruct().getDiscriminantOffset());
    for (const auto& f : model.fields(schema)) {
      const std::string off = std::to_string(f.offset);
      const std::string tag = f.in_union ? "  view_.write<uint16_t>(" + disc + ", " + std::to_string(f.discriminant) + ");\n" : "";
      const auto default_value = f.kind == Kind::Group ? capnp::schema::Value::Reader()
                                                       : f.field.getProto().getSlot().getDefaultValue();
      switch (f.kind) {
        case Kind::Text: {
          std::string fallback;
          if (default_value.hasText()) {
            const auto t = default_value.getText();
            fallback = ", ::tessera::capnp::Text(" + c_string(std::string(t.cStr(), t.size())) + ", " + std::to_string(t.size()) + ")";
          }
          out << "inline ::tessera::Result<::tessera::capnp::Text> " << q << "::Reader::" << f.name
              << "() const { return view_.read_text(" << off << fallback << "); }\n";
          break;
        }
        case Kind::Data: {
          out << "inline ::tessera::Result<::tessera::capnp::Data> " << q << "::Reader::" << f.name << "() const {\n";
          if (default_value.hasData() && default_value.getData().size() > 0) {
            out << "  static constexpr uint8_t kDefault[] = {";
            for (size_t i = 0; i < default_value.getData().size(); ++i) {
              out << (i ? ", " : "") << static_cast<int>(default_value.getData()[i]);
            }
            out << "};\n  return view_.read_data(" << off << ", ::tessera::capnp::Data{kDefault, " << default_value.getData().size() << "});\n}\n";
          } else {
            out << "  return view_.read_data(" << off << ");\n}\n";
          }
          break;
        }
        case Kind::Struct: {
          const std::string t = struct_name(model, f.type);
          out << "inline ::tessera::Result<" << t << "::Reader> " << q << "::Reader::" << f.name
              << "() const {\n  return " << t << "::Reader(TRY(view_.read_struct(" << off << ")));\n}\n";
          out << "inline " << t << "::Builder " << q << "::Builder::init_" << f.name << "() {\n" << tag
              << "  return " << t << "::Builder(view_.init_struct(" << off << ", " << t << "::kDataWords, " << t
              << "::kPointerCount));\n}\n";
          break;
        }
        case Kind::List: {
          const auto element = f.type.asList().getElementType();
          const std::string rt = list_reader_type(model, element);
          const std::string bt = list_builder_type(model, element);
          const bool pointers = element.isText() || element.isData();
          out << "inline ::tessera::Result<" << rt << "> " << q << "::Reader::" << f.name << "() const {\n  return "
              << rt << "(TRY(view_.read_list(" << off << ", " << scalar_bits(element) << ", " << (pointers ? 1 : 0) << ")));\n}\n";
          out << "inline " << bt << " " << q << "::Builder::init_" << f.name << "(uint32_t count) {\n" << tag;
          if (element.isStruct()) {
            const std::string t = struct_name(model, element);
            out << "  return " << bt << "(view_.init_struct_list(" << off << ", count, " << t << "::kDataWords, " << t << "::kPointerCount));\n}\n";
          } else {
            out << "  return " << bt << "(view_.init_list(" << off << ", ::tessera::capnp::ElementSize::" << element_size(element) << ", count));\n}\n";
          }
          break;
        }
        case Kind::Group: {
          const std::string t = group_id_name(model, f);
          out << "inline " << t << "::Reader " << q << "::Reader::" << f.name << "() const { return " << t << "::Reader(view_); }\n";
          out << "inline " << t << "::Builder " << q << "::Builder::" << (f.in_union ? "init_" : "") << f.name << "() {\n"
              << tag;
          // Another member of the union may have left bytes in the group's slots.
          if (f.in_union) emit_group_clear(model, model.get(f.field.getProto().getGroup().getTypeId()).asStruct(), out);
          out << "  return " << t << "::Builder(view_);\n}\n";
          break;
        }
        default: break;
      }
    }
  }
}

}  // namespace abigen
