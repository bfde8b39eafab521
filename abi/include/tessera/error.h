// The one error enum of the system, shared by kernel and user space.
// STAND-IN: replaced by the header generated from abi/base.capnp (issue: typed ABI). The
// enumerators and values here must match that schema exactly.
#pragma once

#include <stdint.h>

namespace tessera {

enum class Error : uint16_t {
  Ok = 0,
  InvalidArgument = 1,      // an argument is out of its domain
  InvalidCapability = 2,    // the capability does not name a usable object
  IllegalOperation = 3,     // the object does not support this operation now
  RangeError = 4,           // a numeric argument is outside the allowed range
  AlignmentError = 5,       // an address or size is not suitably aligned
  FailedLookup = 6,         // CSpace addressing failed (guard, depth, missing CNode)
  TruncatedMessage = 7,     // the message is shorter than the invocation needs
  DeleteFirst = 8,          // destination slot is occupied
  RevokeFirst = 9,          // the object still has derived children
  NotEnoughMemory = 10,     // the untyped region has no room
  InsufficientRights = 11,  // the capability lacks a right the operation needs
  WrongObjectType = 12,     // the capability names an object of another type
  EmptySlot = 13,           // the source slot holds no capability
  MalformedMessage = 14,    // a message failed validation
  ObjectDeleted = 15,       // the object was deleted while the caller waited on it
  WouldBlock = 16,          // a non-blocking operation found no partner
  TimedOut = 17,
  NotSupported = 18,
  Busy = 19,
};

}  // namespace tessera
