// Interfaces: labels and method enums, client stubs, the server dispatch base class, and for
// kernel objects the typed invocation decoders and result encoders.
#include "emit.h"

namespace abigen {

bool is_flat_argument(const FieldInfo& f) {
  if (f.in_union) return false;
  switch (f.kind) {
    case Kind::Bool: case Kind::Int: case Kind::Float: case Kind::Enum: case Kind::Text:
    case Kind::Data: case Kind::Cap:
      return true;
    default:
      return false;
  }
}

std::string argument_type(const Model& model, const FieldInfo& f) {
  switch (f.kind) {
    case Kind::Text: return "::tessera::capnp::Text";
    case Kind::Data: return "::tessera::capnp::Data";
    case Kind::Cap: return "::tessera::capnp::CapRef";
    default: return model.cpp_type(f.type);
  }
}

namespace {

struct MethodInfo {
  std::string name;    // snake_case
  std::string pascal;  // PascalCase
  uint16_t ordinal;
  std::string params;  // alias names inside the interface struct
  std::string results;
  capnp::StructSchema params_schema;
  capnp::StructSchema results_schema;
};

std::vector<MethodInfo> methods_of(const Model& model, capnp::InterfaceSchema iface) {
  std::vector<MethodInfo> out;
  for (auto method : iface.getMethods()) {
    const auto proto = method.getProto();
    const std::string camel = proto.getName().cStr();
    out.push_back({method_name(camel), pascal_case(camel), method.getOrdinal(),
                   pascal_case(camel) + "Params", pascal_case(camel) + "Results",
                   model.get(proto.getParamStructType()).asStruct(),
                   model.get(proto.getResultStructType()).asStruct()});
  }
  return out;
}

void emit_client(const Model& model, const std::string& name, const std::vector<MethodInfo>& methods,
                 std::ostream& out) {
  out << "// Client stubs: one per method. `T` is a ClientTransport (tessera/capnp/transport.h); the\n"
         "// reader a stub returns stays valid until the next call on this client.\n";
  out << "template <typename T>\nclass " << name << "::Client {\n public:\n";
  out << "  Client(T& transport, uint64_t destination) : transport_(transport), destination_(destination) {}\n\n";
  for (const auto& m : methods) {
    const auto results = model.fields(m.results_schema);
    out << "  // " << m.pascal << ": fills " << m.params << " with `fill` and waits for the reply.\n";
    out << "  template <typename Fill>\n  ::tessera::Result<" << m.results << "::Reader> " << m.name << "_with(Fill&& fill) {\n";
    out << "    ::tessera::capnp::MessageBuilder message(transport_.send_words(), ::tessera::capnp::kMaxMessageWords,\n"
           "                                             transport_.send_caps(), ::tessera::capnp::kMaxExtraCaps);\n";
    out << "    fill(message.init_root_as<" << m.params << ">());\n";
    out << "    return call_<" << m.results << ">(message, Method::" << m.pascal << ");\n  }\n";
    const auto params = model.fields(m.params_schema);
    bool flat = true;
    for (const auto& f : params) flat = flat && is_flat_argument(f);
    if (flat) {
      const std::string ret = results.empty() ? "void" : m.results + "::Reader";
      out << "  // " << m.pascal << " with its parameters as arguments.\n";
      out << "  ::tessera::Result<" << ret << "> " << m.name << "(";
      for (size_t i = 0; i < params.size(); ++i) {
        out << (i ? ", " : "") << argument_type(model, params[i]) << " " << params[i].name;
      }
      out << ") {\n    auto reply = " << m.name << "_with([&](" << m.params << "::Builder" << (params.empty() ? "" : " params_") << ") {";
      for (const auto& f : params) out << "\n      params_.set_" << f.name << "(" << f.name << ");";
      out << (params.empty() ? "" : "\n    ") << "});\n";
      if (results.empty()) out << "    if (!reply.ok()) return reply.error();\n    return {};\n  }\n";
      else out << "    return reply;\n  }\n";
    }
    out << "\n";
  }
  out << " private:\n";
  out << "  template <typename Results>\n"
         "  ::tessera::Result<typename Results::Reader> call_(::tessera::capnp::MessageBuilder& message, Method method) {\n"
         "    const uint32_t words = TRY(message.finish());\n"
         "    const ::tessera::capnp::MessageInfo info =\n"
         "        TRY(transport_.call(destination_, " << name << "::label(method), words, message.cap_count()));\n"
         "    if (info.label != 0) return ::tessera::capnp::error_from_label(info.label, ::tessera::kErrorCount);\n"
         "    // An empty reply is the all-default results struct (the kernel sends no words for empty results).\n"
         "    if (info.length_words == 0) return typename Results::Reader();\n"
         "    reply_.reset(transport_.reply_words(), info.length_words, info.extra_caps);\n"
         "    return reply_.template root_as<Results>();\n"
         "  }\n\n";
  out << "  T& transport_;\n  uint64_t destination_;\n  ::tessera::capnp::MessageReader reply_;\n};\n\n";
}

void emit_server(const Model& model, const std::string& name, const std::vector<MethodInfo>& methods,
                 std::ostream& out) {
  out << "// Server dispatch (CRTP): `Impl` derives from Server<Impl> and has one method per schema\n"
         "// method, `Result<void> name(NameParams::Reader, NameResults::Builder)`.\n";
  out << "template <typename Impl>\nclass " << name << "::Server {\n public:\n";
  out << "  // Decodes `request` without trusting it, runs Impl's method and writes the reply into `out`.\n"
         "  // A label of another interface or an unknown method is IllegalOperation; a malformed\n"
         "  // message, or one carrying more capabilities than the method's parameters can name, never\n"
         "  // reaches Impl (MalformedMessage).\n";
  out << "  ::tessera::capnp::Reply dispatch(const ::tessera::capnp::Request& request,\n"
         "                                  const ::tessera::capnp::ReplyBuffer& out) {\n";
  out << "    const ::tessera::Result<Method> method = method_of(request.label);\n"
         "    if (!method.ok()) return {method.error(), 0, 0};\n"
         "    ::tessera::capnp::MessageReader message(request.words, request.length_words, request.cap_count);\n"
         "    ::tessera::capnp::MessageBuilder reply(out.words, out.capacity_words, out.caps, out.cap_capacity);\n"
         "    switch (method.value()) {\n";
  for (const auto& m : methods) {
    out << "      case Method::" << m.pascal << ": {\n"
        << "        if (request.cap_count > " << model.cap_count(m.params_schema, 0)
        << "u) return {::tessera::Error::MalformedMessage, 0, 0};\n"
        << "        const auto params = message.root_as<" << m.params << ">();\n"
        << "        if (!params.ok()) return {params.error(), 0, 0};\n"
        << "        return finish(impl()." << m.name << "(params.value(), reply.init_root_as<" << m.results << ">()), reply);\n"
        << "      }\n";
  }
  out << "    }\n    return {::tessera::Error::IllegalOperation, 0, 0};\n  }\n\n";
  out << " protected:\n  Server() = default;\n  ~Server() = default;\n\n private:\n";
  out << "  Impl& impl() { return static_cast<Impl&>(*this); }\n";
  out << "  static ::tessera::capnp::Reply finish(::tessera::Result<void> status, const ::tessera::capnp::MessageBuilder& reply) {\n"
         "    if (!status.ok()) return {status.error(), 0, 0};\n"
         "    const ::tessera::Result<uint32_t> words = reply.finish();\n"
         "    if (!words.ok()) return {words.error(), 0, 0};\n"
         "    return {::tessera::Error::Ok, words.value(), reply.cap_count()};\n  }\n};\n\n";
}

// Plain structs for kernel invocations: XxxArgs::decode reads the parameters, XxxReturn::encode
// writes the results.
void emit_kernel(const Model& model, const std::vector<MethodInfo>& methods, std::ostream& out) {
  for (const auto& m : methods) {
    const auto params = model.fields(m.params_schema);
    out << "  // Typed arguments of " << m.pascal << ", as the kernel sees them.\n";
    out << "  struct " << m.pascal << "Args {\n";
    for (const auto& f : params) {
      if (f.kind == Kind::Cap) out << "    ::tessera::capnp::CapIndex " << f.name << ";\n";
      else out << "    " << model.cpp_type(f.type) << " " << f.name << "{};\n";
    }
    out << "\n    // Decodes a " << m.pascal << " invocation straight from the message words: every read is\n"
           "    // bounds-checked and capability parameters must name a transferred capability.\n";
    out << "    static ::tessera::Result<" << m.pascal << "Args> decode(const ::tessera::capnp::Request& request) {\n";
    out << "      ::tessera::capnp::MessageReader message(request.words, request.length_words, request.cap_count);\n";
    out << "      " << (params.empty() ? "[[maybe_unused]] " : "") << "const " << m.params
        << "::Reader params = TRY(message.root_as<" << m.params << ">());\n";
    out << "      " << m.pascal << "Args args;\n";
    for (const auto& f : params) {
      if (f.kind == Kind::Cap) out << "      args." << f.name << " = TRY(params." << f.name << "());\n";
      else out << "      args." << f.name << " = params." << f.name << "();\n";
    }
    out << "      return args;\n    }\n  };\n";
    const auto results = model.fields(m.results_schema);
    if (results.empty()) continue;
    out << "  // Results of " << m.pascal << ", as the kernel writes them.\n";
    out << "  struct " << m.pascal << "Return {\n";
    for (const auto& f : results) {
      if (f.kind == Kind::Cap) out << "    ::tessera::capnp::CapIndex " << f.name << ";\n";
      else out << "    " << model.cpp_type(f.type) << " " << f.name << "{};\n";
    }
    out << "\n    // Writes the reply body into `out`; its length in words, or RangeError if it does not fit.\n";
    out << "    ::tessera::Result<uint32_t> encode(const ::tessera::capnp::ReplyBuffer& out) const {\n";
    out << "      ::tessera::capnp::MessageBuilder message(out.words, out.capacity_words, out.caps, out.cap_capacity);\n";
    out << "      " << m.results << "::Builder results = message.init_root_as<" << m.results << ">();\n";
    for (const auto& f : results) out << "      results.set_" << f.name << "(" << f.name << ");\n";
    out << "      return message.finish();\n    }\n  };\n";
  }
}

}  // namespace

void emit_interfaces(const Model& model, uint64_t file, std::ostream& out) {
  for (uint64_t id : model.interfaces_in(file)) {
    const auto iface = model.get(id).asInterface();
    const std::string name = model.flat_name(id);
    const auto methods = methods_of(model, iface);
    const bool kernel = model.is_kernel_object(iface);
    out << "// Interface " << name << (kernel ? " (kernel object: invoked with Call on its capability)" : "") << ".\n";
    out << "struct " << name << " {\n";
    out << "  static constexpr uint64_t kId = " << hex(id) << ";\n";
    out << "  static constexpr uint32_t kInterfaceCode = " << model.interface_code(iface) << "u;\n";
    out << "  enum class Method : uint16_t {";
    for (size_t i = 0; i < methods.size(); ++i) out << (i ? ", " : " ") << methods[i].pascal << " = " << methods[i].ordinal;
    out << (methods.empty() ? "" : " ") << "};\n";
    out << "  static constexpr uint16_t kMethodCount = " << methods.size() << ";\n";
    for (const auto& m : methods) {
      out << "  using " << m.params << " = " << model.qualified(m.params_schema.getProto().getId()) << ";\n";
      out << "  using " << m.results << " = " << model.qualified(m.results_schema.getProto().getId()) << ";\n";
    }
    out << "\n  // The message label of `method` on this interface.\n";
    out << "  static constexpr uint64_t label(Method method) {\n"
           "    return ::tessera::capnp::make_label(kInterfaceCode, static_cast<uint16_t>(method));\n  }\n";
    out << "  // The method `label` names, or IllegalOperation for another interface or an unknown method.\n";
    out << "  static ::tessera::Result<Method> method_of(uint64_t label) {\n"
           "    if (::tessera::capnp::label_interface(label) != kInterfaceCode ||\n"
           "        (label >> 48) != 0 || ::tessera::capnp::label_method(label) >= kMethodCount) {\n"
           "      return ::tessera::Error::IllegalOperation;\n    }\n"
           "    return static_cast<Method>(::tessera::capnp::label_method(label));\n  }\n\n";
    out << "  template <typename T>\n  class Client;\n  template <typename Impl>\n  class Server;\n";
    if (kernel) {
      out << "\n";
      emit_kernel(model, methods, out);
    }
    out << "};\n\n";
    emit_client(model, name, methods, out);
    emit_server(model, name, methods, out);
  }
}

}  // namespace abigen
