#include "launch.h"

namespace memory {

tessera::Result<void> launch_memory_server(tessera::sys::UntypedAllocator& memory, const uint8_t* image, size_t size,
                                           const LaunchOptions& options, MemoryServer* out) {
  namespace sys = tessera::sys;
  const sys::CPtr endpoint = TRY(memory.allocate(tessera::abi::ObjectType::Endpoint));
  sys::BootInfoStart start;
  start.cmdline = "";
  start.untyped = options.untyped;
  start.untyped_count = options.untyped_count;
  start.service_endpoint = endpoint;
  start.cnode_radix = options.cnode_radix;
  sys::ProcessOptions process;
  process.name = "memory";
  process.priority = options.priority;
  process.fault_endpoint = options.fault_endpoint;
  process.fault_badge = options.fault_badge;
  process.stack_pages = 16;
  process.boot_info = &start;
  auto spawned = sys::Process::spawn(memory, image, size, process);
  if (!spawned.ok()) {
    (void)memory.free(endpoint);
    return spawned.error();
  }
  out->process = spawned.take();
  out->control = endpoint;
  return {};
}

}  // namespace memory
