// Schema lookup, naming, classification and validation for the Tessera ABI generator.
#include "model.h"

#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <regex>
#include <set>
#include <sstream>

namespace abigen {

using capnp::schema::Node;
using capnp::schema::Type;

namespace {
std::string text(capnp::Text::Reader t) { return std::string(t.cStr(), t.size()); }

bool has_annotation(capnp::List<capnp::schema::Annotation>::Reader list, uint64_t id) {
  for (auto a : list) {
    if (a.getId() == id) return true;
  }
  return false;
}

const char* const kKeywords[] = {
    "alignas", "alignof", "and", "asm", "auto", "bitand", "bitor", "bool", "break", "case",
    "catch", "char", "class", "compl", "concept", "const", "consteval", "constexpr", "continue",
    "decltype", "default", "delete", "do", "double", "else", "enum", "explicit", "export",
    "extern", "false", "float", "for", "friend", "goto", "if", "inline", "int", "long",
    "mutable", "namespace", "new", "noexcept", "not", "nullptr", "operator", "or", "private",
    "protected", "public", "register", "requires", "return", "short", "signed", "sizeof",
    "static", "struct", "switch", "template", "this", "throw", "true", "try", "typedef",
    "typeid", "typename", "union", "unsigned", "using", "virtual", "void", "volatile",
    "while", "xor", "raw", "which"};
}  // namespace

std::string snake_case(const std::string& camel) {
  std::string out;
  for (size_t i = 0; i < camel.size(); ++i) {
    const char c = camel[i];
    if (c >= 'A' && c <= 'Z') {
      const bool prev_lower = i > 0 && !(camel[i - 1] >= 'A' && camel[i - 1] <= 'Z');
      const bool next_lower = i + 1 < camel.size() && camel[i + 1] >= 'a' && camel[i + 1] <= 'z';
      if (i > 0 && (prev_lower || next_lower)) out += '_';
      out += static_cast<char>(c - 'A' + 'a');
    } else {
      out += c;
    }
  }
  return out;
}

std::string pascal_case(const std::string& camel) {
  std::string out = camel;
  if (!out.empty() && out[0] >= 'a' && out[0] <= 'z') out[0] = static_cast<char>(out[0] - 'a' + 'A');
  return out;
}

std::string escape(const std::string& name) {
  for (const char* k : kKeywords) {
    if (name == k) return name + "_";
  }
  return name;
}

std::string method_name(const std::string& camel) {
  const std::string name = escape(snake_case(camel));
  return name == "dispatch" ? name + "_" : name;
}

Model::Model(capnp::schema::CodeGeneratorRequest::Reader request, std::string source_root)
    : source_root_(std::move(source_root)) {
  for (auto node : request.getNodes()) {
    loader_.load(node);
    if (node.isFile()) file_names_[node.getId()] = text(node.getDisplayName());
  }
  for (auto file : request.getRequestedFiles()) {
    requested_.push_back(file.getId());
    file_names_[file.getId()] = text(file.getFilename());
  }
  // The repository root: TESSERA_SOURCE_ROOT (set by the build), else the nearest directory
  // above the schemas' directory holding a .git entry.
  namespace fs = std::filesystem;
  std::error_code error;
  const fs::path schemas = fs::weakly_canonical(fs::absolute(source_root_.empty() ? "." : source_root_, error), error);
  fs::path root;
  if (const char* env = std::getenv("TESSERA_SOURCE_ROOT"); env != nullptr && *env != 0) {
    root = fs::weakly_canonical(env, error);
  } else {
    for (fs::path dir = schemas; !dir.empty(); dir = dir.parent_path()) {
      if (fs::exists(dir / ".git", error)) {
        root = dir;
        break;
      }
      if (dir == dir.parent_path()) break;
    }
  }
  if (!root.empty()) {
    const fs::path relative = schemas.lexically_relative(root);
    if (!relative.empty() && *relative.begin() != "..") {
      display_prefix_ = relative == "." ? "" : relative.generic_string() + "/";
    }
  }
}

std::string Model::display_path(uint64_t file) const {
  const auto it = file_names_.find(file);
  if (it == file_names_.end()) return "<unknown>";
  return it->second.rfind('/', 0) == 0 ? it->second : display_prefix_ + it->second;
}

uint64_t Model::file_of(uint64_t id) const {
  // The display name starts with the file's name; implicit param structs have no scope chain.
  const std::string display = text(node(id).getDisplayName());
  const std::string file = display.substr(0, display.find(':'));
  for (const auto& [file_id, name] : file_names_) {
    if (text(node(file_id).getDisplayName()) == file) return file_id;
  }
  return 0;
}

std::string Model::ns_of(uint64_t id) const {
  const uint64_t file = file_of(id);
  if (file == 0) return "tessera_abi";
  for (auto a : node(file).getAnnotations()) {
    if (a.getId() == kNamespaceAnnotation) return text(a.getValue().getText());
  }
  return "tessera_abi";
}

std::string Model::flat_name(uint64_t id) const {
  const std::string display = text(node(id).getDisplayName());
  std::string path = display.substr(display.find(':') + 1);
  std::string out;
  std::stringstream parts(path);
  std::string part;
  while (std::getline(parts, part, '.')) {
    const size_t dollar = part.find('$');
    std::string piece = dollar == std::string::npos
                            ? pascal_case(part)
                            : pascal_case(part.substr(0, dollar)) + part.substr(dollar + 1);
    out += out.empty() ? piece : "_" + piece;
  }
  return out;
}

std::vector<FieldInfo> Model::fields(capnp::StructSchema schema) const {
  std::vector<FieldInfo> out;
  for (auto field : schema.getFields()) {
    auto proto = field.getProto();
    FieldInfo info{field, escape(snake_case(text(proto.getName()))), text(proto.getName()),
                   Kind::Void, field.getType(), proto.getDiscriminantValue() != 0xffff,
                   proto.getDiscriminantValue(), 0};
    if (proto.isGroup()) {
      info.kind = Kind::Group;
    } else {
      info.offset = proto.getSlot().getOffset();
      switch (info.type.which()) {
        case Type::VOID: info.kind = Kind::Void; break;
        case Type::BOOL: info.kind = Kind::Bool; break;
        case Type::INT8: case Type::INT16: case Type::INT32: case Type::INT64:
        case Type::UINT8: case Type::UINT16: case Type::UINT32: case Type::UINT64:
          info.kind = Kind::Int; break;
        case Type::FLOAT32: case Type::FLOAT64: info.kind = Kind::Float; break;
        case Type::ENUM: info.kind = Kind::Enum; break;
        case Type::TEXT: info.kind = Kind::Text; break;
        case Type::DATA: info.kind = Kind::Data; break;
        case Type::STRUCT: info.kind = Kind::Struct; break;
        case Type::LIST: info.kind = Kind::List; break;
        case Type::INTERFACE: case Type::ANY_POINTER: info.kind = Kind::Cap; break;
      }
    }
    out.push_back(info);
  }
  return out;
}

std::string Model::cpp_type(capnp::Type type) const {
  switch (type.which()) {
    case Type::BOOL: return "bool";
    case Type::INT8: return "int8_t";
    case Type::INT16: return "int16_t";
    case Type::INT32: return "int32_t";
    case Type::INT64: return "int64_t";
    case Type::UINT8: return "uint8_t";
    case Type::UINT16: return "uint16_t";
    case Type::UINT32: return "uint32_t";
    case Type::UINT64: return "uint64_t";
    case Type::FLOAT32: return "float";
    case Type::FLOAT64: return "double";
    case Type::ENUM: return qualified(type.asEnum().getProto().getId());
    default: return "void";
  }
}

bool Model::is_kernel_object(capnp::InterfaceSchema iface) const {
  return has_annotation(iface.getProto().getAnnotations(), kKernelObjectAnnotation);
}

uint32_t Model::interface_code(capnp::InterfaceSchema iface) const {
  for (auto a : iface.getProto().getAnnotations()) {
    if (a.getId() == kInterfaceCodeAnnotation) return a.getValue().getUint32();
  }
  return static_cast<uint32_t>(iface.getProto().getId());
}

void Model::collect(uint64_t id, std::vector<uint64_t>* structs, std::vector<uint64_t>* enums,
                    std::vector<uint64_t>* interfaces, std::vector<uint64_t>* consts) const {
  const auto n = node(id);
  switch (n.which()) {
    case Node::STRUCT: {
      structs->push_back(id);
      for (auto field : n.getStruct().getFields()) {
        if (field.isGroup()) collect(field.getGroup().getTypeId(), structs, enums, interfaces, consts);
      }
      break;
    }
    case Node::ENUM: enums->push_back(id); break;
    case Node::CONST: consts->push_back(id); break;
    case Node::INTERFACE: {
      interfaces->push_back(id);
      for (auto method : n.getInterface().getMethods()) {
        for (uint64_t sid : {method.getParamStructType(), method.getResultStructType()}) {
          // Implicit ("$Params") structs belong to the method; named ones are collected where declared.
          if (node(sid).getScopeId() == 0 && file_of(sid) == file_of(id)) {
            collect(sid, structs, enums, interfaces, consts);
          }
        }
      }
      break;
    }
    default: break;
  }
  for (auto nested : n.getNestedNodes()) collect(nested.getId(), structs, enums, interfaces, consts);
}

std::vector<uint64_t> Model::structs_in(uint64_t file) const {
  std::vector<uint64_t> s, e, i, c;
  for (auto nested : node(file).getNestedNodes()) collect(nested.getId(), &s, &e, &i, &c);
  return s;
}
std::vector<uint64_t> Model::enums_in(uint64_t file) const {
  std::vector<uint64_t> s, e, i, c;
  for (auto nested : node(file).getNestedNodes()) collect(nested.getId(), &s, &e, &i, &c);
  return e;
}
std::vector<uint64_t> Model::interfaces_in(uint64_t file) const {
  std::vector<uint64_t> s, e, i, c;
  for (auto nested : node(file).getNestedNodes()) collect(nested.getId(), &s, &e, &i, &c);
  return i;
}
std::vector<uint64_t> Model::consts_in(uint64_t file) const {
  std::vector<uint64_t> s, e, i, c;
  for (auto nested : node(file).getNestedNodes()) collect(nested.getId(), &s, &e, &i, &c);
  return c;
}

std::string Model::where(uint64_t node_id, const std::string& member, int ordinal) const {
  const uint64_t file = file_of(node_id);
  const std::string file_name = file_names_.count(file) ? file_names_.at(file) : "<unknown>";
  const std::string path = display_path(file);
  std::ifstream in(source_root_.empty() ? file_name : source_root_ + "/" + file_name);
  std::regex pattern;
  if (!member.empty() && ordinal >= 0) {
    pattern = std::regex("\\b" + member + "\\s*@" + std::to_string(ordinal) + "\\b");
  } else if (!member.empty()) {
    pattern = std::regex("\\b" + member + "\\s*:");
  } else {
    const std::string display = text(node(node_id).getDisplayName());
    const std::string scoped = display.substr(display.find(':') + 1);
    const std::string name = scoped.substr(scoped.rfind('.') == std::string::npos ? 0 : scoped.rfind('.') + 1);
    pattern = std::regex("\\b(struct|interface|enum|const)\\s+" + name + "\\b");
  }
  std::string line;
  for (int number = 1; std::getline(in, line); ++number) {
    if (std::regex_search(line, pattern)) return path + ":" + std::to_string(number);
  }
  return path;
}

int Model::cap_count(capnp::StructSchema schema, int depth) const {
  constexpr int kUnbounded = 1 << 20;
  if (depth > 32) return kUnbounded;
  int count = 0;
  for (const auto& f : fields(schema)) {
    if (f.kind == Kind::Cap) count += 1;
    if (f.kind == Kind::Group) count += cap_count(get(f.field.getProto().getGroup().getTypeId()).asStruct(), depth + 1);
    if (f.kind == Kind::Struct) count += cap_count(f.type.asStruct(), depth + 1);
    if (f.kind == Kind::List && f.type.asList().getElementType().isStruct() &&
        cap_count(f.type.asList().getElementType().asStruct(), depth + 1) > 0) {
      count += kUnbounded;
    }
    if (count >= kUnbounded) return kUnbounded;
  }
  return count;
}

void Model::check_struct(capnp::StructSchema schema, std::vector<std::string>* problems) const {
  const uint64_t id = schema.getProto().getId();
  if (schema.getProto().getIsGeneric()) {
    problems->push_back(where(id) + ": error: struct " + flat_name(id) +
                        " is generic; the generator supports no generics");
    return;
  }
  for (const auto& f : fields(schema)) {
    const std::string at = where(id, f.schema_name, f.field.getProto().getOrdinal().isExplicit()
                                                        ? f.field.getProto().getOrdinal().getExplicit()
                                                        : -1);
    const std::string name = "field '" + f.schema_name + "'";
    if (f.kind == Kind::Cap && f.type.isAnyPointer()) {
      if (f.type.getBrandParameter() != nullptr || f.type.getImplicitParameter() != nullptr) {
        problems->push_back(at + ": error: " + name + " has a generic parameter type; generics are not supported");
      } else if (f.type.whichAnyPointerKind() != Type::AnyPointer::Unconstrained::CAPABILITY) {
        problems->push_back(at + ": error: " + name +
                            " is an AnyPointer; only Capability (an untyped capability) is supported");
      }
    }
    if (f.kind == Kind::Struct || f.kind == Kind::Cap) {
      const bool generic = f.kind == Kind::Struct ? f.type.asStruct().getProto().getIsGeneric()
                           : f.type.isInterface() && f.type.asInterface().getProto().getIsGeneric();
      if (generic) problems->push_back(at + ": error: " + name + " uses a generic type; generics are not supported");
    }
    if (f.kind == Kind::List) {
      const auto element = f.type.asList().getElementType();
      if (element.isList() || element.isInterface() || element.isAnyPointer() || element.isVoid()) {
        problems->push_back(at + ": error: " + name +
                            " is a list of lists, capabilities, AnyPointer or Void; supported element "
                            "types are scalars, enums, Bool, Text, Data and structs");
      } else if (element.isStruct() && element.asStruct().getProto().getIsGeneric()) {
        problems->push_back(at + ": error: " + name + " is a list of a generic struct; generics are not supported");
      }
    }
    if (f.kind == Kind::Struct || f.kind == Kind::List) {
      auto value = f.field.getProto().getSlot().getDefaultValue();
      const bool has_default = value.isStruct() ? !value.getStruct().isNull()
                               : value.isList() ? !value.getList().isNull() : false;
      if (has_default) {
        problems->push_back(at + ": error: " + name +
                            " has a default value; defaults are supported on scalars, enums, Bool, Text and Data only");
      }
    }
  }
}

namespace {
// Records that `owner` generates C++ name `name`; a problem when another member generates it too.
struct NameTable {
  std::map<std::string, std::string> owners;
  bool claim(const std::string& name, const std::string& owner, std::string* clash) {
    auto [it, fresh] = owners.emplace(name, owner);
    if (fresh || it->second == owner) return true;
    *clash = it->second;
    return false;
  }
};
}  // namespace

void Model::check_struct_names(capnp::StructSchema schema, std::vector<std::string>* problems) const {
  const uint64_t id = schema.getProto().getId();
  const std::string sname = flat_name(id);
  // Reader and Builder members, and the types nested in the struct's shell.
  NameTable members, types;
  for (const char* fixed : {"raw", "which", "view_"}) members.owners[fixed] = "the generated accessor";
  for (const char* fixed : {"Reader", "Builder", "Which", "kId", "kDataWords", "kPointerCount"}) {
    types.owners[fixed] = "the generated struct";
  }
  for (auto nested : schema.getProto().getNestedNodes()) types.owners[text(nested.getName())] = "nested type '" + text(nested.getName()) + "'";
  for (const auto& f : fields(schema)) {
    const std::string owner = "field '" + f.schema_name + "'";
    std::vector<std::string> names;
    if (f.kind != Kind::Void) names.push_back(f.name);
    if (f.in_union) names.push_back("is_" + f.name);
    if (f.kind == Kind::Text || f.kind == Kind::Data || f.kind == Kind::Struct || f.kind == Kind::List ||
        f.kind == Kind::Cap) {
      names.push_back("has_" + f.name);
    }
    if (f.kind != Kind::Group && (f.kind != Kind::Void || f.in_union)) names.push_back("set_" + f.name);
    if (f.kind == Kind::Struct || f.kind == Kind::List || (f.kind == Kind::Group && f.in_union)) names.push_back("init_" + f.name);
    const int ordinal = f.field.getProto().getOrdinal().isExplicit() ? f.field.getProto().getOrdinal().getExplicit() : -1;
    std::string clash;
    for (const auto& name : names) {
      if (!members.claim(name, owner, &clash)) {
        problems->push_back(where(id, f.schema_name, ordinal) + ": error: " + owner + " of " + sname +
                            " generates " + name + "(), which " + clash + " generates too; rename " + owner +
                            " (e.g. '" + f.schema_name + "Value')");
        break;
      }
    }
    if (f.kind == Kind::Group && !types.claim(pascal_case(f.schema_name), owner, &clash)) {
      problems->push_back(where(id, f.schema_name, ordinal) + ": error: group " + owner + " of " + sname +
                          " generates the type " + sname + "::" + pascal_case(f.schema_name) + ", which " + clash +
                          " names too; rename " + owner + " (e.g. '" + f.schema_name + "Group')");
    }
  }
}

void Model::check_interface_names(capnp::InterfaceSchema iface, std::vector<std::string>* problems) const {
  const uint64_t id = iface.getProto().getId();
  const std::string iname = flat_name(id);
  // Client<T> members (x and x_with per method) and the private helpers.
  NameTable client;
  for (const char* fixed : {"call_", "transport_", "destination_", "reply_"}) client.owners[fixed] = "the generated client";
  for (auto method : iface.getMethods()) {
    const std::string camel = text(method.getProto().getName());
    const std::string name = method_name(camel);
    const std::string owner = "method '" + camel + "'";
    std::string clash;
    for (const auto& generated : {name, name + "_with"}) {
      if (!client.claim(generated, owner, &clash)) {
        problems->push_back(where(id, camel, static_cast<int>(method.getOrdinal())) + ": error: " + owner + " of " +
                            iname + " generates Client::" + generated + "(), which " + clash +
                            " generates too; rename " + owner + " (e.g. '" + camel + "Request')");
        break;
      }
    }
  }
}

void Model::check_interface(capnp::InterfaceSchema iface, std::vector<std::string>* problems) const {
  const auto proto = iface.getProto();
  const uint64_t id = proto.getId();
  const std::string name = flat_name(id);
  if (proto.getIsGeneric()) problems->push_back(where(id) + ": error: interface " + name + " is generic; generics are not supported");
  if (proto.getInterface().getSuperclasses().size() > 0) {
    problems->push_back(where(id) + ": error: interface " + name + " extends another; inheritance is not supported");
  }
  const bool kernel = is_kernel_object(iface);
  if (kernel && !has_annotation(proto.getAnnotations(), kInterfaceCodeAnnotation)) {
    problems->push_back(where(id) + ": error: kernel object " + name + " needs $Abi.interfaceCode(n)");
  }
  for (auto method : iface.getMethods()) {
    const auto m = method.getProto();
    const std::string mname = text(m.getName());
    const std::string at = where(id, mname, static_cast<int>(method.getOrdinal()));
    if (m.getImplicitParameters().size() > 0) {
      problems->push_back(at + ": error: method '" + mname + "' is generic; generics are not supported");
      continue;
    }
    if (m.getResultStructType() == 0x995f9a3377c0b16eull) {  // stream.capnp StreamResult
      problems->push_back(at + ": error: method '" + mname + "' is a streaming method; not supported");
    }
    for (auto [which, sid] : {std::pair<const char*, uint64_t>{"parameters", m.getParamStructType()},
                              {"results", m.getResultStructType()}}) {
      auto st = get(sid).asStruct();
      if (st.getProto().getIsGeneric() || m.getParamBrand().getScopes().size() > 0 ||
          m.getResultBrand().getScopes().size() > 0) {
        problems->push_back(at + ": error: method '" + mname + "' uses generic types; generics are not supported");
        continue;
      }
      const int caps = cap_count(st, 0);
      if (caps > static_cast<int>(kMaxCaps)) {
        problems->push_back(at + ": error: method '" + mname + "' " + which + " carry " +
                            (caps >= (1 << 20) ? std::string("an unbounded number of") : std::to_string(caps)) +
                            " capabilities; a message transfers at most " + std::to_string(kMaxCaps));
      }
      if (!kernel) continue;
      const auto s = st.getProto().getStruct();
      if (1u + s.getDataWordCount() + s.getPointerCount() > kMaxMessageWords) {
        problems->push_back(at + ": error: method '" + mname + "' " + which + " need more than " +
                            std::to_string(kMaxMessageWords) + " message words");
      }
      for (const auto& f : fields(st)) {
        const bool flat = f.kind == Kind::Bool || f.kind == Kind::Int || f.kind == Kind::Float ||
                          f.kind == Kind::Enum || f.kind == Kind::Cap;
        if (!flat || f.in_union) {
          problems->push_back(at + ": error: kernel method '" + mname + "' " + which + " field '" +
                              f.schema_name + "' is not flat (scalar, enum, Bool or capability, outside unions)");
        }
      }
    }
  }
}

std::vector<std::string> Model::validate() {
  std::vector<std::string> problems;
  std::set<uint32_t> codes;
  for (uint64_t file : requested_) {
    if (!has_annotation(node(file).getAnnotations(), kNamespaceAnnotation)) {
      problems.push_back(display_path(file) + ":1: error: the file needs $Abi.namespace(\"...\") from base.capnp");
    }
    std::map<std::string, uint64_t> flat_names;  // one C++ namespace per file
    auto claim_flat = [&](uint64_t id) {
      auto [it, fresh] = flat_names.emplace(flat_name(id), id);
      if (!fresh) {
        problems.push_back(where(id) + ": error: " + text(node(id).getDisplayName()) + " and " +
                           text(node(it->second).getDisplayName()) + " both become the C++ type " + flat_name(id) +
                           "; rename one");
      }
    };
    for (uint64_t id : structs_in(file)) {
      check_struct(get(id).asStruct(), &problems);
      check_struct_names(get(id).asStruct(), &problems);
      claim_flat(id);
    }
    for (uint64_t id : enums_in(file)) claim_flat(id);
    for (uint64_t id : interfaces_in(file)) {
      auto iface = get(id).asInterface();
      check_interface(iface, &problems);
      check_interface_names(iface, &problems);
      claim_flat(id);
      if (!codes.insert(interface_code(iface)).second) {
        problems.push_back(where(id) + ": error: interface code " + std::to_string(interface_code(iface)) +
                           " is used twice");
      }
    }
    for (uint64_t id : consts_in(file)) {
      const auto type = get(id).asConst().getType();
      if (!(type.isBool() || type.isText() || type.isInt8() || type.isInt16() || type.isInt32() ||
            type.isInt64() || type.isUInt8() || type.isUInt16() || type.isUInt32() ||
            type.isUInt64() || type.isFloat32() || type.isFloat64() || type.isEnum())) {
        problems.push_back(where(id) + ": error: constant " + flat_name(id) +
                           " is not a scalar, enum or Text; not supported");
      }
    }
  }
  return problems;
}

}  // namespace abigen
