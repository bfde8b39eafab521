// init as the system starter: creates the objects a system description declares, spawns its
// programs from the images embedded in init, and supervises them — every program's fault endpoint
// is a badged copy of one supervision endpoint init holds, so faults and exits (exit_process)
// arrive there; init logs them with the program's name and restarts programs whose description
// says restart=yes: as often as it fails after a healthy life, at most kMaxRestarts times in a row
// when it keeps failing quickly (a life shorter than kHealthyLifeNs), each quick restart after
// the back-off restart_delay_ns() — waited through the timer server by a helper thread of init
// (use_timer_for_backoff), so that init itself never blocks on the timer server.
//
// Embedded files: the image build puts every program ELF of servers/ (`system_programs` in
// servers/meson.build) and boot/system.conf into init's data (servers/init/embed_files.py);
// docs/writing-a-server.md describes the scheme.
#pragma once

#include <stddef.h>
#include <stdint.h>

#include <tessera/bootinfo.h>
#include <tessera/result.h>
#include <tessera/sys/device.h>
#include <tessera/sys/mapping.h>
#include <tessera/sys/process.h>
#include <tessera/sys/thread.h>
#include <tessera/sys/untyped.h>

#include "system_description.h"

namespace init {

// One embedded file (layout fixed by embed_files.py).
struct EmbeddedFile {
  const char* name;
  const uint8_t* data;
  uint64_t size;
};

// The embedded file `name` ("kv", "system.conf", ...), or nullptr.
const EmbeddedFile* find_embedded_file(const char* name);

// Restarts in a row of a program that fails within kHealthyLifeNs of its start; a program that
// lived longer before failing starts a new count (a driver may crash a hundred times over a long
// run and come back each time; one that cannot start is given up on quickly).
constexpr uint32_t kMaxRestarts = 3;
constexpr uint64_t kHealthyLifeNs = 1'000'000'000;
// The back-off before the n-th quick restart in a row (n from 1): none for the first (a restart
// after a healthy life, or the first after a quick failure, is immediate), then
// kFirstRestartDelayNs growing 4-fold, capped at kMaxRestartDelayNs: 0, 10 ms, 40 ms, 160 ms, ...
// The timer server's own restarts are immediate (it is the clock the back-off waits on).
constexpr uint64_t kFirstRestartDelayNs = 10'000'000;
constexpr uint64_t kMaxRestartDelayNs = 1'000'000'000;
constexpr uint64_t restart_delay_ns(uint32_t in_a_row) {
  if (in_a_row <= 1) return 0;
  uint64_t delay = kFirstRestartDelayNs;
  for (uint32_t i = 2; i < in_a_row && delay < kMaxRestartDelayNs; ++i) delay *= 4;
  return delay < kMaxRestartDelayNs ? delay : kMaxRestartDelayNs;
}
static_assert(restart_delay_ns(1) == 0 && restart_delay_ns(2) == 10'000'000 && restart_delay_ns(3) == 40'000'000 &&
              restart_delay_ns(40) == kMaxRestartDelayNs);
// The badge of init's waker thread's signal (a back-off has run out) as it arrives on the
// supervision endpoint (the same bound notification as the memory server's events).
constexpr uint64_t kRestartTimerBadge = uint64_t{1} << 60;
// Where the waker thread's stack and IPC buffer live in init's address space (ThreadOptions.window).
constexpr uint64_t kWakerWindow = 0x0000480000000000ull;
// The badge of the memory server's event notification as it arrives on the supervision endpoint
// (bound notification): apart from every program's badge (1..kMaxSystemPrograms).
constexpr uint64_t kMemoryEventBadge = uint64_t{1} << 62;
// The badge of a `pci:NAME` capability (init's supervision endpoint, write + grant-reply): this
// bit and the object's index in the description. init answers its requests (tessera/sys/device.h:
// kPciRequestLabel) in handle_next.
constexpr uint64_t kPciServiceBadge = uint64_t{1} << 61;
// The badge of a `control:NAME` capability (init's supervision endpoint, write + grant-reply): this
// bit and the holder's program number (index + 1). init serves its control protocol
// (abi/init.capnp, control.cc) on it in handle_next.
constexpr uint64_t kControlBadge = uint64_t{1} << 59;
// Pieces of device memory init keeps track of while it carves BARs out of the boot device
// untypeds (each split makes two).
constexpr uint32_t kMaxDevicePieces = 256;

// The authority init creates hardware capabilities from (irq, ioports and pci declarations):
// IRQControl, IOPortControl and the boot device untypeds (BootInfo untyped_list entries with
// is_device). Only init holds them; the memory server never gets device memory.
struct HardwareAccess {
  const tessera::BootInfo* boot = nullptr;
  tessera::sys::CPtr irq_control = 0;
  tessera::sys::CPtr io_port_control = 0;
};

// What init found for a `pci` declaration.
struct PciRecord {
  tessera::sys::PciFunctionInfo info;
  tessera::sys::CPtr bar_untyped[tessera::sys::kPciBars] = {};  // 0: not a memory BAR, or not covered
  tessera::sys::CPtr irq_handler = 0;                            // 0: no INTx line
};

enum class ProgramState : uint8_t { NotStarted, Running, Exited, Failed };

// What init knows about one program of the description.
struct ProgramStatus {
  ProgramState state = ProgramState::NotStarted;
  uint32_t starts = 0;      // successful spawns, restarts included
  uint32_t restarts = 0;    // in all
  uint32_t quick_restarts = 0;  // in a row, each after a life shorter than kHealthyLifeNs
  uint64_t started_tsc = 0;     // rdtsc at its last start
  bool restart_pending = false;  // waiting out its back-off (state Failed meanwhile)
  uint64_t restart_due_ns = 0;   // sys::now_ns() at which it is restarted
  uint64_t last_delay_ns = 0;    // the back-off before its last restart
  uint32_t faults = 0;
  int64_t exit_status = 0;  // of the last exit
  uint64_t last_fault_kind = 0, last_fault_ip = 0, last_fault_detail = 0;
  uint32_t pid = 0;         // the number of its current (last) instance, unique for this boot
  bool given_up = false;    // failed kMaxRestarts times in a row: not restarted any more
};

// What handle_next() saw.
struct SupervisionEvent {
  // Fault: also from the pager; Service: a request to init's PCI service or its control
  // protocol (abi/init.capnp), answered. Restart: a back-off ran out (`program` is the last one
  // restarted then).
  enum class Kind : uint8_t { None, Fault, Exit, Unknown, Service, Restart } kind = Kind::None;
  uint32_t program = 0;     // index into the description's programs
  bool restarted = false;
};

class System;
// Answers one request of init's control protocol (abi/init.capnp) from program `caller` (the
// message is in the IPC buffer). control.cc's serve_control is the one; a System serves the
// protocol only once it is given it (set_control_handler), so programs that run a System without
// it (the device tests) do not link it.
using ControlHandler = void (*)(System& system, uint32_t caller, const tessera::sys::Received& request);
void serve_control(System& system, uint32_t caller, const tessera::sys::Received& request);

class System {
 public:
  // Receives init's log lines ("init: kv faulted: ..."); the default prints them.
  using LogSink = void (*)(void* context, const char* line);

  constexpr System() = default;
  System(const System&) = delete;
  System& operator=(const System&) = delete;

  void set_log(LogSink sink, void* context) {
    log_sink_ = sink;
    log_context_ = context;
  }
  // The TSC's rate (BootInfo.tsc_hz) to tell a healthy life (at least `healthy_life_ns`) from a
  // quick failure; tsc_hz 0 (the default): every failure counts as quick.
  void set_tsc_hz(uint64_t hz, uint64_t healthy_life_ns = kHealthyLifeNs) {
    tsc_hz_ = hz;
    healthy_life_ns_ = healthy_life_ns;
  }

  // Where hardware declarations get their capabilities (set before start(); without it a
  // description with irq, ioports or pci lines does not start: NotSupported).
  void set_hardware(const HardwareAccess& hardware) { hardware_ = hardware; }

  // Creates the supervision endpoint and every declared object, then spawns every program in
  // order with its grants (`priority` bounded by `authority`'s MCP). A program whose image is
  // missing or rejected, or whose spawn fails, is logged and marked Failed; the others still
  // start. Errors: Busy when already started; NotEnoughMemory and the kernel's errors for the
  // objects (everything made is deleted again). `memory` and `description` must outlive the
  // system.
  //
  // With `memory_control` (the memory server's Control capability, docs/memory.md) every program
  // gets its memory from the memory server, with its declared quota (mem=), and the server is
  // its pager: init then binds a notification to its own thread (`init_tcb`) for the server's
  // fault reports. Without it (0) programs are built from `memory` alone.
  tessera::Result<void> start(tessera::sys::UntypedAllocator& memory, const SystemDescription& description,
                              tessera::sys::CPtr memory_control = 0,
                              tessera::sys::CPtr init_tcb = tessera::kSlotRootTcb);

  // Quick restarts wait their back-off (restart_delay_ns) through the timer server the
  // description runs as program `timer_program`, serving endpoint object `timer_endpoint`. Call
  // after start(). init makes a helper thread (its stack and IPC buffer at `window`) that does the
  // timer calls: it arms a deadline for the earliest restart due and signals init's bound
  // notification (kRestartTimerBadge) when it fires; init itself only signals the helper, so a
  // dead or restarting timer server never blocks it. The timer server's restarts are immediate;
  // while it is not running (or never started) back-offs are skipped: restarts are immediate, and
  // those waiting when it goes are done at once. A timer server that lives but never answers holds
  // the waiting restarts back until another supervision event finds them due. Without a bound
  // notification yet (no memory server) one is bound to `init_tcb`. EmptySlot when the
  // description has no such program or endpoint; Busy when already set; the kernel's errors.
  tessera::Result<void> use_timer_for_backoff(const char* timer_program, const char* timer_endpoint,
                                              uint64_t window = kWakerWindow,
                                              tessera::sys::CPtr init_tcb = tessera::kSlotRootTcb);

  // Takes one message from the supervision endpoint — waiting for it when `blocking`, otherwise
  // WouldBlock when none is there — and handles it: a fault or exit is logged, the process
  // destroyed and, when its policy says so, restarted. IllegalOperation before start().
  tessera::Result<SupervisionEvent> handle_next(bool blocking);

  // handle_next(true) forever.
  [[noreturn]] void supervise();

  // Destroys every process and object the system made. Idempotent; returns the first error.
  tessera::Result<void> stop();

  const ProgramStatus& status(uint32_t program) const { return status_[program]; }
  // Serve `control:NAME` requests with `handler` (serve_control); without one they are answered
  // NotSupported.
  void set_control_handler(ControlHandler handler) { control_handler_ = handler; }
  // The control protocol's operations (abi/init.capnp), also for init's own use: kill ends a
  // running program for good (IllegalOperation when it is not running), run starts one that is
  // not (Busy when it is).
  tessera::Result<void> kill(uint32_t program);
  tessera::Result<void> run(uint32_t program);
  const tessera::sys::Process& process(uint32_t program) const { return processes_[program]; }
  const SystemDescription* description() const { return description_; }
  uint64_t tsc_hz() const { return tsc_hz_; }
  tessera::sys::CallTransport& kernel() { return memory_->kernel(); }
  tessera::sys::UntypedAllocator& memory() { return *memory_; }
  tessera::sys::CPtr memory_control() const { return memory_control_; }
  // The index of program `name` in the description, or kMaxSystemPrograms.
  uint32_t program_index(const char* name) const;
  // The supervision endpoint and the objects the description declared (slots in the parent).
  tessera::sys::CPtr supervision_endpoint() const { return supervisor_; }
  tessera::sys::CPtr object(uint32_t index) const { return objects_[index]; }
  // What init found for the pci object `index` (its info.vendor is 0 for other objects).
  const PciRecord& pci(uint32_t index) const { return pci_[index]; }

 private:
  tessera::Result<void> spawn(uint32_t program);
  void handle_end(uint32_t program, bool faulted, SupervisionEvent* event);
  // Takes the memory server's fault reports and ends the programs they name.
  void handle_memory_faults(SupervisionEvent* event);
  tessera::Result<void> watch_memory_faults(tessera::sys::CPtr init_tcb);
  tessera::Result<void> bind_events(tessera::sys::CPtr init_tcb);
  tessera::Result<tessera::sys::CPtr> mint_copy(tessera::sys::CPtr object, uint64_t badge);
  // Restarts the programs whose back-off has run out (every waiting one when `all`) and asks the
  // waker for the next one due.
  void run_due_restarts(bool all, const char* why, SupervisionEvent* event);
  bool timer_running() const;
  static void waker_entry(uint64_t system);
  [[noreturn]] void waker_main();
  void stop_waker();
  void log(const char* format, ...) __attribute__((format(printf, 2, 3)));
  // The capability of hardware object `index` (irq, ioports, pci) into objects_[index].
  tessera::Result<void> create_hardware(uint32_t index);
  tessera::Result<void> find_pci(uint32_t index);
  // A device untyped covering exactly [paddr, paddr + 2^bits), split off the boot device untypeds.
  tessera::Result<tessera::sys::CPtr> carve_device(uint64_t paddr, uint8_t bits);
  // Answers one request to the PCI service for object `index` (the message is in the IPC buffer).
  void serve_pci(uint32_t index, const tessera::sys::Received& request);
  ControlHandler control_handler_ = nullptr;
  void stop_hardware();

  tessera::sys::UntypedAllocator* memory_ = nullptr;
  const SystemDescription* description_ = nullptr;
  tessera::sys::CPtr supervisor_ = 0;
  tessera::sys::CPtr memory_control_ = 0;
  tessera::sys::CPtr memory_events_ = 0;     // bound to init's thread
  tessera::sys::CPtr memory_events_tcb_ = 0;
  // The back-off's timer (use_timer_for_backoff): the waker thread, the notification it waits on
  // (badge kWakerRequest from init, kWakerFired from the timer server), init's copies of it and
  // the waker's copy of the bound notification (kRestartTimerBadge).
  uint32_t timer_program_ = kMaxSystemPrograms;
  tessera::sys::CPtr timer_endpoint_ = 0;
  tessera::sys::Thread* waker_ = nullptr;
  tessera::sys::CreatedTables waker_tables_;
  tessera::sys::CPtr waker_notify_ = 0, waker_request_ = 0, waker_fired_ = 0, waker_to_init_ = 0;
  uint64_t waker_due_ns_ = 0;         // the earliest restart due (0: none); written by init
  uint64_t timer_generation_ = 0;     // timer server starts: the waker attaches again after one
  tessera::sys::CPtr objects_[kMaxSystemObjects] = {};
  tessera::sys::Process processes_[kMaxSystemPrograms];
  ProgramStatus status_[kMaxSystemPrograms];
  uint64_t tsc_hz_ = 0;
  uint64_t healthy_life_ns_ = kHealthyLifeNs;
  uint32_t next_pid_ = 1;
  LogSink log_sink_ = nullptr;
  void* log_context_ = nullptr;
  HardwareAccess hardware_;
  tessera::sys::CPtr pci_ports_ = 0;  // IOPort for 0xCF8-0xCFF (made for the first pci object)
  PciRecord pci_[kMaxSystemObjects];
  struct DevicePiece {
    tessera::sys::CPtr cap = 0;
    uint64_t paddr = 0;
    uint8_t bits = 0;
    bool boot = false;   // a boot device untyped (not init's to delete)
    bool split = false;  // has children now: never handed out or split again
    bool taken = false;  // handed to a BAR
  };
  DevicePiece pieces_[kMaxDevicePieces];
  uint32_t piece_count_ = 0;
};

// init's own memory after boot (docs/memory.md): 2^kInitReserveBits bytes carved from the largest
// RAM untyped as two child untypeds of half that, described in *reserve (a copy of `info` whose
// untyped list is just those two), for the memory server's CNode (one half) and image and every
// program's kernel objects.
constexpr uint8_t kInitReserveBits = 23;  // 8 MiB: the memory server's CNode (4 MiB, made first) and every program's kernel objects
tessera::Result<void> carve_reserve(const tessera::BootInfo& info, tessera::sys::CallTransport& kernel,
                                    tessera::sys::SlotAllocator& slots, tessera::BootInfo* reserve);
// The untyped caps init hands the memory server (RAM, at least 2 MiB, largest first), at most
// kMaxBootInfoStartUntypeds, into out[]; returns how many.
uint32_t memory_server_untypeds(const tessera::BootInfo& info, tessera::sys::CPtr* out);

// The boot path of init (no test or bench option): parses the embedded system.conf, starts the
// system it describes and supervises it forever. Returns only when that cannot start (a message
// says why), with a non-zero status.
// `control`: the handler of init's control protocol (serve_control), or none.
int run_system(const tessera::BootInfo& info, ControlHandler control = nullptr);

}  // namespace init
