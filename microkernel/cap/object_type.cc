#include "cap/object_type.h"

namespace tessera::cap {

const char* object_type_name(ObjectType type) {
  switch (type) {
    case ObjectType::Null: return "Null";
    case ObjectType::Untyped: return "Untyped";
    case ObjectType::CNode: return "CNode";
    case ObjectType::Tcb: return "Tcb";
    case ObjectType::Endpoint: return "Endpoint";
    case ObjectType::Notification: return "Notification";
    case ObjectType::Reply: return "Reply";
    case ObjectType::SchedContext: return "SchedContext";
    case ObjectType::SchedControl: return "SchedControl";
    case ObjectType::IrqControl: return "IrqControl";
    case ObjectType::IrqHandler: return "IrqHandler";
    case ObjectType::IoPortControl: return "IoPortControl";
    case ObjectType::IoPort: return "IoPort";
    case ObjectType::Pml4: return "Pml4";
    case ObjectType::Pdpt: return "Pdpt";
    case ObjectType::PageDirectory: return "PageDirectory";
    case ObjectType::PageTable: return "PageTable";
    case ObjectType::Frame4K: return "Frame4K";
    case ObjectType::Frame2M: return "Frame2M";
    case ObjectType::DebugControl: return "DebugControl";
    case ObjectType::TraceControl: return "TraceControl";
  }
  return "?";
}

}  // namespace tessera::cap
