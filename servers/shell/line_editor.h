// The shell's line editor (raw console mode): bytes in, an edited line and the echo out. Pure logic
// (no I/O), so the host tests and the shell share it.
//
//   printable (0x20-0x7e)  appended and echoed; past kMaxLine the line is marked too long (the
//                          rest is swallowed until Enter, which then refuses it)
//   CR or LF (CR LF once)  ends the line ("\r\n" echoed)
//   BS or DEL              erases the last character ("\b \b")
//   Ctrl-C                 cancels the line ("^C" and a new line)
//   Ctrl-U                 erases the whole line
//   ESC [ ... final, ESC O x, ESC x   escape sequences (arrow and function keys): swallowed
//   anything else          (other control bytes, 0x80-0xff) ignored
#pragma once

#include <stddef.h>
#include <stdint.h>

namespace shell {

class LineEditor {
 public:
  static constexpr size_t kMaxLine = 200;

  enum class Event : uint8_t { None, Line, Cancelled, TooLong };

  // Feeds one byte; appends what to echo to `echo` (at most kMaxEcho bytes per byte fed, with
  // `echo_capacity` bounding the total). Line: the line is ready (line(), length()).
  static constexpr size_t kMaxEcho = 3 * kMaxLine + 8;
  Event feed(uint8_t byte, char* echo, size_t* echo_length, size_t echo_capacity) {
    auto put = [&](const char* text) {
      for (; *text != 0 && *echo_length < echo_capacity; ++text) echo[(*echo_length)++] = *text;
    };
    const bool was_cr = last_cr_;
    last_cr_ = byte == '\r';
    if (escape_ != 0) {
      // ESC then '[' (CSI: ends with a byte 0x40-0x7e), 'O' (SS3: one more byte) or one byte.
      if (escape_ == 1) {
        escape_ = byte == '[' ? 2 : byte == 'O' ? 3 : 0;
      } else if (escape_ == 3) {
        escape_ = 0;
      } else if (byte >= 0x40 && byte <= 0x7e) {
        escape_ = 0;
      } else if (++escape_length_ > 16) {
        escape_ = 0;  // not a sequence after all
      }
      return Event::None;
    }
    if (byte == '\n' && was_cr) return Event::None;
    if (byte == '\r' || byte == '\n') {
      put("\r\n");
      line_[length_] = '\0';
      const bool too_long = too_long_;
      finished_length_ = length_;
      length_ = 0;
      too_long_ = false;
      return too_long ? Event::TooLong : Event::Line;
    }
    if (byte == 0x7f || byte == 0x08) {
      if (length_ != 0 && !too_long_) {
        --length_;
        put("\b \b");
      }
      return Event::None;
    }
    if (byte == 0x03) {
      put("^C\r\n");
      length_ = 0;
      too_long_ = false;
      return Event::Cancelled;
    }
    if (byte == 0x15) {
      for (; length_ > 0; --length_) put("\b \b");
      too_long_ = false;
      return Event::None;
    }
    if (byte == 0x1b) {
      escape_ = 1;
      escape_length_ = 0;
      return Event::None;
    }
    if (byte < 0x20 || byte > 0x7e) return Event::None;
    if (too_long_) return Event::None;
    if (length_ == kMaxLine) {
      too_long_ = true;
      return Event::None;
    }
    line_[length_++] = static_cast<char>(byte);
    const char text[2] = {static_cast<char>(byte), 0};
    put(text);
    return Event::None;
  }

  // The finished line (NUL-terminated, valid until the next feed).
  char* line() { return line_; }
  size_t length() const { return finished_length_; }
  size_t pending() const { return length_; }
  bool too_long() const { return too_long_; }

 private:
  char line_[kMaxLine + 1] = {};
  size_t length_ = 0;
  size_t finished_length_ = 0;
  bool too_long_ = false;
  bool last_cr_ = false;
  uint8_t escape_ = 0;
  uint8_t escape_length_ = 0;
};

}  // namespace shell
