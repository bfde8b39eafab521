// Access rights carried by a capability. Rights can only be removed as caps are derived.
#pragma once

#include <stdint.h>

namespace tessera::cap {

// A set of rights. Endpoint: Write = send, Read = receive, Grant = transfer caps, GrantReply =
// send reply caps. Notification: Write = signal, Read = wait. Frames: mapping rights.
class CapRights {
 public:
  static constexpr uint8_t kRead = 1u << 0;
  static constexpr uint8_t kWrite = 1u << 1;
  static constexpr uint8_t kGrant = 1u << 2;
  static constexpr uint8_t kGrantReply = 1u << 3;
  static constexpr uint8_t kAllBits = kRead | kWrite | kGrant | kGrantReply;

  constexpr CapRights() = default;
  // Keeps only the four defined right bits of `bits`; undefined bits are dropped.
  constexpr explicit CapRights(uint64_t bits) : bits_(static_cast<uint8_t>(bits & kAllBits)) {}

  static constexpr CapRights none() { return CapRights(); }
  static constexpr CapRights all() { return CapRights(kAllBits); }
  static constexpr CapRights read() { return CapRights(kRead); }
  static constexpr CapRights write() { return CapRights(kWrite); }
  static constexpr CapRights grant() { return CapRights(kGrant); }
  static constexpr CapRights grant_reply() { return CapRights(kGrantReply); }

  constexpr uint8_t bits() const { return bits_; }
  // True when every right in `required` is present here.
  constexpr bool includes(CapRights required) const {
    return (bits_ & required.bits_) == required.bits_;
  }
  // The rights present in both sets (what Mint uses to reduce rights).
  constexpr CapRights operator&(CapRights other) const { return CapRights(bits_ & other.bits_); }
  constexpr CapRights operator|(CapRights other) const { return CapRights(bits_ | other.bits_); }
  constexpr bool operator==(const CapRights&) const = default;

 private:
  uint8_t bits_ = 0;
};

}  // namespace tessera::cap
