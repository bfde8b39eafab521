// kernel_main: the boot flow after the switch to long mode (docs/boot.md walks through it).
#include <stdint.h>

#include "arch/x86_64/acpi.h"
#include "arch/x86_64/apic.h"
#include "arch/x86_64/cpu.h"
#include "arch/x86_64/fw_cfg.h"
#include "arch/x86_64/idt.h"
#include "arch/x86_64/ioapic.h"
#include "arch/x86_64/paging.h"
#include "arch/x86_64/percpu.h"
#include "arch/x86_64/serial.h"
#include "arch/x86_64/timer.h"
#include "generic/boot.h"
#include "generic/kernel_layout.h"
#include "generic/log.h"
#include "generic/trace.h"
#include "generic/panic.h"
#include "generic/root_task.h"
#include "generic/scheduler.h"
#include "generic/symbols.h"
#include "object/fastpath.h"
#include "object/sched_context.h"
#include "selftest/selftest.h"

extern "C" char boot_cpu_stack_top[];
extern "C" void syscall_entry();

namespace tessera::kernel {
namespace {

constexpr const char* kVersion = "0.1.0";

void apply_command_line(BootState& s) {
  s.cmdline = CommandLine(s.info.cmdline);
  static char extra[1024];
  if (fw_cfg::read_file("opt/tessera/cmdline", extra, sizeof(extra)) > 0) s.cmdline.append(StringView(extra));
  StringView fastpath;
  if (s.cmdline.get(StringView("fastpath"), &fastpath) && fastpath.equals(StringView("off"))) {
    fastpath_enabled = false;
  }
  // trace=CATEGORIES: tracing on from the first thread (docs/tracing.md); init starts the trace
  // server that drains the rings.
  StringView trace_list;
  if (s.cmdline.get(StringView("trace"), &trace_list)) {
    uint32_t categories = 0;
    if (trace::parse_categories(trace_list, &categories)) tracing::categories = categories;
    else log::warn("unknown trace category in '%.*s'", static_cast<int>(trace_list.size), trace_list.data);
  }
  update_fastpath_mode();
  StringView idle;
  if (s.cmdline.get(StringView("idle"), &idle) && idle.equals(StringView("poll"))) idle_poll = true;
  StringView level;
  if (s.cmdline.get(StringView("log"), &level)) {
    if (level.equals(StringView("error"))) log::set_level(log::Level::Error);
    else if (level.equals(StringView("warn"))) log::set_level(log::Level::Warn);
    else if (level.equals(StringView("info"))) log::set_level(log::Level::Info);
    else if (level.equals(StringView("debug"))) log::set_level(log::Level::Debug);
    else log::warn("unknown log level '%.*s'", static_cast<int>(level.size), level.data);
  }
}

void log_memory(const BootState& s) {
  log::info("memory map (%zu firmware ranges):", s.info.region_count);
  for (size_t i = 0; i < s.regions.count(); ++i) {
    const PhysRegion& r = s.regions[i];
    log::info("  [%016lx-%016lx) %8lu KiB %s", r.base, r.end, (r.end - r.base) / 1024, region_kind_name(r.kind));
  }
  log::info("free RAM: %lu KiB; direct map: %lu MiB", s.frames.free_bytes() / 1024, s.phys_limit >> 20);
  for (size_t i = 0; i < s.info.module_count; ++i) {
    const mb2::Module& m = s.info.modules[i];
    log::info("module %zu: [%lx-%lx) '%.*s'", i, m.start, m.end, static_cast<int>(m.cmdline.size), m.cmdline.data);
  }
  if (s.info.has_framebuffer) {
    const mb2::Framebuffer& fb = s.info.framebuffer;
    log::info("framebuffer: %ux%u, %u bpp at 0x%lx", fb.width, fb.height, fb.bpp, fb.address);
  }
}

void init_interrupt_controllers(BootState& s) {
  auto topology = acpi::read_topology(s.info.acpi_rsdp, s.info.acpi_rsdp_size, &s.interrupts);
  if (!topology) log::warn("ACPI MADT unusable (error %u): using PC defaults", static_cast<unsigned>(topology.error()));
  const acpi::InterruptTopology& t = s.interrupts;
  auto lapic = paging::map_mmio(t.lapic_phys, 4096);
  auto io = paging::map_mmio(t.ioapics[0].phys, 4096);
  if (!lapic || !io) panic("cannot map the interrupt controllers");
  apic::init(static_cast<volatile uint32_t*>(*lapic));
  ioapic::init(static_cast<volatile uint32_t*>(*io), t.ioapics[0].gsi_base);
  boot_cpu().apic_id = apic::id();
  log::info("interrupts: LAPIC %u at 0x%lx, IOAPIC at 0x%lx (%u lines), %zu CPU(s), %zu ISA overrides%s",
            boot_cpu().apic_id, t.lapic_phys, t.ioapics[0].phys, ioapic::line_count(), t.cpu_count,
            t.override_count, t.from_firmware ? "" : " (defaults)");
  // Where the PIT's interrupt arrives: drivers declare it in boot/system.conf (the timer server).
  log::info("ISA IRQ 0 (the PIT) is IOAPIC line %u", t.gsi_for_isa(0, nullptr));
  const uint64_t rate = timer::calibrate(50);
  log::info("LAPIC timer: %lu ticks/s (divide by 16), calibrated against the PIT", rate);
}

[[noreturn]] void idle(const BootState& s) {
  StringView exit_value;
  if (s.cmdline.get(StringView("exit"), &exit_value) && exit_value.equals(StringView("idle"))) {
    log::info("exit=idle: boot complete, leaving QEMU");
    exit_machine(ExitCode::Success);
  }
  log::info("boot complete; no init module, idling. Quit QEMU with Ctrl-A X.");
  timer::start_periodic(100);
  x86::enable_interrupts();
  for (;;) x86::halt();
}

}  // namespace

extern "C" [[noreturn]] void kernel_main(uint32_t magic, uint64_t multiboot_phys) {
  serial::init();
  Cpu& cpu = boot_cpu();
  init_cpu_state(cpu, 0);
  x86::init_idt();

  BootState& s = boot_state();
  s.banner_tsc = x86::rdtsc();
  log::print("Tessera %s: capability microkernel for x86-64\n", kVersion);
  log::print("boot: banner-tsc=%lu\n", s.banner_tsc);
  if (magic != mb2::kBootloaderMagic) panic("not started by a multiboot2 loader (magic 0x%x)", magic);

  s.features = x86::detect_features();
  x86::enable_protections(s.features);
  if (auto r = init_memory(multiboot_phys, s); !r) {
    panic("boot memory setup failed: error %u", static_cast<unsigned>(r.error()));
  }
  apply_command_line(s);
  if (const mb2::Module* m = find_module(s, StringView("symbols")); m != nullptr) {
    symbols::init(static_cast<const char*>(layout::phys_to_virt(m->start)), m->end - m->start);
  } else {
    log::warn("no symbols module: panic reports will show bare addresses");
  }
  log::info("boot loader: %.*s; command line: %.*s", static_cast<int>(s.info.bootloader.size), s.info.bootloader.data,
            static_cast<int>(s.cmdline.text().size), s.cmdline.text().data);
  log::info("cpu: NX %d SMEP %d SMAP %d PCID %d global pages %d 1G pages %d", s.features.nx, s.features.smep,
            s.features.smap, s.features.pcid, s.features.pge, s.features.huge_1g);
  log_memory(s);
  init_interrupt_controllers(s);

  selftest::run_from_command_line(s.cmdline);

  cpu.kernel_stack_top = reinterpret_cast<uint64_t>(&boot_cpu_stack_top);
  x86::init_syscall(reinterpret_cast<uint64_t>(&syscall_entry));
  x86::init_fpu();
  if (auto r = start_root_task(s); !r) {
    if (r.error() != Error::NotSupported) panic("cannot start the root task: error %u", static_cast<unsigned>(r.error()));
    idle(s);
  }
  timer::start_periodic(static_cast<uint32_t>(kTickHz));
  schedule();
}

}  // namespace tessera::kernel
