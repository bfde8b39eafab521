#include <tessera/format.h>

#include <stdint.h>

namespace tessera {
namespace {

struct Spec {
  bool left = false, zero = false, plus = false, space = false;
  int width = 0;
  int precision = -1;
};

class Writer {
 public:
  explicit Writer(FormatSink sink) : sink_(sink) {}
  void put(const char* text, size_t length) {
    if (length == 0) return;
    sink_.put(sink_.context, text, length);
    count_ += length;
  }
  void repeat(char c, int times) {
    for (int i = 0; i < times; ++i) put(&c, 1);
  }
  size_t count() const { return count_; }

 private:
  FormatSink sink_;
  size_t count_ = 0;
};

size_t string_length(const char* s, int precision) {
  size_t n = 0;
  while ((precision < 0 || n < static_cast<size_t>(precision)) && s[n] != '\0') ++n;
  return n;
}

void emit_padded(Writer& out, const Spec& spec, const char* text, size_t length) {
  const int pad = spec.width > static_cast<int>(length) ? spec.width - static_cast<int>(length) : 0;
  if (!spec.left) out.repeat(' ', pad);
  out.put(text, length);
  if (spec.left) out.repeat(' ', pad);
}

void emit_number(Writer& out, const Spec& spec, uint64_t value, bool negative, unsigned base, bool upper,
                 const char* prefix) {
  char digits[32];
  size_t n = 0;
  const char* alphabet = upper ? "0123456789ABCDEF" : "0123456789abcdef";
  do {
    digits[n++] = alphabet[value % base];
    value /= base;
  } while (value != 0);
  if (spec.precision == 0 && n == 1 && digits[0] == '0') n = 0;

  char sign = '\0';
  if (negative) sign = '-';
  else if (spec.plus) sign = '+';
  else if (spec.space) sign = ' ';

  const size_t prefix_len = string_length(prefix, -1);
  const int precision_zeros = spec.precision > static_cast<int>(n) ? spec.precision - static_cast<int>(n) : 0;
  const int body = static_cast<int>(n) + precision_zeros + static_cast<int>(prefix_len) + (sign ? 1 : 0);
  const int pad = spec.width > body ? spec.width - body : 0;
  const bool zero_pad = spec.zero && !spec.left && spec.precision < 0;

  if (!spec.left && !zero_pad) out.repeat(' ', pad);
  if (sign) out.put(&sign, 1);
  out.put(prefix, prefix_len);
  if (zero_pad) out.repeat('0', pad);
  out.repeat('0', precision_zeros);
  for (size_t i = n; i > 0; --i) out.put(&digits[i - 1], 1);
  if (spec.left) out.repeat(' ', pad);
}

enum class Length { Int, Char, Short, Long, LongLong, Size };

// Widths and precisions beyond this are clamped (no field is ever that wide; avoids int overflow).
constexpr int kMaxField = 4096;
template <typename T> constexpr T min(T a, T b) { return b < a ? b : a; }

uint64_t fetch_unsigned(va_list& args, Length length) {
  switch (length) {
    case Length::Char: return static_cast<unsigned char>(va_arg(args, unsigned int));
    case Length::Short: return static_cast<unsigned short>(va_arg(args, unsigned int));
    case Length::Long: return va_arg(args, unsigned long);
    case Length::LongLong: return va_arg(args, unsigned long long);
    case Length::Size: return va_arg(args, size_t);
    case Length::Int: break;
  }
  return va_arg(args, unsigned int);
}

int64_t fetch_signed(va_list& args, Length length) {
  switch (length) {
    case Length::Char: return static_cast<signed char>(va_arg(args, int));
    case Length::Short: return static_cast<short>(va_arg(args, int));
    case Length::Long: return va_arg(args, long);
    case Length::LongLong: return va_arg(args, long long);
    case Length::Size: return va_arg(args, long);
    case Length::Int: break;
  }
  return va_arg(args, int);
}

}  // namespace

size_t vformat(FormatSink sink, const char* fmt, va_list incoming) {
  va_list args;
  va_copy(args, incoming);
  Writer out(sink);
  const char* p = fmt;
  while (*p != '\0') {
    if (*p != '%') {
      const char* start = p;
      while (*p != '\0' && *p != '%') ++p;
      out.put(start, static_cast<size_t>(p - start));
      continue;
    }
    const char* conversion_start = p++;
    Spec spec;
    for (;; ++p) {
      if (*p == '-') spec.left = true;
      else if (*p == '0') spec.zero = true;
      else if (*p == '+') spec.plus = true;
      else if (*p == ' ') spec.space = true;
      else break;
    }
    if (*p == '*') {
      spec.width = va_arg(args, int);
      if (spec.width < 0) { spec.left = true; spec.width = -spec.width; }
      ++p;
    } else {
      while (*p >= '0' && *p <= '9') spec.width = min(spec.width * 10 + (*p++ - '0'), kMaxField);
    }
    if (*p == '.') {
      ++p;
      spec.precision = 0;
      if (*p == '*') {
        spec.precision = va_arg(args, int);
        ++p;
      } else {
        while (*p >= '0' && *p <= '9') spec.precision = min(spec.precision * 10 + (*p++ - '0'), kMaxField);
      }
    }
    Length length = Length::Int;
    if (*p == 'h') { ++p; length = Length::Short; if (*p == 'h') { ++p; length = Length::Char; } }
    else if (*p == 'l') { ++p; length = Length::Long; if (*p == 'l') { ++p; length = Length::LongLong; } }
    else if (*p == 'z' || *p == 'j' || *p == 't') { ++p; length = Length::Size; }

    const char c = *p;
    if (c == '\0') {
      out.put(conversion_start, static_cast<size_t>(p - conversion_start));
      break;
    }
    ++p;
    switch (c) {
      case '%': out.put("%", 1); break;
      case 'c': {
        const char ch = static_cast<char>(va_arg(args, int));
        emit_padded(out, spec, &ch, 1);
        break;
      }
      case 's': {
        const char* s = va_arg(args, const char*);
        if (s == nullptr) s = "(null)";
        emit_padded(out, spec, s, string_length(s, spec.precision));
        break;
      }
      case 'd': case 'i': {
        const int64_t v = fetch_signed(args, length);
        const uint64_t magnitude = v < 0 ? 0 - static_cast<uint64_t>(v) : static_cast<uint64_t>(v);
        emit_number(out, spec, magnitude, v < 0, 10, false, "");
        break;
      }
      case 'u': emit_number(out, spec, fetch_unsigned(args, length), false, 10, false, ""); break;
      case 'x': emit_number(out, spec, fetch_unsigned(args, length), false, 16, false, ""); break;
      case 'X': emit_number(out, spec, fetch_unsigned(args, length), false, 16, true, ""); break;
      case 'o': emit_number(out, spec, fetch_unsigned(args, length), false, 8, false, ""); break;
      case 'p': {
        Spec pointer_spec = spec;
        if (pointer_spec.precision < 0) pointer_spec.precision = 16;
        emit_number(out, pointer_spec, reinterpret_cast<uintptr_t>(va_arg(args, void*)), false, 16, false, "0x");
        break;
      }
      default:
        out.put(conversion_start, static_cast<size_t>(p - conversion_start));
        break;
    }
  }
  va_end(args);
  return out.count();
}

size_t format(FormatSink sink, const char* fmt, ...) {
  va_list args;
  va_start(args, fmt);
  const size_t n = vformat(sink, fmt, args);
  va_end(args);
  return n;
}

namespace {
struct BufferSink {
  char* buffer;
  size_t capacity;
  size_t used;
};
void put_to_buffer(void* context, const char* text, size_t length) {
  auto* b = static_cast<BufferSink*>(context);
  for (size_t i = 0; i < length; ++i) {
    if (b->used + 1 < b->capacity) b->buffer[b->used] = text[i];
    ++b->used;
  }
}
}  // namespace

size_t vformat_to(char* buffer, size_t capacity, const char* fmt, va_list args) {
  BufferSink b{buffer, capacity, 0};
  const size_t n = vformat(FormatSink{put_to_buffer, &b}, fmt, args);
  if (capacity > 0) buffer[b.used < capacity ? b.used : capacity - 1] = '\0';
  return n;
}

size_t format_to(char* buffer, size_t capacity, const char* fmt, ...) {
  va_list args;
  va_start(args, fmt);
  const size_t n = vformat_to(buffer, capacity, fmt, args);
  va_end(args);
  return n;
}

}  // namespace tessera
