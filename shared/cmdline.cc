#include <tessera/cmdline.h>

namespace tessera {
namespace {

constexpr bool is_blank(char c) { return c == ' ' || c == '\t' || c == '\n' || c == '\r'; }

// Splits `word` into key and value; a bare word has an empty value.
void split_word(StringView word, StringView* key, StringView* value) {
  size_t equals = word.find('=');
  if (equals == StringView::kNotFound) {
    *key = word;
    *value = StringView();
  } else {
    *key = word.substr(0, equals);
    *value = word.substr(equals + 1);
  }
}

}  // namespace

CommandLine::CommandLine(StringView text) : buffer_{} { append(text); }

void CommandLine::append(StringView more) {
  size_t pos = 0;
  while (pos < more.size) {
    while (pos < more.size && is_blank(more.data[pos])) ++pos;
    size_t start = pos;
    while (pos < more.size && !is_blank(more.data[pos])) ++pos;
    size_t word_length = pos - start;
    if (word_length == 0) break;
    size_t separator = length_ == 0 ? 0 : 1;
    if (word_length > kCapacity - length_ || separator > kCapacity - length_ - word_length) {
      truncated_ = true;
      return;
    }
    if (separator != 0) buffer_[length_++] = ' ';
    for (size_t i = 0; i < word_length; ++i) buffer_[length_ + i] = more.data[start + i];
    length_ += word_length;
  }
}

bool CommandLine::get(StringView key, StringView* value) const {
  if (key.empty()) return false;
  bool found = false;
  StringView last;
  for_each_word([&](StringView word) {
    StringView word_key;
    StringView word_value;
    split_word(word, &word_key, &word_value);
    if (word_key.equals(key)) {
      found = true;
      last = word_value;
    }
  });
  if (found) *value = last;
  return found;
}

bool CommandLine::has(StringView key) const {
  StringView ignored;
  return get(key, &ignored);
}

Result<uint64_t> CommandLine::get_u64(StringView key) const {
  StringView value;
  if (!get(key, &value)) return Error::FailedLookup;
  return parse_u64(value);
}

}  // namespace tessera
