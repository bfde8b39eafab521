// Path handling of the shell: `path` (absolute, or relative to `cwd`) made absolute and normal —
// no ".", "..", empty or repeated components; "/" alone for the root. Pure logic.
#pragma once

#include <stddef.h>

namespace shell {

constexpr size_t kMaxPath = 256;

// Writes the normal absolute form of `path` into out[kMaxPath]; false when it does not fit.
inline bool resolve_path(const char* cwd, const char* path, char* out) {
  char joined[2 * kMaxPath + 2];
  size_t n = 0;
  auto append = [&](const char* text) {
    for (; *text != 0; ++text) {
      if (n + 1 >= sizeof(joined)) return false;
      joined[n++] = *text;
    }
    return true;
  };
  if (path[0] != '/') {
    if (!append(cwd) || !append("/")) return false;
  }
  if (!append(path)) return false;
  joined[n] = '\0';
  size_t length = 0;
  out[0] = '\0';
  for (size_t i = 0; i < n;) {
    while (i < n && joined[i] == '/') ++i;
    const size_t start = i;
    while (i < n && joined[i] != '/') ++i;
    const size_t size = i - start;
    if (size == 0 || (size == 1 && joined[start] == '.')) continue;
    if (size == 2 && joined[start] == '.' && joined[start + 1] == '.') {
      while (length > 0 && out[length - 1] != '/') --length;
      if (length > 0) --length;  // the '/' before the removed component
      out[length] = '\0';
      continue;
    }
    if (length + 1 + size + 1 > kMaxPath) return false;
    out[length++] = '/';
    for (size_t k = 0; k < size; ++k) out[length++] = joined[start + k];
    out[length] = '\0';
  }
  if (length == 0) {
    out[0] = '/';
    out[1] = '\0';
  }
  return true;
}

}  // namespace shell
