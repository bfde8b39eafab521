// The generator's view of a CodeGeneratorRequest: schema lookup, names, field classification and
// the checks that reject what the freestanding runtime does not support.
#pragma once

#include <capnp/schema-loader.h>
#include <capnp/schema.capnp.h>
#include <capnp/schema.h>

#include <cstdint>
#include <map>
#include <string>
#include <vector>

namespace abigen {

// Annotation ids from abi/base.capnp (pinned there).
constexpr uint64_t kNamespaceAnnotation = 0xb96715e031c926d7ull;
constexpr uint64_t kKernelObjectAnnotation = 0xc7c4bd71e6399d6aull;
constexpr uint64_t kInterfaceCodeAnnotation = 0xc98bd05444eca72bull;

// What the kernel can transfer with one message (tessera/capnp/transport.h).
constexpr unsigned kMaxCaps = 3;
constexpr unsigned kMaxMessageWords = 120;

enum class Kind { Void, Bool, Int, Float, Enum, Text, Data, Struct, Group, List, Cap };

// One field, classified for code generation.
struct FieldInfo {
  capnp::StructSchema::Field field;
  std::string name;        // snake_case C++ name
  std::string schema_name; // camelCase schema name (libcapnp dynamic API)
  Kind kind;
  capnp::Type type;
  bool in_union;
  uint16_t discriminant;
  uint32_t offset;         // slot offset (units of the field's size; bits for bools)
};

class Model {
 public:
  Model(capnp::schema::CodeGeneratorRequest::Reader request, std::string source_root);

  // Every problem found in the requested files, each "file:line: message"; empty when supported.
  std::vector<std::string> validate();

  capnp::Schema get(uint64_t id) const { return loader_.get(id); }
  capnp::schema::Node::Reader node(uint64_t id) const { return loader_.get(id).getProto(); }

  // C++ namespace ("tessera::kernel") of the file that declares `id`.
  std::string ns_of(uint64_t id) const;
  // Flat C++ name ("Shape_Style", "Store_PutParams") and the fully qualified one.
  std::string flat_name(uint64_t id) const;
  std::string qualified(uint64_t id) const { return "::" + ns_of(id) + "::" + flat_name(id); }
  uint64_t file_of(uint64_t id) const;

  std::vector<FieldInfo> fields(capnp::StructSchema schema) const;
  // C++ type of a data field or list element of primitive/enum type.
  std::string cpp_type(capnp::Type type) const;

  bool is_kernel_object(capnp::InterfaceSchema iface) const;
  uint32_t interface_code(capnp::InterfaceSchema iface) const;

  // All struct ids (including groups and method param/result structs) declared in `file`, in
  // a stable order: declaration order, params/results after their interface.
  std::vector<uint64_t> structs_in(uint64_t file) const;
  std::vector<uint64_t> enums_in(uint64_t file) const;
  std::vector<uint64_t> interfaces_in(uint64_t file) const;
  std::vector<uint64_t> consts_in(uint64_t file) const;

  // Capability fields reachable from `schema` (huge when a list of structs may hold capabilities):
  // the most capabilities a message of this struct can legitimately carry.
  int cap_count(capnp::StructSchema schema, int depth = 0) const;

  // The path of a requested schema file as the plugin reports it: from the repository root
  // (e.g. "abi/kv.capnp"), whatever --src-prefix and working directory capnp ran with.
  std::string display_path(uint64_t file) const;

  // "file:line" for a named member of a node (or the node itself when member is empty).
  std::string where(uint64_t node_id, const std::string& member = "", int ordinal = -1) const;

 private:
  void collect(uint64_t id, std::vector<uint64_t>* structs, std::vector<uint64_t>* enums,
               std::vector<uint64_t>* interfaces, std::vector<uint64_t>* consts) const;
  void check_struct(capnp::StructSchema schema, std::vector<std::string>* problems) const;
  void check_interface(capnp::InterfaceSchema iface, std::vector<std::string>* problems) const;
  // Generated names that would collide (two members generating the same C++ name).
  void check_struct_names(capnp::StructSchema schema, std::vector<std::string>* problems) const;
  void check_interface_names(capnp::InterfaceSchema iface, std::vector<std::string>* problems) const;

  capnp::SchemaLoader loader_;
  std::map<uint64_t, std::string> file_names_;
  std::vector<uint64_t> requested_;
  std::string source_root_;
  std::string display_prefix_;  // source_root_ relative to the repository root, with a '/'
};

std::string snake_case(const std::string& camel);
std::string pascal_case(const std::string& camel);
// Appends '_' to names that are C++ keywords (and to `raw`/`which`, which the readers define).
std::string escape(const std::string& name);
// The C++ name of a method: snake_case, escaped, and `dispatch` (Server<Impl>::dispatch, which
// an Impl method of that name would hide) becomes `dispatch_`.
std::string method_name(const std::string& camel);

}  // namespace abigen
