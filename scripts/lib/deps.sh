# shellcheck shell=bash
# Sourced by every developer script. Guarantees that the Debian 12 packages Tessera needs are
# installed: it asks dpkg-query once (fast and silent when everything is present) and installs
# only the missing packages, with apt-get as root or through sudo otherwise.

tessera_required_packages=(
  meson ninja-build clang lld libclang-rt-14-dev binutils g++ python3
  qemu-system-x86 grub-pc-bin grub-common xorriso mtools
  catch2 capnproto libcapnp-dev pkg-config gdb e2fsprogs python3-matplotlib
)

# Prints the required packages that dpkg does not report as installed, one per line.
tessera_missing_packages() {
  local status
  status=$(dpkg-query -W -f='${Package} ${db:Status-Abbrev}\n' "${tessera_required_packages[@]}" 2>/dev/null || true)
  local pkg
  for pkg in "${tessera_required_packages[@]}"; do
    # "ii " = desired install, currently installed.
    if ! grep -qx "$pkg ii " <<<"$status"; then
      echo "$pkg"
    fi
  done
}

# Installs whatever is missing; returns non-zero (with a message on stderr) if that fails.
tessera_ensure_deps() {
  if ! command -v dpkg-query >/dev/null 2>&1; then
    echo "deps: dpkg-query not found: Tessera's scripts expect Debian 12; install the packages listed in" \
      "scripts/lib/deps.sh by hand and set TESSERA_SKIP_DEPS=1" >&2
    return 1
  fi
  local missing
  mapfile -t missing < <(tessera_missing_packages)
  [[ ${#missing[@]} -eq 0 ]] && return 0

  local -a sudo=()
  if [[ $(id -u) -ne 0 ]]; then
    if ! command -v sudo >/dev/null 2>&1; then
      echo "deps: missing packages (${missing[*]}) and no sudo to install them as $(id -un)" >&2
      return 1
    fi
    sudo=(sudo)
  fi
  echo "deps: installing ${missing[*]}" >&2
  "${sudo[@]}" env DEBIAN_FRONTEND=noninteractive apt-get update -q >&2 &&
    "${sudo[@]}" env DEBIAN_FRONTEND=noninteractive apt-get install -y -q --no-install-recommends \
      "${missing[@]}" >&2
}

if [[ ${TESSERA_SKIP_DEPS:-0} != 1 ]]; then
  tessera_ensure_deps || return 1
fi
