// init's boot path (run_system): the embedded system.conf parsed, init's reserve carved, the
// memory server launched, the system started and supervised. A file of its own so that programs
// linking init's system library for its System alone (the test runner's device tests) do not get
// this one's static System and memory server in their images.
#include <tessera/sys/debug.h>
#include <tessera/sys/heap.h>
#include <tessera/sys/ipc.h>

#include "launch.h"
#include "system.h"

namespace init {
namespace sys = tessera::sys;
using tessera::Result;

int run_system(const tessera::BootInfo& info, ControlHandler control) {
  const EmbeddedFile* conf = find_embedded_file("system.conf");
  if (conf == nullptr) {
    sys::print("init: no system.conf embedded; nothing to start\n");
    return 1;
  }
  static SystemDescription description;
  ParseError error;
  if (Result<void> r = parse_system_description(reinterpret_cast<const char*>(conf->data), conf->size, &description,
                                                &error);
      !r.ok()) {
    if (error.subject[0] != '\0') {
      sys::print("init: boot/system.conf:%u: %s: %s\n", error.line, error.subject, error.reason);
    } else {
      sys::print("init: boot/system.conf:%u: %s\n", error.line, error.reason);
    }
    return 1;
  }
  // The root task's free slots (the runtime keeps the tail of BootInfo.empty).
  static sys::SlotAllocator slots(sys::root_free_slots(info));
  static sys::CallTransport kernel(sys::ipc_buffer());
  // init keeps a reserve for the kernel objects it makes (the memory server's CNode and image,
  // every program's TCB, CNode, PML4 and notifications) and hands the rest to the memory server.
  static tessera::BootInfo reserve_info;
  auto reserve = carve_reserve(info, kernel, slots, &reserve_info);
  if (!reserve.ok()) {
    sys::print("init: cannot set aside init's reserve of memory (error %u)\n", static_cast<unsigned>(reserve.error()));
    return 1;
  }
  static sys::UntypedAllocator memory(reserve_info, kernel, slots);
  static memory::MemoryServer memory_server;
  const EmbeddedFile* image = find_embedded_file("memory");
  if (image == nullptr) {
    sys::print("init: no memory server is embedded\n");
    return 1;
  }
  sys::CPtr handed[sys::kMaxBootInfoStartUntypeds];
  const uint32_t handed_count = memory_server_untypeds(info, handed);
  memory::LaunchOptions launch;
  launch.untyped = handed;
  launch.untyped_count = handed_count;
  if (Result<void> r = memory::launch_memory_server(memory, image->data, image->size, launch, &memory_server); !r.ok()) {
    sys::print("init: the memory server did not start (error %u)\n", static_cast<unsigned>(r.error()));
    return 1;
  }
  static System system;
  system.set_tsc_hz(info.tsc_hz);
  system.set_control_handler(control);
  // Hardware stays init's: IRQControl, IOPortControl and the device untypeds (the memory server
  // got RAM only), from which irq, ioports and pci declarations get their capabilities.
  system.set_hardware(HardwareAccess{&info, tessera::kSlotIrqControl, tessera::kSlotIoPortControl});
  if (Result<void> r = system.start(memory, description, memory_server.control); !r.ok()) {
    sys::print("init: the system did not start (error %u)\n", static_cast<unsigned>(r.error()));
    return 1;
  }
  // Quick restarts wait their back-off through the timer server (program and endpoint `timer`).
  if (Result<void> r = system.use_timer_for_backoff("timer", "timer"); !r.ok()) {
    sys::print("init: no timer server for the restarts' back-off (error %u): quick restarts are immediate\n",
               static_cast<unsigned>(r.error()));
  }
  system.supervise();
}

}  // namespace init
