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

// Whether a method can have a flat handler (docs/writing-a-server.md): every parameter a plain
// argument and every result a plain member — scalars, enums, Bool, Text, Data, no capabilities, no
// result with a default (a plain struct member starts at zero).
bool flat_handler_eligible(const Model& model, const std::vector<FieldInfo>& params, const std::vector<FieldInfo>& results) {
  for (const auto& f : params) {
    if (!is_flat_argument(f) || f.kind == Kind::Cap) return false;
  }
  for (const auto& f : results) {
    if (!is_flat_argument(f) || f.kind == Kind::Cap) return false;
    if (f.kind != Kind::Text && f.kind != Kind::Data && !mask_argument(model, f).empty()) return false;
  }
  return true;
}

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

// The root pointer of a struct of `data` words and `pointers` pointers laid out right after it
// (a zero-sized struct points just past itself with offset -1, as libcapnp writes it).
std::string root_pointer(uint16_t data, uint16_t pointers) {
  const uint32_t offset = data + pointers == 0 ? 0xFFFFFFFFu : 0u;
  return hex((static_cast<uint64_t>(offset << 2)) | (static_cast<uint64_t>(data) << 32) |
             (static_cast<uint64_t>(pointers) << 48));
}

// How emit_flat_words writes one flat struct (a stub's params, a flat handler's reply).
struct FlatWords {
  const std::vector<FieldInfo>& fields;
  uint16_t data;                 // the struct's data words
  uint16_t pointers;             // and pointers
  std::string builder;           // its generated type, for the Builder's setters
  std::string source;            // how a field's value is named: prefix of the field name
  bool optional_bytes;           // a Text/Data whose data is nullptr is left unset (null)
  std::string indent;
  std::string words;             // where the words go
  std::string capacity;          // how many words fit there
  bool constant_capacity;        // `capacity` is a constant: a fixed size needs no check
  std::string too_long;          // the statement that answers RangeError
};

// Writes a flat struct straight into its message words in the layout a MessageBuilder makes for
// the same setter calls in field order: the size first (RangeError when it does not fit, as the
// builder would report), then the root pointer, the data words through the Builder's setters (XOR
// defaults, bools), and Text/Data in field order, which is the order the builder allocates them
// in. Leaves words_ (the size) and w_ (the words) declared; capabilities are the caller's.
void emit_flat_words(const FlatWords& f, std::ostream& out) {
  const std::string& in = f.indent;
  std::string size = std::to_string(1u + f.data + f.pointers) + "u";
  bool variable = false;
  for (const auto& field : f.fields) {
    if (field.kind != Kind::Text && field.kind != Kind::Data) continue;
    const std::string value = f.source + field.name;
    const std::string words = std::string("::tessera::capnp::") + (field.kind == Kind::Text ? "text" : "data") + "_words(" + value + ")";
    size += f.optional_bytes ? " + (" + value + ".data != nullptr ? " + words + " : 0u)" : " + " + words;
    variable = true;
  }
  if (variable || !f.constant_capacity) {
    out << in << "const uint64_t words_ = " << size << ";\n"
        << in << "if (words_ > " << f.capacity << ") " << f.too_long << "\n";
  } else {
    out << in << "constexpr uint64_t words_ = " << size << ";\n";
  }
  out << in << "::tessera::capnp::Word* const w_ = " << f.words << ";\n";
  out << in << "w_[0] = " << root_pointer(f.data, f.pointers) << ";\n";
  // Data words start at zero for the setters; pointers are all written below unless a Text/Data
  // may stay unset.
  const uint32_t zeroed = f.data + (f.optional_bytes ? f.pointers : 0u);
  for (uint32_t i = 0; i < zeroed; ++i) out << in << "w_[" << 1 + i << "] = 0;\n";
  bool scalars = false;
  for (const auto& field : f.fields) scalars = scalars || (field.kind != Kind::Text && field.kind != Kind::Data && field.kind != Kind::Cap);
  if (scalars) {
    out << in << f.builder << "::Builder fields_(::tessera::capnp::StructBuilder(nullptr, reinterpret_cast<uint8_t*>(w_ + 1), "
        << f.data * 8u << "u, w_ + " << 1 + f.data << ", " << f.pointers << "));\n";
    for (const auto& field : f.fields) {
      if (field.kind != Kind::Text && field.kind != Kind::Data && field.kind != Kind::Cap) {
        out << in << "fields_.set_" << field.name << "(" << f.source << field.name << ");\n";
      }
    }
  }
  int objects = 0;
  for (const auto& field : f.fields) objects += field.kind == Kind::Text || field.kind == Kind::Data;
  if (objects > 0) out << in << (objects > 1 ? "" : "[[maybe_unused]] ") << "::tessera::capnp::Word* next_ = w_ + " << 1 + f.data + f.pointers << ";\n";
  for (const auto& field : f.fields) {
    if (field.kind != Kind::Text && field.kind != Kind::Data) continue;
    const std::string value = f.source + field.name;
    out << in << (f.optional_bytes ? "if (" + value + ".data != nullptr) " : "") << (--objects > 0 ? "next_ = " : "")
        << "::tessera::capnp::put_" << (field.kind == Kind::Text ? "text" : "data") << "(w_ + " << 1 + f.data + field.offset
        << ", next_, " << value << ");\n";
  }
}

// A flat stub writes the request straight into the send words (emit_flat_words: the bytes are the
// builder's), then its capabilities in argument order.
void emit_flat_stub(const Model& model, const MethodInfo& m, const std::vector<FieldInfo>& params,
                    const std::vector<FieldInfo>& results, std::ostream& out) {
  const auto layout = m.params_schema.getProto().getStruct();
  const uint16_t data = layout.getDataWordCount();
  const uint16_t pointers = layout.getPointerCount();
  const std::string ret = results.empty() ? "void" : m.results + "::Reader";
  out << "  // " << m.pascal << " with its parameters as arguments, written straight into the send words.\n";
  out << "  ::tessera::Result<" << ret << "> " << m.name << "(";
  for (size_t i = 0; i < params.size(); ++i) {
    out << (i ? ", " : "") << argument_type(model, params[i]) << " " << params[i].name;
  }
  out << ") {\n";
  emit_flat_words(FlatWords{.fields = params, .data = data, .pointers = pointers, .builder = m.params, .source = "",
                            .optional_bytes = false, .indent = "    ", .words = "transport_.send_words()",
                            .capacity = "::tessera::capnp::kMaxMessageWords", .constant_capacity = true,
                            .too_long = "return ::tessera::Error::RangeError;"},
                  out);
  int caps = 0;
  for (const auto& f : params) {
    if (f.kind != Kind::Cap) continue;
    out << "    transport_.send_caps()[" << caps << "] = " << f.name << ".cptr;\n";
    out << "    w_[" << 1 + data + f.offset << "] = ::tessera::capnp::wire::make_capability(" << caps << ");\n";
    ++caps;
  }
  if (results.empty()) {
    out << "    const auto reply = call_<" << m.results << ">(static_cast<uint32_t>(words_), " << caps << ", Method::" << m.pascal << ");\n"
        << "    if (!reply.ok()) return reply.error();\n    return {};\n  }\n";
  } else {
    out << "    return call_<" << m.results << ">(static_cast<uint32_t>(words_), " << caps << ", Method::" << m.pascal << ");\n  }\n";
  }
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
    // A flat stub's message is in range by construction (call_ checks nothing): its fixed part fits
    // the message words (the Text/Data it adds are checked at run time) and its capabilities the
    // extra caps. Parameters past either have only the builder form, which reports RangeError.
    const auto shape = m.params_schema.getProto().getStruct();
    bool flat = 1u + shape.getDataWordCount() + shape.getPointerCount() <= kMaxMessageWords;
    uint32_t caps = 0;
    for (const auto& f : params) {
      flat = flat && is_flat_argument(f);
      caps += f.kind == Kind::Cap;
    }
    if (flat && caps <= kMaxCaps) emit_flat_stub(model, m, params, results, out);
    out << "\n";
  }
  out << " private:\n";
  out << "  // Calls with the message `info` says (the words and capabilities already in the send buffer,\n"
         "  // at most kMaxMessageWords and kMaxExtraCaps of them: a builder holds no more and a flat stub's\n"
         "  // are checked or fixed by the generator) and finds the reply's root, expected as `root`\n"
         "  // (every stub shares this code). The place comes back in registers and call_ builds the reader\n"
         "  // inline, only where the results are read. A transport with call_info takes the info word as it\n"
         "  // is; any other is called with its parts.\n"
         "  ::tessera::capnp::MessageReader::Place call_raw_(uint64_t info, ::tessera::capnp::Word root) {\n"
         "    const ::tessera::capnp::Word* const words = transport_.reply_words();  // where the reply lands\n"
         "    const ::tessera::Result<::tessera::capnp::MessageInfo> reply = [&]() -> ::tessera::Result<::tessera::capnp::MessageInfo> {\n"
         "      if constexpr (requires { transport_.call_info(destination_, info); }) {\n"
         "        return transport_.call_info(destination_, info);\n"
         "      } else {\n"
         "        const ::tessera::capnp::MessageInfo sent = ::tessera::capnp::MessageInfo::decode(info);\n"
         "        return transport_.call(destination_, sent.label, sent.length_words, sent.extra_caps);\n"
         "      }\n"
         "    }();\n"
         "    if (!reply.ok()) return ::tessera::capnp::MessageReader::Place::failed(reply.error());\n"
         "    if (reply->label != 0) {\n"
         "      return ::tessera::capnp::MessageReader::Place::failed(::tessera::capnp::error_from_label(reply->label, ::tessera::kErrorCount));\n"
         "    }\n"
         "    // An empty reply is the all-default results struct (the kernel sends no words for empty results).\n"
         "    if (reply->length_words == 0) return {words, 0};\n"
         "    reply_.reset(words, reply->length_words, reply->extra_caps);\n"
         "    return reply_.place_root(root);\n"
         "  }\n"
         "  template <typename Results>\n"
         "  ::tessera::Result<typename Results::Reader> call_(uint32_t words, uint32_t caps, Method method) {\n"
         "    const ::tessera::capnp::MessageReader::Place place =\n"
         "        call_raw_(::tessera::capnp::MessageInfo{" << name << "::label(method), words, caps, 0}.encode(),\n"
         "                  ::tessera::capnp::wire::make_struct(0, Results::kDataWords, Results::kPointerCount));\n"
         "    if (place.target == nullptr) return place.error();\n"
         "    return typename Results::Reader(reply_.struct_at(place));\n"
         "  }\n"
         "  template <typename Results>\n"
         "  ::tessera::Result<typename Results::Reader> call_(::tessera::capnp::MessageBuilder& message, Method method) {\n"
         "    const uint32_t words = TRY(message.finish());\n"
         "    return call_<Results>(words, message.cap_count(), method);\n"
         "  }\n\n";
  out << "  T& transport_;\n  uint64_t destination_;\n  ::tessera::capnp::MessageReader reply_;\n};\n\n";
}

// A flat handler's case: the parameters read through the params reader (every check of the reader
// form), the handler called with them as arguments, and its Reply written straight into the reply
// words (emit_flat_words, a Text/Data without data left unset; host test [flat]).
void emit_flat_case(const Model&, const MethodInfo& m, const std::vector<FieldInfo>& params,
                    const std::vector<FieldInfo>& results, std::ostream& out) {
  const std::string in = "          ";
  out << in << "const " << m.params << "::Reader p_(params);\n";
  for (const auto& f : params) {
    if (f.kind == Kind::Text || f.kind == Kind::Data) {
      out << in << "const auto " << f.name << "_ = p_." << f.name << "();\n"
          << in << "if (!" << f.name << "_.ok()) return {" << f.name << "_.error(), 0, 0};\n";
    }
  }
  out << in << "auto r_ = impl()." << m.name << "(";
  for (size_t i = 0; i < params.size(); ++i) {
    const auto& f = params[i];
    out << (i ? ", " : "") << (f.kind == Kind::Text || f.kind == Kind::Data ? f.name + "_.value()" : "p_." + f.name + "()");
  }
  out << ");\n";
  out << in << "if (!r_.ok()) return {r_.error(), 0, 0};\n";
  const auto layout = m.results_schema.getProto().getStruct();
  emit_flat_words(FlatWords{.fields = results, .data = layout.getDataWordCount(), .pointers = layout.getPointerCount(),
                            .builder = m.results, .source = "r_->", .optional_bytes = true, .indent = in,
                            .words = "out.words", .capacity = "out.capacity_words", .constant_capacity = false,
                            .too_long = "return {::tessera::Error::RangeError, 0, 0};"},
                  out);
  out << in << "return {::tessera::Error::Ok, static_cast<uint32_t>(words_), 0};\n";
}

void emit_server(const Model& model, const std::string& name, const std::vector<MethodInfo>& methods,
                 std::ostream& out) {
  out << "// Server dispatch (CRTP): `Impl` derives from Server<Impl> and has one method per schema\n"
         "// method, `Result<void> name(NameParams::Reader, NameResults::Builder)`.\n";
  out << "template <typename Impl>\nclass " << name << "::Server {\n public:\n";
  out << "  // Decodes `request` without trusting it, runs Impl's method and writes the reply into `out`.\n"
         "  // A label of another interface or an unknown method is IllegalOperation (one subtraction:\n"
         "  // anything outside [label(0), label(0) + kMethodCount) is one); a malformed message, or one\n"
         "  // carrying more capabilities than the method's parameters can name, never reaches Impl\n"
         "  // (MalformedMessage). The params reader is built in place over the received words (read_root)\n"
         "  // and the results' root laid out as constant words (init_root_as).\n";
  out << "  ::tessera::capnp::Reply dispatch(const ::tessera::capnp::Request& request,\n"
         "                                  [[maybe_unused]] const ::tessera::capnp::ReplyBuffer& out) {\n";
  out << "    switch (request.label - " << name << "::label(static_cast<Method>(0))) {\n";
  for (const auto& m : methods) {
    out << "      case static_cast<uint64_t>(Method::" << m.pascal << "): {\n"
        << "        if (request.cap_count > " << model.cap_count(m.params_schema, 0)
        << "u) return {::tessera::Error::MalformedMessage, 0, 0};\n";
    const auto params = model.fields(m.params_schema);
    const auto results = model.fields(m.results_schema);
    const bool flat = flat_handler_eligible(model, params, results);
    std::string indent = "        ";
    // The params reader, with the message's traversal budget or (a flat handler's parameters, each
    // pointer followed exactly once) none.
    const auto read_params = [&](const std::string& limits) {
      out << indent << "::tessera::capnp::MessageReader message(request.words, request.length_words, request.cap_count" << limits << ");\n"
          << indent << "::tessera::capnp::StructReader params;\n"
          << indent << "const ::tessera::Error e = message.read_root(" << m.params << "::kDataWords, " << m.params << "::kPointerCount, &params);\n"
          << indent << "if (e != ::tessera::Error::Ok) return {e, 0, 0};\n";
    };
    if (flat) {
      out << "        if constexpr (requires(Impl& i_";
      for (const auto& f : params) out << ", " << argument_type(model, f) << " " << f.name;
      out << ") { i_." << m.name << "(";
      for (size_t i = 0; i < params.size(); ++i) out << (i ? ", " : "") << params[i].name;
      out << "); }) {\n";
      indent = "          ";
      read_params(", ::tessera::capnp::ReadLimits::once()");
      emit_flat_case(model, m, params, results, out);
      out << "        } else {\n";
    }
    read_params("");
    out << indent << "::tessera::capnp::MessageBuilder reply(out.words, out.capacity_words, out.caps, out.cap_capacity);\n"
        << indent << "return finish(impl()." << m.name << "(" << m.params << "::Reader(params), reply.init_root_as<" << m.results << ">()), reply);\n";
    if (flat) out << "        }\n";
    out << "      }\n";
  }
  out << "      default:\n        break;\n    }\n    return {::tessera::Error::IllegalOperation, 0, 0};\n  }\n\n";
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
    for (const auto& m : methods) {
      const auto params = model.fields(m.params_schema);
      const auto results = model.fields(m.results_schema);
      if (!flat_handler_eligible(model, params, results) || results.empty()) continue;
      bool bytes = false;
      for (const auto& f : results) bytes = bytes || f.kind == Kind::Text || f.kind == Kind::Data;
      out << "  // " << m.pascal << "'s results as plain members, for a flat handler"
          << (bytes ? " (a Text or Data left\n  // without data, nullptr, is not sent: the client reads the field's default).\n" : ".\n");
      out << "  struct " << m.pascal << "Reply {\n";
      for (const auto& f : results) {
        if (f.kind == Kind::Bool) out << "    bool " << f.name << " = false;\n";
        else if (f.kind == Kind::Text || f.kind == Kind::Data) out << "    " << argument_type(model, f) << " " << f.name << ";\n";
        else out << "    " << model.cpp_type(f.type) << " " << f.name << "{};\n";
      }
      out << "  };\n";
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
