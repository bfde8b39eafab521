// Code emitters of the Tessera ABI generator. Each returns C++ source text.
#pragma once

#include <sstream>
#include <string>

#include "model.h"

namespace abigen {

// Width in bits of a scalar type's value (Bool 1 ... 64-bit types 64); 0 for pointers and Void.
// Shared by the struct emitter (list element sizes) and the shape block.
unsigned scalar_bits(capnp::Type type);

// The freestanding header for `file`: enums, constants, struct readers/builders, interfaces
// (method labels, client stubs, server dispatch) and, for kernel objects, invocation decoders.
std::string emit_header(const Model& model, uint64_t file, const std::string& basename,
                        const std::vector<std::string>& imports);

// Pieces of emit_header, one per section.
void emit_struct_shells(const Model& model, uint64_t file, std::ostream& out);
void emit_struct_classes(const Model& model, uint64_t file, std::ostream& out);
void emit_struct_bodies(const Model& model, uint64_t file, std::ostream& out);
void emit_interfaces(const Model& model, uint64_t file, std::ostream& out);
// The "@shape" comment block (abi/check_compat.py reads it from goldens and fresh headers).
void emit_shape(const Model& model, uint64_t file, std::ostream& out);

// The hosted test shim for `file`: conversions between libcapnp's dynamic API and the
// generated readers/builders, used by the round-trip tests (tests/host/abi).
std::string emit_dyn(const Model& model, uint64_t file, const std::string& basename);

// Helpers shared by the emitters.
std::string hex(uint64_t value);
std::string c_string(const std::string& bytes);
// The default-value mask argument for a data field (", mask"), or "" when the default is zero.
std::string mask_argument(const Model& model, const FieldInfo& field);
// Reader element type / builder element type of a list field.
std::string list_reader_type(const Model& model, capnp::Type element);
std::string list_builder_type(const Model& model, capnp::Type element);
// Whether a field can be a plain argument of a client stub (scalars, enums, Text, Data, caps).
bool is_flat_argument(const FieldInfo& field);
std::string argument_type(const Model& model, const FieldInfo& field);

}  // namespace abigen
