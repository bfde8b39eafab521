// Hostile-message reader: pointer resolution with bounds checks, budget and nesting limits.
#include <tessera/capnp/reader.h>

namespace tessera::capnp {
namespace {

constexpr Error kMalformed = Error::MalformedMessage;

// Checks that a list of `size` elements may be read as a list of `expected` elements.
bool compatible(ElementSize size, ElementSize expected, uint32_t data_bits, uint16_t pointers) {
  switch (expected) {
    case ElementSize::Bit:
      return size == ElementSize::Bit;
    case ElementSize::Pointer:
      return pointers > 0;
    case ElementSize::InlineComposite:
      return size != ElementSize::Bit;
    case ElementSize::Void:
      return true;
    default:  // a primitive element
      if (size == ElementSize::Bit || size == ElementSize::Pointer) return false;
      if (size == ElementSize::InlineComposite) return data_bits > 0;
      return data_bits >= wire::element_bits(expected);
  }
}

}  // namespace

Result<StructReader> StructReader::read_struct(uint32_t index) const {
  if (!has_pointer(index)) return StructReader(context_, nullptr, 0, nullptr, 0, nesting_);
  if (nesting_ == 0) return kMalformed;
  const Word* at = pointers_ + index;
  const Word pointer = *at;
  if (wire::kind(pointer) != PointerKind::Struct) return kMalformed;
  const uint16_t data_words = wire::struct_data_words(pointer);
  const uint16_t pointer_count = wire::struct_pointer_count(pointer);
  const uint64_t words = static_cast<uint64_t>(data_words) + pointer_count;
  const Word* target = context_->resolve(at, pointer, words);
  if (target == nullptr) return kMalformed;
  if (!context_->charge(words == 0 ? 1 : words)) return kMalformed;
  return StructReader(context_, reinterpret_cast<const uint8_t*>(target), data_words * 8u,
                      target + data_words, pointer_count, nesting_ - 1);
}

Result<ListReader> StructReader::read_list(uint32_t index, uint32_t data_bits,
                                           uint16_t pointers) const {
  ElementSize expected = ElementSize::InlineComposite;
  if (pointers > 0) expected = ElementSize::Pointer;
  else if (data_bits == 1) expected = ElementSize::Bit;
  else if (data_bits == 8) expected = ElementSize::Byte;
  else if (data_bits == 16) expected = ElementSize::TwoBytes;
  else if (data_bits == 32) expected = ElementSize::FourBytes;
  else if (data_bits == 64) expected = ElementSize::EightBytes;

  if (!has_pointer(index)) return ListReader(context_, nullptr, 0, 0, data_bits, pointers, nesting_);
  if (nesting_ == 0) return kMalformed;
  const Word* at = pointers_ + index;
  const Word pointer = *at;
  if (wire::kind(pointer) != PointerKind::List) return kMalformed;
  const ElementSize size = wire::list_element_size(pointer);

  if (size == ElementSize::InlineComposite) {
    const uint64_t words = wire::list_count(pointer);
    const Word* tag = context_->resolve(at, pointer, words + 1);
    if (tag == nullptr) return kMalformed;
    if (wire::kind(*tag) != PointerKind::Struct) return kMalformed;
    const uint32_t count = static_cast<uint32_t>(*tag) >> 2;
    const uint16_t data_words = wire::struct_data_words(*tag);
    const uint16_t pointer_count = wire::struct_pointer_count(*tag);
    const uint64_t per_element = static_cast<uint64_t>(data_words) + pointer_count;
    if (per_element * count > words) return kMalformed;
    // Zero-sized elements still cost a word each, so a huge empty list cannot amplify reads.
    const uint64_t cost = 1 + (per_element == 0 ? count : per_element * count);
    if (!context_->charge(cost)) return kMalformed;
    if (!compatible(size, expected, data_words * 64u, pointer_count)) return kMalformed;
    return ListReader(context_, reinterpret_cast<const uint8_t*>(tag + 1), count, per_element * 64,
                      data_words * 64u, pointer_count, nesting_ - 1);
  }

  const uint32_t count = wire::list_count(pointer);
  const uint64_t bits = wire::element_bits(size);
  const uint64_t words = (static_cast<uint64_t>(count) * bits + 63) / 64;
  const Word* target = context_->resolve(at, pointer, words);
  if (target == nullptr) return kMalformed;
  if (!context_->charge(bits == 0 ? (count == 0 ? 1 : count) : (words == 0 ? 1 : words))) {
    return kMalformed;
  }
  const bool is_pointer_list = size == ElementSize::Pointer;
  const uint32_t element_data_bits = is_pointer_list ? 0 : static_cast<uint32_t>(bits);
  const uint16_t element_pointers = is_pointer_list ? 1 : 0;
  if (!compatible(size, expected, element_data_bits, element_pointers)) return kMalformed;
  return ListReader(context_, reinterpret_cast<const uint8_t*>(target), count, bits,
                    element_data_bits, element_pointers, nesting_ - 1);
}

Result<CapIndex> StructReader::read_capability(uint32_t index) const {
  if (!has_pointer(index)) return Error::InvalidCapability;
  const Word pointer = pointers_[index];
  if (!wire::is_capability(pointer)) return kMalformed;
  const uint32_t slot = wire::capability_index(pointer);
  // A well-formed pointer to a capability that is not there: the sender's cap lacked Grant (the
  // kernel delivers the words without the caps), or the receiver named no receive slot.
  if (slot >= context_->cap_count) return Error::MissingCapability;
  return CapIndex{slot};
}

StructReader ListReader::struct_at(uint32_t i) const {
  if (i >= count_ || step_bits_ % 8 != 0) return StructReader(context_, nullptr, 0, nullptr, 0, nesting_);
  const uint8_t* element = elements_ + (step_bits_ / 8) * i;
  const uint32_t data_bytes = element_data_bits_ / 8;
  return StructReader(context_, element, data_bytes,
                      reinterpret_cast<const Word*>(element + data_bytes), element_pointers_,
                      nesting_);
}

Result<StructReader> MessageReader::root() {
  StructReader out;
  const Error e = read_any_root(&out);
  if (e != Error::Ok) return e;
  return out;
}

MessageReader::Place MessageReader::place_any_root() {
  RootPlace place;
  const Error e = locate_root(context_.segment, context_.size_words, nesting_, &place);
  if (e != Error::Ok) return Place::failed(e);
  if (place.target == nullptr) return Place{context_.segment, 0};  // a null root: all defaults
  if (!charge_root(place)) return Place::failed(Error::MalformedMessage);
  return Place{place.target, wire::make_struct(0, place.data_words, place.pointer_count)};
}

Error MessageReader::locate_root(const Word* segment, uint32_t size_words, uint32_t nesting, RootPlace* place) {
  *place = RootPlace{nullptr, 0, 0};
  if (segment == nullptr || size_words == 0) return Error::TruncatedMessage;
  // The root pointer, read as the single pointer of an imaginary parent one level above: the
  // same checks as read_struct, without building that parent.
  const Word pointer = segment[0];
  if (pointer == 0) return Error::Ok;
  if (nesting == 0 || wire::kind(pointer) != PointerKind::Struct) return kMalformed;
  const uint16_t data_words = wire::struct_data_words(pointer);
  const uint16_t pointer_count = wire::struct_pointer_count(pointer);
  const uint64_t words = static_cast<uint64_t>(data_words) + pointer_count;
  ReadContext context;
  context.segment = segment;
  context.size_words = size_words;
  const Word* target = context.resolve(segment, pointer, words);
  if (target == nullptr) return kMalformed;
  *place = RootPlace{target, data_words, pointer_count};
  return Error::Ok;
}

}  // namespace tessera::capnp
