// Cap'n Proto wire format, single segment: pointer words and the small value types the runtime
// hands out (Text, Data, capability references). See docs/abi.md and capnproto.org/encoding.html.
// Little-endian only: the target is x86-64 and so is every host that runs the tests.
#pragma once

#include <stdint.h>

namespace tessera::capnp {

static_assert(__BYTE_ORDER__ == __ORDER_LITTLE_ENDIAN__, "the runtime reads words in place");

using Word = uint64_t;

// Element size of a list pointer (bits 32..34 of the pointer word).
enum class ElementSize : uint8_t {
  Void = 0, Bit = 1, Byte = 2, TwoBytes = 3, FourBytes = 4, EightBytes = 5, Pointer = 6,
  InlineComposite = 7,
};

// Pointer kinds (bits 0..1 of the pointer word).
enum class PointerKind : uint8_t { Struct = 0, List = 1, Far = 2, Other = 3 };

namespace wire {
constexpr PointerKind kind(Word w) { return static_cast<PointerKind>(w & 3); }
// Signed offset in words from the end of the pointer to the target (struct and list pointers).
constexpr int32_t offset(Word w) { return static_cast<int32_t>(static_cast<uint32_t>(w)) >> 2; }
constexpr uint16_t struct_data_words(Word w) { return static_cast<uint16_t>(w >> 32); }
constexpr uint16_t struct_pointer_count(Word w) { return static_cast<uint16_t>(w >> 48); }
constexpr ElementSize list_element_size(Word w) { return static_cast<ElementSize>((w >> 32) & 7); }
constexpr uint32_t list_count(Word w) { return static_cast<uint32_t>(w >> 35); }
// A capability pointer is an "other" pointer with all of bits 2..31 clear.
constexpr bool is_capability(Word w) { return (w & 0xFFFF'FFFFu) == 3; }
constexpr uint32_t capability_index(Word w) { return static_cast<uint32_t>(w >> 32); }

constexpr Word make_struct(int32_t offset_words, uint16_t data_words, uint16_t pointer_count) {
  return (static_cast<Word>(static_cast<uint32_t>(offset_words) << 2)) |
         (static_cast<Word>(data_words) << 32) | (static_cast<Word>(pointer_count) << 48);
}
constexpr Word make_list(int32_t offset_words, ElementSize size, uint32_t count) {
  return (static_cast<Word>(static_cast<uint32_t>(offset_words) << 2)) | 1u |
         (static_cast<Word>(size) << 32) | (static_cast<Word>(count) << 35);
}
constexpr Word make_capability(uint32_t index) { return 3u | (static_cast<Word>(index) << 32); }

// Bits per element for the non-composite sizes (InlineComposite is computed from the tag).
constexpr uint32_t element_bits(ElementSize size) {
  constexpr uint32_t kBits[8] = {0, 1, 8, 16, 32, 64, 64, 0};
  return kBits[static_cast<uint8_t>(size)];
}

// The largest element count a list pointer can carry (29 bits).
constexpr uint32_t kMaxListCount = (1u << 29) - 1;
}  // namespace wire

// A byte string inside a message (or a caller's constant). `size` excludes the NUL terminator
// that Text carries on the wire; `data` is never null for a value handed out by the reader.
struct Text {
  const char* data = "";
  uint32_t size = 0;

  constexpr Text() = default;
  constexpr Text(const char* bytes, uint32_t length) : data(bytes), size(length) {}
  template <uint32_t N>
  constexpr Text(const char (&literal)[N]) : data(literal), size(N - 1) {}  // NOLINT: implicit

  constexpr bool operator==(const Text& other) const {
    if (size != other.size) return false;
    for (uint32_t i = 0; i < size; ++i) {
      if (data[i] != other.data[i]) return false;
    }
    return true;
  }
};

// Raw bytes inside a message.
struct Data {
  const uint8_t* data = nullptr;
  uint32_t size = 0;
};

// A received capability: an index into the message's capability table (for kernel invocations,
// the extra-capability slots of the IPC buffer). The reader guarantees index < cap count.
struct CapIndex {
  uint32_t value = 0;
};

// A capability to send: an address (CPtr) in the sender's CSpace. The builder appends it to the
// outgoing capability table and writes a capability pointer with its index.
struct CapRef {
  uint64_t cptr = 0;
};

}  // namespace tessera::capnp
