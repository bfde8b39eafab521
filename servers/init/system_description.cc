#include "system_description.h"

#include <tessera/string.h>

namespace init {
namespace {
using tessera::Error;
using tessera::Result;

// A piece of the input: no NUL terminator, never read past `size`.
struct Span {
  const char* data = nullptr;
  size_t size = 0;

  bool equals(const char* text) const { return strlen(text) == size && memcmp(data, text, size) == 0; }
  bool starts_with(const char* prefix) const {
    const size_t n = strlen(prefix);
    return n <= size && memcmp(data, prefix, n) == 0;
  }
  Span after(size_t n) const { return n >= size ? Span{data + size, 0} : Span{data + n, size - n}; }
};

bool is_space(char c) { return c == ' ' || c == '\t' || c == '\r'; }

// Splits off the next token of `rest` at `separator` (or whitespace when separator is 0).
Span next_token(Span* rest, char separator = 0) {
  size_t i = 0;
  if (separator == 0) {
    while (i < rest->size && is_space(rest->data[i])) ++i;
  }
  const size_t start = i;
  while (i < rest->size && (separator == 0 ? !is_space(rest->data[i]) : rest->data[i] != separator)) ++i;
  const Span token{rest->data + start, i - start};
  *rest = rest->after(separator != 0 && i < rest->size ? i + 1 : i);
  return token;
}

bool valid_name(Span s) {
  if (s.size == 0 || s.size >= kNameBytes) return false;
  for (size_t i = 0; i < s.size; ++i) {
    const char c = s.data[i];
    if (!((c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '_' || c == '-')) return false;
  }
  return true;
}

void copy_name(char* out, size_t capacity, Span s) {
  const size_t n = s.size < capacity ? s.size : capacity - 1;
  memcpy(out, s.data, n);
  out[n] = '\0';
}

bool parse_number(Span s, uint64_t limit, uint64_t* out) {
  if (s.size == 0 || s.size > 15) return false;  // 15 digits cannot overflow
  uint64_t value = 0;
  for (size_t i = 0; i < s.size; ++i) {
    if (s.data[i] < '0' || s.data[i] > '9') return false;
    value = value * 10 + static_cast<uint64_t>(s.data[i] - '0');
  }
  if (value > limit) return false;
  *out = value;
  return true;
}

// A number in decimal or, with 0x, in hex, at most `limit`.
bool parse_integer(Span s, uint64_t limit, uint64_t* out) {
  if (!s.starts_with("0x")) return parse_number(s, limit, out);
  s = s.after(2);
  if (s.size == 0 || s.size > 15) return false;
  uint64_t value = 0;
  for (size_t i = 0; i < s.size; ++i) {
    const char c = s.data[i];
    const int digit = c >= '0' && c <= '9' ? c - '0' : c >= 'a' && c <= 'f' ? c - 'a' + 10 : c >= 'A' && c <= 'F' ? c - 'A' + 10 : -1;
    if (digit < 0) return false;
    value = value * 16 + static_cast<uint64_t>(digit);
  }
  if (value > limit) return false;
  *out = value;
  return true;
}

// Exactly `digits` hex digits.
bool parse_hex_digits(Span s, size_t digits, uint64_t limit, uint64_t* out) {
  if (s.size != digits) return false;
  const char prefixed[2] = {'0', 'x'};
  char text[8] = {};
  if (digits + 2 > sizeof(text)) return false;
  memcpy(text, prefixed, 2);
  memcpy(text + 2, s.data, digits);
  return parse_integer(Span{text, digits + 2}, limit, out);
}

bool parse_rights(Span s, uint8_t* out, bool* unbadged) {
  uint8_t rights = 0;
  for (size_t i = 0; i < s.size; ++i) {
    switch (s.data[i]) {
      case 'r': rights |= tessera::abi::kRightRead; break;
      case 'w': rights |= tessera::abi::kRightWrite; break;
      case 'g': rights |= tessera::abi::kRightGrant; break;
      case 'p': rights |= tessera::abi::kRightGrantReply; break;
      case 'm': *unbadged = true; break;
      default: return false;
    }
  }
  if (rights == 0) return false;
  *out = rights;
  return true;
}

class Parser {
 public:
  Parser(SystemDescription* out, ParseError* error) : out_(out), error_(error) {}

  Result<void> line(uint32_t number, Span text) {
    line_ = number;
    Span rest = text;
    const Span keyword = next_token(&rest);
    if (keyword.size == 0) return {};
    if (keyword.equals("endpoint")) return object(ObjectKind::Endpoint, rest);
    if (keyword.equals("notification")) return object(ObjectKind::Notification, rest);
    if (keyword.equals("irq")) return hardware(ObjectKind::Irq, rest);
    if (keyword.equals("ioports")) return hardware(ObjectKind::IoPorts, rest);
    if (keyword.equals("pci")) return hardware(ObjectKind::Pci, rest);
    if (keyword.equals("control")) return object(ObjectKind::Control, rest);
    if (keyword.equals("trace")) return hardware(ObjectKind::Trace, rest);
    if (keyword.equals("program")) return program(rest);
    return fail("unknown declaration (expected endpoint, notification, control, irq, ioports, pci, trace or program)");
  }

 private:
  Result<void> fail(const char* reason, Error error = Error::InvalidArgument) {
    error_->line = line_;
    error_->reason = reason;
    error_->subject[0] = '\0';
    return error;
  }
  // The same, naming what the error is about (cut to fit).
  Result<void> fail(const char* reason, Span subject, Error error = Error::InvalidArgument) {
    Result<void> r = fail(reason, error);
    copy_name(error_->subject, sizeof(error_->subject), subject);
    return r;
  }

  // The name of a new object: checked, not declared before, room for it.
  Result<void> new_object(Span name) {
    if (!valid_name(name)) return fail("bad object name (1-23 of a-z 0-9 _ -)", name);
    for (uint32_t i = 0; i < out_->object_count; ++i) {
      if (name.equals(out_->objects[i].name)) return fail("object declared twice", name);
    }
    if (out_->object_count == kMaxSystemObjects) return fail("too many objects", Error::RangeError);
    return {};
  }

  Result<void> object(ObjectKind kind, Span rest) {
    const Span name = next_token(&rest);
    TRY(new_object(name));
    if (next_token(&rest).size != 0) return fail("unexpected text after the object name");
    ObjectDeclaration& o = out_->objects[out_->object_count++];
    o.kind = kind;
    copy_name(o.name, sizeof(o.name), name);
    return {};
  }

  // irq, ioports and pci: KEY=VALUE options after the name.
  Result<void> hardware(ObjectKind kind, Span rest) {
    const Span name = next_token(&rest);
    TRY(new_object(name));
    ObjectDeclaration o;
    o.kind = kind;
    copy_name(o.name, sizeof(o.name), name);
    bool have_line = false, have_first = false, have_last = false, have_vendor = false, have_device = false;
    for (Span word = next_token(&rest); word.size > 0; word = next_token(&rest)) {
      Span value = word;
      const Span key = next_token(&value, '=');
      if (key.size == word.size) return fail("hardware options are KEY=VALUE");
      uint64_t n = 0;
      if (kind == ObjectKind::Irq && key.equals("line")) {
        if (!parse_integer(value, kMaxIrqLine, &n)) return fail("line is an IOAPIC line, 0-23");
        o.line = static_cast<uint8_t>(n);
        have_line = true;
      } else if (kind == ObjectKind::Irq && key.equals("trigger")) {
        if (!value.equals("edge") && !value.equals("level")) return fail("trigger is edge or level");
        o.level = value.equals("level");
      } else if (kind == ObjectKind::Irq && key.equals("polarity")) {
        if (!value.equals("high") && !value.equals("low")) return fail("polarity is high or low");
        o.active_low = value.equals("low");
      } else if (kind == ObjectKind::IoPorts && (key.equals("first") || key.equals("last"))) {
        if (!parse_integer(value, 0xFFFF, &n)) return fail("ports are 0-0xffff");
        (key.equals("first") ? o.first : o.last) = static_cast<uint16_t>(n);
        (key.equals("first") ? have_first : have_last) = true;
      } else if (kind == ObjectKind::Pci && (key.equals("vendor") || key.equals("device"))) {
        if (!value.starts_with("0x") || !parse_integer(value, 0xFFFF, &n)) return fail("vendor and device are 0x0000-0xffff");
        (key.equals("vendor") ? o.vendor : o.device) = static_cast<uint16_t>(n);
        (key.equals("vendor") ? have_vendor : have_device) = true;
      } else if (kind == ObjectKind::Trace && key.equals("ring")) {
        if (!parse_number(value, 7, &n)) return fail("ring is a CPU number, 0-7");
        o.ring = true;
        o.cpu = static_cast<uint8_t>(n);
      } else if (kind == ObjectKind::Pci && key.equals("index")) {
        if (!parse_number(value, 255, &n)) return fail("index is 0-255");
        o.index = static_cast<uint8_t>(n);
      } else if (kind == ObjectKind::Pci && key.equals("slot")) {
        // BB:DD.F in hex, as lspci prints it.
        Span text = value;
        const Span bus = next_token(&text, ':');
        const Span device = next_token(&text, '.');
        uint64_t b = 0, d = 0, f = 0;
        if (!parse_hex_digits(bus, 2, 0xFF, &b) || !parse_hex_digits(device, 2, 31, &d) ||
            !parse_hex_digits(text, 1, 7, &f)) {
          return fail("slot is BB:DD.F (hex bus, device 00-1f, function 0-7)");
        }
        o.by_slot = true;
        o.bus = static_cast<uint8_t>(b);
        o.slot = static_cast<uint8_t>(d);
        o.function = static_cast<uint8_t>(f);
      } else {
        return fail(kind == ObjectKind::Irq       ? "unknown irq option (line trigger polarity)"
                    : kind == ObjectKind::IoPorts ? "unknown ioports option (first last)"
                    : kind == ObjectKind::Trace   ? "unknown trace option (ring)"
                                                  : "unknown pci option (vendor device index slot)",
                    key);
      }
    }
    if (kind == ObjectKind::Irq && !have_line) return fail("irq needs line=N");
    if (kind == ObjectKind::IoPorts) {
      if (!have_first || !have_last) return fail("ioports needs first= and last=");
      if (o.first > o.last) return fail("ioports: first is above last");
      if (o.first <= 0xCFF && o.last >= 0xCF8) return fail("ioports: 0xcf8-0xcff are PCI configuration ports (use pci)");
    }
    if (kind == ObjectKind::Pci) {
      if (o.by_slot && (have_vendor || have_device)) return fail("pci: give slot= or vendor= and device=, not both");
      if (!o.by_slot && (!have_vendor || !have_device)) return fail("pci needs vendor= and device=, or slot=");
    }
    out_->objects[out_->object_count++] = o;
    return {};
  }

  Result<void> grants(ProgramDeclaration& p, Span list) {
    while (list.size > 0) {
      Span item = next_token(&list, ',');
      const Span kind_text = next_token(&item, ':');
      const Span name = next_token(&item, ':');
      ObjectKind kind;
      if (kind_text.equals("endpoint")) {
        kind = ObjectKind::Endpoint;
      } else if (kind_text.equals("notification")) {
        kind = ObjectKind::Notification;
      } else if (kind_text.equals("irq")) {
        kind = ObjectKind::Irq;
      } else if (kind_text.equals("ioports")) {
        kind = ObjectKind::IoPorts;
      } else if (kind_text.equals("pci")) {
        kind = ObjectKind::Pci;
      } else if (kind_text.equals("control")) {
        kind = ObjectKind::Control;
      } else if (kind_text.equals("trace")) {
        kind = ObjectKind::Trace;
      } else {
        return fail("grant kind must be endpoint, notification, control, irq, ioports, pci or trace", kind_text);
      }
      const uint32_t index = out_->find_object(kind, name.data, name.size);
      if (index == out_->object_count) return fail("grant of an object not declared above", name);
      if (kind_text.size + 1 + name.size >= kNameBytes) return fail("grant name KIND:NAME longer than 23", name);
      GrantDeclaration g{index, tessera::abi::kRightsAll};
      if ((is_hardware(kind) || kind == ObjectKind::Control) && item.size > 0) {
        return fail(kind == ObjectKind::Control ? "control grants take no rights or badge"
                                                : "hardware grants take no rights or badge", name);
      }
      const Span rights = next_token(&item, ':');
      if (rights.size > 0 && !parse_rights(rights, &g.rights, &g.unbadged)) return fail("bad rights (any of r w g p, and m)");
      if (g.unbadged && kind != ObjectKind::Endpoint) return fail("m (unbadged) is for endpoints", name);
      if (g.unbadged && item.size > 0) return fail("m (unbadged) takes no badge", name);
      if (item.size > 0 && (!parse_number(item, kMaxGrantBadge, &g.badge) || g.badge == 0)) {
        return fail("bad badge (a number from 1 to 2^48-1 after the rights)");
      }
      for (uint32_t i = 0; i < p.grant_count; ++i) {
        if (p.grants[i].object == index) return fail("object granted twice", name);
      }
      if (p.grant_count == tessera::sys::kMaxProcessGrants) return fail("too many grants", Error::RangeError);
      p.grants[p.grant_count++] = g;
    }
    return {};
  }

  Result<void> option(ProgramDeclaration& p, Span key, Span value) {
    uint64_t n = 0;
    if (key.equals("prio") || key.equals("mcp")) {
      if (!parse_number(value, 255, &n)) return fail("priorities are 0-255");
      (key.equals("prio") ? p.priority : p.mcp) = static_cast<uint8_t>(n);
    } else if (key.equals("budget") || key.equals("period")) {
      if (!parse_number(value, 10'000'000, &n) || n == 0) return fail("budget and period are 1-10000000 us");
      (key.equals("budget") ? p.budget_us : p.period_us) = n;
    } else if (key.equals("mem")) {
      // The memory quota (docs/memory.md): N MiB, mem=1M .. mem=4096M.
      const bool mib = value.size >= 2 && value.data[value.size - 1] == 'M';
      const Span number{value.data, mib ? value.size - 1 : 0};
      if (!mib || !parse_number(number, kMaxMemoryQuotaMiB, &n) || n == 0) return fail("mem is 1M-4096M");
      p.memory_bytes = n << 20;
    } else if (key.equals("restart")) {
      if (!value.equals("yes") && !value.equals("no")) return fail("restart is yes or no");
      p.restart = value.equals("yes");
    } else if (key.equals("image")) {
      if (!valid_name(value)) return fail("bad image name (1-23 of a-z 0-9 _ -)");
      copy_name(p.image, sizeof(p.image), value);
    } else if (key.equals("arg")) {
      if (value.size >= sizeof(p.argument)) return fail("arg longer than 63 characters");
      copy_name(p.argument, sizeof(p.argument), value);
    } else if (key.equals("cmdline")) {
      if (value.size == 0 || value.size >= sizeof(p.cmdline_keys)) return fail("cmdline is KEY[,KEY...], up to 63 characters");
      copy_name(p.cmdline_keys, sizeof(p.cmdline_keys), value);
    } else if (key.equals("grants")) {
      return grants(p, value);
    } else {
      return fail("unknown program option (image prio mcp budget period mem restart arg cmdline grants)", key);
    }
    return {};
  }

  Result<void> program(Span rest) {
    const Span name = next_token(&rest);
    if (!valid_name(name)) return fail("bad program name (1-23 of a-z 0-9 _ -)", name);
    for (uint32_t i = 0; i < out_->program_count; ++i) {
      if (name.equals(out_->programs[i].name)) return fail("program declared twice", name);
    }
    if (out_->program_count == kMaxSystemPrograms) return fail("too many programs", Error::RangeError);
    ProgramDeclaration p;
    copy_name(p.name, sizeof(p.name), name);
    copy_name(p.image, sizeof(p.image), name);
    for (Span word = next_token(&rest); word.size > 0; word = next_token(&rest)) {
      Span value = word;
      const Span key = next_token(&value, '=');
      if (key.size == word.size) return fail("program options are KEY=VALUE");
      TRY(option(p, key, value));
    }
    if ((p.budget_us == 0) != (p.period_us == 0)) return fail("give both budget and period, or neither");
    if (p.budget_us > p.period_us) return fail("budget exceeds period");
    out_->programs[out_->program_count++] = p;
    return {};
  }

  SystemDescription* out_;
  ParseError* error_;
  uint32_t line_ = 0;
};
}  // namespace

const char* kind_name(ObjectKind kind) {
  switch (kind) {
    case ObjectKind::Endpoint: return "endpoint";
    case ObjectKind::Notification: return "notification";
    case ObjectKind::Control: return "control";
    case ObjectKind::Irq: return "irq";
    case ObjectKind::IoPorts: return "ioports";
    case ObjectKind::Pci: return "pci";
    case ObjectKind::Trace: return "trace";
  }
  return "?";
}

uint32_t SystemDescription::find_object(ObjectKind kind, const char* name, size_t length) const {
  for (uint32_t i = 0; i < object_count; ++i) {
    if (objects[i].kind == kind && strlen(objects[i].name) == length && memcmp(objects[i].name, name, length) == 0) {
      return i;
    }
  }
  return object_count;
}

tessera::Result<void> parse_system_description(const char* text, size_t length, SystemDescription* out,
                                               ParseError* error) {
  *out = SystemDescription{};
  Parser parser(out, error);
  Span rest{text, text == nullptr ? 0 : length};
  for (uint32_t number = 1; rest.size > 0; ++number) {
    Span line = next_token(&rest, '\n');
    for (size_t i = 0; i < line.size; ++i) {
      if (line.data[i] == '#') line.size = i;  // a comment runs to the end of the line
    }
    for (size_t i = 0; i < line.size; ++i) {
      if (line.data[i] == '\0') {
        error->line = number;
        error->reason = "NUL byte in the description";
        return Error::InvalidArgument;
      }
    }
    TRY(parser.line(number, line));
  }
  return {};
}

}  // namespace init
