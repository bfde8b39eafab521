// tessera-capnpc: a Cap'n Proto compiler plugin that generates Tessera's freestanding C++ ABI.
//
//   capnp compile --src-prefix=<dir> -o<path>/tessera-capnpc:<outdir> <schema>.capnp
//
// reads the CodeGeneratorRequest on stdin and writes, for each requested file, <name>.capnp.h
// (freestanding) and <name>.capnp.dyn.h (host test shim) into the working directory, which
// capnp sets to <outdir>. Unsupported schema features are reported as "file:line: message"
// and fail the run. TESSERA_ABI_SRCDIR names the directory the schema paths are relative to
// (for line numbers); without it they are read relative to the working directory.
#include <capnp/serialize.h>
#include <kj/io.h>
#include <unistd.h>

#include <cstdio>
#include <cstdlib>
#include <fstream>
#include <iostream>

#include "emit.h"

namespace {

std::string basename_of(const std::string& path) {
  const size_t slash = path.rfind('/');
  return slash == std::string::npos ? path : path.substr(slash + 1);
}

bool write_file(const std::string& path, const std::string& content) {
  std::ofstream out(path, std::ios::binary | std::ios::trunc);
  out << content;
  return static_cast<bool>(out);
}

}  // namespace

int main() {
  capnp::ReaderOptions options;
  options.traversalLimitInWords = 1ull << 30;
  capnp::StreamFdMessageReader message(STDIN_FILENO, options);
  const auto request = message.getRoot<capnp::schema::CodeGeneratorRequest>();
  const char* source_root = std::getenv("TESSERA_ABI_SRCDIR");
  abigen::Model model(request, source_root != nullptr ? source_root : "");

  const auto problems = model.validate();
  if (!problems.empty()) {
    for (const auto& problem : problems) std::cerr << "tessera-capnpc: " << problem << "\n";
    return 1;
  }

  for (auto file : request.getRequestedFiles()) {
    const std::string basename = basename_of(file.getFilename().cStr());
    std::vector<std::string> imports;
    for (auto import : file.getImports()) {
      const std::string name = import.getName().cStr();
      if (name.rfind("/capnp/", 0) == 0) continue;  // libcapnp's own schemas have no header here
      imports.push_back(basename_of(name));
    }
    if (!write_file(basename + ".h", abigen::emit_header(model, file.getId(), basename, imports)) ||
        !write_file(basename + ".dyn.h", abigen::emit_dyn(model, file.getId(), basename))) {
      std::cerr << basename << ": cannot write the generated files\n";
      return 1;
    }
  }
  return 0;
}
