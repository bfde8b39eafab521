// The ABI shape block at the end of each generated header: one comment line per enum, struct,
// interface and member with everything the wire depends on (ids, ordinals, types, slot
// locations, union tags, defaults, interface codes). The goldens carry it too, so
// abi/check_compat.py can tell a compatible schema change from a breaking one (docs/abi.md).
#include <cstring>

#include "emit.h"

namespace abigen {

namespace {

using capnp::schema::Type;

std::string type_name(const Model& model, capnp::Type type) {
  switch (type.which()) {
    case Type::VOID: return "Void";
    case Type::BOOL: return "Bool";
    case Type::INT8: return "Int8";
    case Type::INT16: return "Int16";
    case Type::INT32: return "Int32";
    case Type::INT64: return "Int64";
    case Type::UINT8: return "UInt8";
    case Type::UINT16: return "UInt16";
    case Type::UINT32: return "UInt32";
    case Type::UINT64: return "UInt64";
    case Type::FLOAT32: return "Float32";
    case Type::FLOAT64: return "Float64";
    case Type::TEXT: return "Text";
    case Type::DATA: return "Data";
    case Type::ENUM: return "enum:" + model.flat_name(type.asEnum().getProto().getId());
    case Type::STRUCT: return "struct:" + model.flat_name(type.asStruct().getProto().getId());
    case Type::INTERFACE: return "interface:" + model.flat_name(type.asInterface().getProto().getId());
    case Type::LIST: return "List(" + type_name(model, type.asList().getElementType()) + ")";
    case Type::ANY_POINTER: return "Capability";
  }
  return "?";
}


std::string id_of(uint64_t id) {
  std::string h = hex(id);
  return h.substr(0, h.size() - 3);  // without "ull"
}

}  // namespace

void emit_shape(const Model& model, uint64_t file, std::ostream& out) {
  out << "// ABI shape: what the wire depends on, compared with abi/golden/ by abi/check_compat.py\n"
      << "// (docs/abi.md, \"Compatibility\"). One line per declaration and member.\n";
  out << "// @shape file " << model.display_path(file) << "\n";
  for (uint64_t id : model.enums_in(file)) {
    out << "// @shape enum " << model.flat_name(id) << " id=" << id_of(id) << "\n";
    for (auto e : model.get(id).asEnum().getEnumerants()) {
      out << "// @shape   enumerant " << e.getProto().getName().cStr() << " @" << e.getOrdinal() << "\n";
    }
  }
  for (uint64_t id : model.structs_in(file)) {
    const auto schema = model.get(id).asStruct();
    const auto s = schema.getProto().getStruct();
    out << "// @shape struct " << model.flat_name(id) << " id=" << id_of(id) << " data=" << s.getDataWordCount()
        << " pointers=" << s.getPointerCount();
    if (s.getDiscriminantCount() > 0) out << " tag=" << s.getDiscriminantOffset() * 16;
    out << "\n";
    for (const auto& f : model.fields(schema)) {
      const auto proto = f.field.getProto();
      out << "// @shape   field " << f.schema_name << " @"
          << (proto.getOrdinal().isExplicit() ? std::to_string(proto.getOrdinal().getExplicit()) : "-");
      if (f.kind == Kind::Group) {
        out << " group:" << model.flat_name(proto.getGroup().getTypeId());
      } else {
        out << " " << type_name(model, f.type);
        const unsigned bits = scalar_bits(f.type);
        if (bits > 0) out << " at=data:" << static_cast<uint64_t>(f.offset) * bits << "/" << bits;
        else if (f.kind != Kind::Void) out << " at=ptr:" << f.offset;
        const std::string mask = mask_argument(model, f);
        if (!mask.empty()) out << " default=" << mask.substr(2);
      }
      if (f.in_union) out << " union=" << f.discriminant;
      out << "\n";
    }
  }
  for (uint64_t id : model.interfaces_in(file)) {
    const auto iface = model.get(id).asInterface();
    out << "// @shape interface " << model.flat_name(id) << " id=" << id_of(id) << " code=" << model.interface_code(iface)
        << "\n";
    for (auto method : iface.getMethods()) {
      const auto proto = method.getProto();
      out << "// @shape   method " << proto.getName().cStr() << " @" << method.getOrdinal()
          << " params=" << model.flat_name(proto.getParamStructType())
          << " results=" << model.flat_name(proto.getResultStructType()) << "\n";
    }
  }
}

}  // namespace abigen
