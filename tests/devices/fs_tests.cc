// The FS tests (docs/fs.md): the virtio-blk driver (servers/blk), the filesystem server
// (servers/fs) and fscheck (tests/programs/fscheck/) as its client, started through init's system
// library — the code init runs at boot — on the test's memory server. The disk is the FS suite's
// (tests/fs/make_test_disk.py): the main ext2 file system at sector 0, damaged ones after it. The
// tests share that disk in order (one boot), each in its own directory; fscheck exits with 0 or
// the number of the check that failed, and neither the driver nor the server may fault.
#include <tessera/bootinfo.h>
#include <tessera/format.h>
#include <tessera/string.h>
#include <tessera/sys/debug.h>
#include <tessera/sys/heap.h>
#include <tessera/sys/ipc.h>
#include <tessera/sys/process.h>
#include <tessera/sys/testing.h>
#include <tessera/sys/untyped.h>

#include "system.h"
#include "system_description.h"

namespace {
namespace sys = tessera::sys;
using tessera::error_name;
using tessera::testing::Context;

const tessera::BootInfo& boot_info() { return *reinterpret_cast<const tessera::BootInfo*>(tessera::kRootBootInfoAddress); }

void log_line(void*, const char* line) { sys::print("# %s\n", line); }

constinit init::System fs_system;
constinit init::SystemDescription fs_description;

constexpr uint32_t kBlk = 0, kFs = 1, kCheck = 2, kPeer = 3;

struct FsRun {
  const char* fs_arg = "";        // e.g. "arg=at=98304" (a damaged file system) or "arg=ro"
  const char* mode = nullptr;     // fscheck's mode; nullptr: no client (the server's own fate is the test)
  const char* peer = nullptr;     // a second fscheck, started next to the first
  int64_t fs_exit = -1;           // the server's exit status when it is expected to end (-1: it serves)
  bool raw_disk = false;          // fscheck gets endpoint:blk too (the bench's raw reads)
  const char* check_mem = "8M";   // the first fscheck's memory quota
  const char* blk_arg = "";       // e.g. "arg=test" (the driver's crash hook)
  bool driver_crashes = false;    // the client crashes the driver on purpose: it faults and restarts
};

bool ended(const init::ProgramStatus& p) {
  return p.state == init::ProgramState::Exited || p.state == init::ProgramState::Failed;
}

void run_fs(Context& t, const FsRun& run) {
  char conf[1280];
  constexpr const char* kGrants = "endpoint:fs:wg,notification:ready:rw:1,notification:go:rw:1,endpoint:pass:rwg";
  char clients[512] = "";
  if (run.mode != nullptr) {
    size_t used = tessera::format_to(clients, sizeof(clients), "program check image=fscheck mem=%s arg=%s grants=%s%s\n",
                                     run.check_mem, run.mode, kGrants, run.raw_disk ? ",endpoint:blk:wg" : "");
    if (run.peer != nullptr) {
      tessera::format_to(clients + used, sizeof(clients) - used, "program peer image=fscheck mem=8M arg=%s grants=%s\n",
                         run.peer, kGrants);
    }
  }
  tessera::format_to(conf, sizeof(conf),
                     "pci disk vendor=0x1af4 device=0x1001\n"
                     "endpoint blk\n"
                     "endpoint fs\n"
                     "endpoint pass\n"
                     "notification ready\n"
                     "notification go\n"
                     "program blk mem=8M restart=yes %s grants=pci:disk,endpoint:blk:rg\n"
                     "program fs mem=12M restart=no %s grants=endpoint:fs:rwgpm,endpoint:blk:wg\n%s",
                     run.blk_arg, run.fs_arg, clients);
  const tessera::BootInfo& info = boot_info();
  sys::CallTransport kernel(sys::ipc_buffer());
  sys::SlotAllocator slots(sys::root_free_slots(info));
  sys::UntypedAllocator memory(info, kernel, slots);
  init::ParseError parse_error;
  if (!t.check(init::parse_system_description(conf, strlen(conf), &fs_description, &parse_error).ok(),
               "the description: line %u: %s", parse_error.line, parse_error.reason)) {
    return;
  }
  fs_system.set_log(log_line, nullptr);
  fs_system.set_tsc_hz(info.tsc_hz, 1'000'000);
  fs_system.set_hardware(init::HardwareAccess{&info, tessera::kSlotIrqControl, tessera::kSlotIoPortControl});
  const tessera::Result<void> started = fs_system.start(memory, fs_description, sys::kBootInfoServiceSlot);
  if (!t.check(started.ok(), "System::start: %s", error_name(started.error()))) return;
  const uint32_t clients_count = run.mode == nullptr ? 0 : run.peer == nullptr ? 1 : 2;
  for (;;) {
    const auto event = fs_system.handle_next(true);
    if (!t.check(event.ok(), "handle_next: %s", error_name(event.error()))) break;
    const init::ProgramStatus& fs = fs_system.status(kFs);
    if (clients_count == 0) {
      if (ended(fs)) break;
      continue;
    }
    bool all_ended = true;
    for (uint32_t i = kCheck; i < kCheck + clients_count; ++i) all_ended = all_ended && ended(fs_system.status(i));
    if (all_ended || (ended(fs_system.status(kCheck)) && fs_system.status(kCheck).exit_status != 0)) break;
    if (ended(fs) && run.fs_exit < 0) {
      t.check(false, "the filesystem server ended (exit status %ld, %u faults: kind %lu at 0x%lx, ip 0x%lx)",
              fs.exit_status, fs.faults, fs.last_fault_kind, fs.last_fault_detail, fs.last_fault_ip);
      break;
    }
    if (!run.driver_crashes && ended(fs_system.status(kBlk))) {
      t.check(false, "the driver ended");
      break;
    }
  }
  for (uint32_t i = kCheck; i < kCheck + clients_count; ++i) {
    const init::ProgramStatus& c = fs_system.status(i);
    t.check(c.faults == 0, "fscheck %u faulted (kind %lu at 0x%lx, ip 0x%lx)", i - kCheck + 1, c.last_fault_kind,
            c.last_fault_detail, c.last_fault_ip);
    t.check(ended(c) && c.exit_status == 0, "fscheck %s exited with %ld (the number of its failed check)",
            i == kCheck ? run.mode : run.peer, c.exit_status);
  }
  const init::ProgramStatus& fs = fs_system.status(kFs);
  t.check(fs.faults == 0, "the filesystem server faulted (kind %lu at 0x%lx, ip 0x%lx)", fs.last_fault_kind,
          fs.last_fault_detail, fs.last_fault_ip);
  if (run.fs_exit >= 0) {
    t.check(ended(fs) && fs.exit_status == run.fs_exit, "the filesystem server exited with %ld (expected %ld)",
            fs.exit_status, run.fs_exit);
  }
  if (run.driver_crashes) {
    t.check(fs_system.status(kBlk).restarts >= 1, "the driver was restarted");
  } else {
    t.check(fs_system.status(kBlk).faults == 0, "the driver faulted");
  }
  t.check(fs_system.stop().ok(), "System::stop");
  (void)kPeer;
}

void check(Context& t, const char* mode, const char* peer = nullptr) { run_fs(t, FsRun{.mode = mode, .peer = peer}); }

// The damaged file systems after the main one (tests/fs/make_test_disk.py): 48 MiB + 2 MiB * k.
constexpr uint64_t damaged_sector(uint32_t k) { return (48 + 2 * uint64_t{k}) * 2048; }

}  // namespace

TESSERA_USER_TEST(FS0001, pass, "fs: mounts the test disk; statfs, the root's entries, stat of a file and a directory") {
  check(t, "mount");
}

TESSERA_USER_TEST(FS0002, pass, "fs: files mke2fs wrote (0 B .. 1 MiB) read back byte for byte, at every offset and in pieces") {
  check(t, "read-known");
}

TESSERA_USER_TEST(FS0003, pass, "fs: readdir of a 100-entry directory made on the host, in buffers of several sizes") {
  check(t, "readdir");
}

TESSERA_USER_TEST(FS0004, pass, "fs: fast and slow symlinks made on the host: readlink, followed in and at the end of paths; a loop is SymlinkLoop") {
  check(t, "symlinks");
}

TESSERA_USER_TEST(FS0005, pass, "fs: hard links made on the host: one inode, two links; link() adds a third, unlink takes it away") {
  check(t, "hardlinks");
}

TESSERA_USER_TEST(FS0006, pass, "fs: a sparse file from the host: holes read as zeros, data past the double-indirect limit") {
  check(t, "sparse-read");
}

TESSERA_USER_TEST(FS0007, pass, "fs: files of 0 B .. 1 MiB and a sparse one past the double-indirect limit written and synced (debugfs reads them on the host)") {
  check(t, "write-sizes");
}

TESSERA_USER_TEST(FS0008, pass, "fs: pwrite inside, across and after the end; pread back; append mode writes at the end") {
  check(t, "pwrite");
}

TESSERA_USER_TEST(FS0009, pass, "fs: truncate shrinks (blocks freed, statfs counts them back) and grows (zeros)") {
  check(t, "truncate");
}

TESSERA_USER_TEST(FS0010, pass, "fs: mkdir, nested directories, rmdir; rmdir of a non-empty directory is NotEmpty; link counts of parents") {
  check(t, "dirs");
}

TESSERA_USER_TEST(FS0011, pass, "fs: rename within a directory, across directories, replacing a file and an empty directory; '..' follows a moved directory") {
  check(t, "rename");
}

TESSERA_USER_TEST(FS0012, pass, "fs: rename of a directory into itself or its subtree is InvalidArgument, of the root Busy; incompatible replacements refused") {
  check(t, "rename-bad");
}

TESSERA_USER_TEST(FS0013, pass, "fs: symlink() fast and slow, readlink, open through it; openNoFollow refuses a link") {
  check(t, "symlink-create");
}

TESSERA_USER_TEST(FS0014, pass, "fs: unlink; a File open on the unlinked file answers ObjectDeleted, the name NotFound") {
  check(t, "unlink");
}

TESSERA_USER_TEST(FS0015, pass, "fs: a File after close is refused by the kernel (its slot is emptied); 300 opens and closes reuse the table, 64 fill one client's share") {
  check(t, "close");
}

TESSERA_USER_TEST(FS0016, pass, "fs: names over 255 bytes NameTooLong, paths over maxPathBytes RangeError, '..' above the root stays at the root, NUL in a path refused") {
  check(t, "names");
}

TESSERA_USER_TEST(FS0017, pass, "fs: writes past the largest file size are TooLarge and change nothing") {
  check(t, "too-large");
}

TESSERA_USER_TEST(FS0018, pass, "fs: the disk filled to NoSpace; nothing half-written, free counts back after unlink") {
  check(t, "full-disk");
}

TESSERA_USER_TEST(FS0019, pass, "fs: the inode table filled to NoSpace; free inodes back after unlink") {
  check(t, "full-inodes");
}

TESSERA_USER_TEST(FS0020, pass, "fs: rights: a read-only File refuses write and truncate, a directory refuses write and read, open flags checked") {
  check(t, "rights");
}

TESSERA_USER_TEST(FS0021, pass, "fs: 10,000 malformed FileSystem and File messages answered with errors; the server still serves") {
  check(t, "malformed");
}

TESSERA_USER_TEST(FS0022, pass, "fs: buffer spans outside the shared buffer RangeError; readdir with no room for one entry; misaligned readdir") {
  check(t, "spans");
}

TESSERA_USER_TEST(FS0023, pass, "fs: a client that vanishes with files open: another client works on; the vanished one's files closed at its reconnect") {
  check(t, "vanish", "vanish-peer");
}

TESSERA_USER_TEST(FS0024, pass, "fs: two clients write and read their own files at once") {
  check(t, "concurrent", "concurrent-peer");
}

TESSERA_USER_TEST(FS0025, pass, "fs: fsync and sync; stat sizes and block counts; statfs free counts consistent across create and unlink") {
  check(t, "fsync");
}

TESSERA_USER_TEST(FS0026, pass, "fs: a damaged superblock (1 GiB blocks): the server refuses to mount (Corrupted) and exits, no fault") {
  char arg[48];
  tessera::format_to(arg, sizeof(arg), "arg=at=%lu", damaged_sector(0));
  run_fs(t, FsRun{.fs_arg = arg, .fs_exit = 2});
}

TESSERA_USER_TEST(FS0027, pass, "fs: a directory entry whose length runs past its block: Corrupted for that directory, the rest served") {
  char arg[48];
  tessera::format_to(arg, sizeof(arg), "arg=at=%lu", damaged_sector(1));
  run_fs(t, FsRun{.fs_arg = arg, .mode = "bad-dirent"});
}

TESSERA_USER_TEST(FS0028, pass, "fs: a '..' loop: rename that must walk up answers Corrupted instead of hanging") {
  char arg[48];
  tessera::format_to(arg, sizeof(arg), "arg=at=%lu", damaged_sector(2));
  run_fs(t, FsRun{.fs_arg = arg, .mode = "dotdot-loop"});
}

TESSERA_USER_TEST(FS0029, pass, "fs: indirect blocks past the end of the volume and pointing at themselves: Corrupted, no hang") {
  char arg[48];
  tessera::format_to(arg, sizeof(arg), "arg=at=%lu", damaged_sector(3));
  run_fs(t, FsRun{.fs_arg = arg, .mode = "bad-indirect"});
}

TESSERA_USER_TEST(FS0030, pass, "fs: a group descriptor with its inode table past the end: the mount refused; the main disk still e2fsck-clean afterwards") {
  char arg[48];
  tessera::format_to(arg, sizeof(arg), "arg=at=%lu", damaged_sector(4));
  run_fs(t, FsRun{.fs_arg = arg, .fs_exit = 2});
}

TESSERA_USER_TEST(FS0031, pass, "fs: every File method through Files closed by a reconnect or a disconnect refused; FileSystem methods after disconnect IllegalOperation") {
  check(t, "stale-files");
}

TESSERA_USER_TEST(FS0032, pass, "fs: readdir with made-up cursors (2^64-1, inside entries, past the end): errors or valid records, always ending") {
  check(t, "readdir-cursors");
}

TESSERA_USER_TEST(FS0033, pass, "fs: reads and writes at offsets near 2^64, of 0 bytes, at the buffer's exact end; append with and without write") {
  check(t, "offsets");
}

TESSERA_USER_TEST(FS0034, pass, "fs: all 256 open flag combinations on the root, a directory, a file, a symlink and a missing name") {
  check(t, "open-flags");
}

TESSERA_USER_TEST(FS0035, pass, "fs: paths of '/' and '.', 255-byte names, 400-byte paths, 0x80-0xff names, '.' and '..' as the last component") {
  check(t, "hostile-names");
}

TESSERA_USER_TEST(FS0036, pass, "fs: 1,000 connects in a row leak no buffer or File; the largest buffer still granted") {
  check(t, "reconnect-many");
}

TESSERA_USER_TEST(FS0037, pass, "fs: one client lists a directory while another creates and unlinks in it") {
  check(t, "race", "race-peer");
}

TESSERA_USER_TEST(FS0038, pass, "fs: a File passed to another client reaches only the opener's buffer, within its bounds, and goes with the opener's session") {
  check(t, "pass", "pass-peer");
}

TESSERA_USER_TEST(FS0039, pass, "fs: a client with a 1 MiB quota asks for 1 MiB buffers again and again: errors or buffers, no fault, nothing leaked") {
  run_fs(t, FsRun{.mode = "tiny-quota", .check_mem = "1M"});
}

TESSERA_USER_TEST(FS0040, pass, "fs: a client cannot take its buffer from the server: shrinking it is Busy, revoking it refused; the server still writes its last page") {
  check(t, "shrink");
}

TESSERA_USER_TEST(FS0041, pass, "fs: a 1 MiB read is DMAed straight into the client's buffer (a channel's data area) and is exactly the file; misaligned and around cached blocks too") {
  check(t, "zero-copy");
}

TESSERA_USER_TEST(FS0042, pass, "fs: the driver restarts under a zero-copy buffer: no fault, reads copied and exact, a new session zero-copy again") {
  run_fs(t, FsRun{.mode = "blk-restart", .raw_disk = true, .blk_arg = "arg=test", .driver_crashes = true});
}

TESSERA_USER_TEST(FS0043, pass, "fs: a client scribbles over, shrinks, revokes and lets go of its zero-copy buffer while another reads: only its own data spoilt") {
  check(t, "hostile-buffer", "zero-copy");
}

// Not a test: scripts/bench fs runs it (test=FSBENCH); the fs suite runs only FS####.
TESSERA_USER_TEST(FSBENCH, pass, "scripts/bench fs: the filesystem's operations (BENCH lines), not run by the suites") {
  run_fs(t, FsRun{.mode = "bench", .raw_disk = true});
}
