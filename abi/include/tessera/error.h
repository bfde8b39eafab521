// The one error enum of the system, shared by kernel and user space: tessera::Error, generated
// from `enum Error` in abi/base.capnp (one definition for kernel, libsys and servers).
//
// Targets that depend on abi_dep get the header generated into the build tree; others fall back
// to the checked-in golden copy, which the 'abi' test suite keeps identical to it. Both carry
// the same include guard, so a translation unit never sees two definitions.
#pragma once

#if __has_include(<tessera/abi/base.capnp.h>)
#include <tessera/abi/base.capnp.h>
#else
#include "../../golden/base.capnp.h"
#endif
