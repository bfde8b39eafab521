// Self-tests for the boot foundation: memory map, frame allocator, timer, paging protections, and
// the exception reports (panic tests).
#include <tessera/string.h>

#include "arch/x86_64/apic.h"
#include "arch/x86_64/cpu.h"
#include "arch/x86_64/paging.h"
#include "arch/x86_64/pit.h"
#include "arch/x86_64/timer.h"
#include "generic/boot.h"
#include "generic/kernel_layout.h"
#include "lib/page_table.h"
#include "selftest/selftest.h"

namespace tessera::kernel {
namespace {
constexpr uint64_t kMiB = 1ull << 20;

bool inside_available(const BootState& s, uint64_t base, uint64_t end) {
  for (size_t i = 0; i < s.regions.count(); ++i) {
    const PhysRegion& r = s.regions[i];
    if (r.kind == RegionKind::Available && base >= r.base && end <= r.end) return true;
  }
  return false;
}
}  // namespace

TESSERA_SELFTEST(BOOT0001, pass, "firmware memory map matches the -m size, less the known reserved ranges") {
  const BootState& s = boot_state();
  auto expected_mib = s.cmdline.get_u64(StringView("mem_mib"));
  if (!t.check(expected_mib.ok(), "the harness must pass mem_mib=<QEMU -m size>")) return;
  const uint64_t expected = *expected_mib * kMiB;
  uint64_t usable = 0, highest = 0;
  for (size_t i = 0; i < s.info.region_count; ++i) {
    const mb2::MemoryRegion& r = s.info.regions[i];
    if (r.type != mb2::MemoryType::Available) continue;
    usable += r.length;
    highest = max(highest, r.base + r.length);
  }
  // Known holes: the legacy 640 KiB-1 MiB window (VGA, option ROMs, BIOS) and firmware data at the
  // top of low RAM (ACPI tables, EBDA): together at most 2 MiB on a PC.
  t.note("usable %lu KiB of %lu KiB, highest usable byte 0x%lx", usable / 1024, expected / 1024, highest - 1);
  t.check(usable <= expected, "more usable memory than QEMU was given");
  t.check(usable + 2 * kMiB >= expected, "%lu KiB missing: more than the known reserved ranges",
          (expected - usable) / 1024);
  t.check(highest <= expected, "usable memory beyond the -m size");
  t.check(s.info.region_count > 0, "empty memory map");
}

TESSERA_SELFTEST(BOOT0002, pass, "boot modules, boot loader name and command line are parsed") {
  const BootState& s = boot_state();
  t.check(s.info.bootloader.starts_with(StringView("GRUB")), "boot loader name");
  const mb2::Module* symbols = find_module(s, StringView("symbols"));
  if (t.check(symbols != nullptr, "the symbols module is missing")) {
    t.check(symbols->end > symbols->start, "empty symbols module");
    t.check((symbols->start & 0xFFF) == 0, "modules are page-aligned (module alignment tag)");
  }
  t.check(s.cmdline.has(StringView("test")), "fw_cfg command-line words did not arrive");
}

TESSERA_SELFTEST(BOOT0003, pass, "frame allocator hands out distinct, writable frames inside free RAM") {
  BootState& s = boot_state();
  uint64_t frames[32];
  const uint64_t before = s.frames.free_bytes();
  for (uint64_t& f : frames) {
    auto r = s.frames.alloc();
    if (!t.check(r.ok(), "allocation failed")) return;
    f = *r;
    t.check(inside_available(s, f, f + 4096), "frame 0x%lx outside free RAM", f);
    memset(layout::phys_to_virt(f), 0xA5, 4096);
  }
  for (size_t i = 0; i < 32; ++i) {
    for (size_t j = i + 1; j < 32; ++j) t.check(frames[i] != frames[j], "frame 0x%lx handed out twice", frames[i]);
  }
  t.check(s.frames.free_bytes() == before - 32 * 4096, "free byte count");
  t.check(!inside_available(s, layout::kernel_phys_start(), layout::kernel_phys_start() + 4096),
          "kernel image is not reserved");
}

TESSERA_SELFTEST(TIMER0001, pass, "LAPIC timer interrupts arrive at the calibrated rate (within 5% over 200 ms)") {
  constexpr uint32_t kHz = 1000;
  const uint64_t rate = timer::lapic_ticks_per_second();
  if (!t.check(rate > 0, "timer not calibrated")) return;
  timer::start_periodic(kHz);
  x86::enable_interrupts();
  const uint64_t start = timer::ticks();
  pit::wait_microseconds(200000);
  const uint64_t counted = timer::ticks() - start;
  x86::disable_interrupts();
  timer::stop();
  t.note("%lu ticks at %u Hz in 200 ms of PIT time (LAPIC %lu Hz)", counted, kHz, rate);
  t.check(counted >= 190 && counted <= 210, "expected 200 +/- 5%%, got %lu", counted);
}

TESSERA_SELFTEST(TIMER0002, pass, "timer calibration is repeatable within 2%") {
  const uint64_t first = timer::calibrate(50);
  const uint64_t second = timer::calibrate(50);
  t.note("LAPIC timer: %lu and %lu ticks/s", first, second);
  const uint64_t diff = first > second ? first - second : second - first;
  t.check(first > 0 && diff * 50 <= first, "calibrations differ by more than 2%%");
}

TESSERA_SELFTEST(PAGING0001, pass, "kernel mappings are W^X: text RX, rodata R, data RW+NX, direct map NX") {
  const bool nx = boot_state().features.nx;
  auto flags_of = [&](const void* p) { return paging::leaf_flags(reinterpret_cast<uint64_t>(p)); };
  auto text = flags_of(__text_start);
  auto rodata = flags_of(__rodata_start);
  auto data = flags_of(__data_start);
  auto physmap = flags_of(layout::phys_to_virt(0x100000));
  if (!t.check(text.ok() && rodata.ok() && data.ok() && physmap.ok(), "kernel ranges not mapped")) return;
  t.check((*text & pt::kWritable) == 0 && (*text & pt::kNoExecute) == 0, "text must be read+execute");
  t.check((*rodata & pt::kWritable) == 0, "rodata must be read-only");
  t.check((*data & pt::kWritable) != 0, "data must be writable");
  if (t.check(nx, "CPU lacks NX")) {
    t.check((*rodata & pt::kNoExecute) != 0 && (*data & pt::kNoExecute) != 0, "data must be NX");
    t.check((*physmap & pt::kNoExecute) != 0, "direct map must be NX");
  }
  t.check((*text & pt::kUser) == 0 && (*physmap & pt::kUser) == 0, "kernel pages must not be user-accessible");
  t.check(paging::leaf_flags(0x1000).error() == Error::FailedLookup, "low memory must not be mapped");
  t.check((x86::read_cr0() & x86::cr0::kWriteProtect) != 0, "CR0.WP must be set");
  const x86::Features& f = boot_state().features;
  t.note("NX %d SMEP %d SMAP %d PCID %d", f.nx, f.smep, f.smap, f.pcid);
  if (f.smep) t.check((x86::read_cr4() & x86::cr4::kSmep) != 0, "SMEP available but off");
  if (f.smap) t.check((x86::read_cr4() & x86::cr4::kSmap) != 0, "SMAP available but off");
}

TESSERA_SELFTEST(FAULT0001, panic, "a kernel page fault is reported with a symbolised RIP") {
  t.expect_panic("<tessera::kernel::selftest_body_FAULT0001(");
  *reinterpret_cast<volatile uint64_t*>(0x0000'7fff'dead'0000ull) = 1;
}

TESSERA_SELFTEST(FAULT0002, panic, "writing to kernel text faults (W^X)") {
  t.expect_panic("protection violation, write access, kernel mode");
  auto* code = reinterpret_cast<volatile uint8_t*>(reinterpret_cast<uintptr_t>(&boot_state));
  *code = 0xC3;
}

TESSERA_SELFTEST(FAULT0003, panic, "executing from the direct map faults (NX)") {
  t.expect_panic("instruction fetch");
  const uint64_t frame = *boot_state().frames.alloc();
  auto* code = static_cast<uint8_t*>(layout::phys_to_virt(frame));
  code[0] = 0xC3;  // ret
  reinterpret_cast<void (*)()>(code)();
}

TESSERA_SELFTEST(FAULT0004, panic, "an invalid opcode in the kernel is reported with its vector") {
  t.expect_panic("#UD invalid opcode");
  asm volatile("ud2");
}

}  // namespace tessera::kernel
