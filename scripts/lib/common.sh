# shellcheck shell=bash
# Shared by the developer scripts: locates the repository, ensures the Debian packages
# (deps.sh), and configures/builds the canonical build directory.
#
# TESSERA_BUILD_DIR overrides the build directory (default: build/ at the repository root).

tessera_root=$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)
tessera_build=${TESSERA_BUILD_DIR:-$tessera_root/build}
[[ $tessera_build = /* ]] || tessera_build=$tessera_root/$tessera_build

# shellcheck source=scripts/lib/deps.sh
source "$tessera_root/scripts/lib/deps.sh" || return 1

# Configures the build directory with the cross and native files unless it already is one.
# Later changes to meson.build files are picked up by ninja itself.
tessera_configure() {
  if [[ -f $tessera_build/meson-private/coredata.dat ]]; then
    return 0
  fi
  (cd "$tessera_root" && meson setup "$tessera_build" \
    --cross-file scripts/cross/x86_64-tessera.ini \
    --native-file scripts/cross/native.ini)
}

# Builds every target (kernel, ISO, host tests) with at most two jobs and low priority: the
# machine is shared.
tessera_build_all() {
  nice -n 10 ninja -C "$tessera_build" -j "${TESSERA_JOBS:-2}"
}

# Prints the path of the bootable image the build produces.
tessera_iso() {
  echo "$tessera_build/boot/tessera.iso"
}
