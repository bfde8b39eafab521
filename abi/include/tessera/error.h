// The one error enum of the system, shared by kernel and user space: tessera::Error, generated
// from `enum Error` in abi/base.capnp (one definition for kernel, libsys and servers), and
// error_name(Error), its enumerator's name for diagnostics.
//
// The header is generated into the build tree (abi/gen/tessera/abi/); every target that includes
// this file depends on abi_dep (or shared_dep), which puts it on the include path and generates it
// first. The golden copy in abi/golden/ is only compared against (the 'abi' host test), never built.
#pragma once

#include <tessera/abi/base.capnp.h>
