// CommandLine: the one command-line parser of the system, for the kernel's boot options (the
// multiboot2 command line and text appended later, e.g. by fw_cfg) and for user programs (the
// command line in BootInfo). Words are separated by blanks (space, tab, CR, LF); each word is
// `key` or `key=value`. There is no quoting. The last occurrence of a key wins, so appended text
// overrides earlier text. Storage is a fixed 1024-byte buffer: input that does not fit is
// truncated at a word boundary (a word is kept whole or dropped), never overflowing.
#pragma once

#include <stddef.h>
#include <stdint.h>
#include <tessera/result.h>

#include <tessera/string_view.h>

namespace tessera {

class CommandLine {
 public:
  static constexpr size_t kCapacity = 1024;

  // An empty command line (constant-initialised, so it can be a global without a constructor).
  constexpr CommandLine() : buffer_{} {}
  // Parses `text` (it is copied; the caller's buffer may go away).
  explicit CommandLine(StringView text);

  // True when `key` appears, bare or with a value.
  bool has(StringView key) const;
  // Finds the last occurrence of `key`; stores its value (empty for a bare `key` or `key=`) in
  // `*value` and returns true, or returns false and leaves `*value` untouched. The view points into
  // this object and stays valid for its lifetime (append never moves stored text).
  bool get(StringView key, StringView* value) const;
  // The value of `key` parsed by parse_u64. FailedLookup when the key is absent; otherwise the
  // parse_u64 errors (a bare key has an empty value: InvalidArgument).
  Result<uint64_t> get_u64(StringView key) const;
  // Adds the words of `more` after the current ones (so its keys override earlier ones).
  // Words that do not fit are dropped, as is everything after the first one that does not fit.
  void append(StringView more);

  // The normalised text: words separated by single spaces.
  StringView text() const { return StringView(buffer_, length_); }
  // True when some input was dropped for lack of space.
  bool truncated() const { return truncated_; }

  // Calls fn(StringView word) for every word, in order.
  template <typename Fn>
  void for_each_word(Fn&& fn) const {
    StringView all = text();
    size_t start = 0;
    while (start < all.size) {
      size_t end = all.find(' ', start);
      if (end == StringView::kNotFound) end = all.size;
      fn(all.substr(start, end - start));
      start = end + 1;
    }
  }

 private:
  char buffer_[kCapacity];
  size_t length_ = 0;
  bool truncated_ = false;
};

// Splits a comma-separated list ("a,b,,c") and calls fn(StringView item) for each non-empty item,
// in order.
template <typename Fn>
void for_each_in_list(StringView list, Fn&& fn) {
  size_t start = 0;
  while (start < list.size) {
    size_t end = list.find(',', start);
    if (end == StringView::kNotFound) end = list.size;
    if (end > start) fn(list.substr(start, end - start));
    start = end + 1;
  }
}

}  // namespace tessera
