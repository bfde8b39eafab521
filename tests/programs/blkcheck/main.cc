// blkcheck: the client side of the BLK tests (tests/devices/blk_tests.cc, docs/drivers.md). A BLK
// test runs a system description with the virtio-blk driver (servers/blk) and this program,
// started through init's system library; the argument chooses what it checks, and it exits with 0
// when every check passed, otherwise with the number of the first that failed (and a line saying
// which). Its grants: endpoint:blk, and the notifications ready and go through which two blkcheck
// programs (modes X and X-peer) meet:
//   geometry   connect: capacity (the 64 MiB disk), sector size, slots, data area, flush; status
//   whole      random data written over the whole disk (64 KiB requests, 16 in flight), read back
//              and compared; a checksum of everything read equals the one of everything written
//   inflight   48 requests submitted before any completion is taken: the driver had >= 32 on the
//              device at once; 4 KiB random writes then reads, every byte checked
//   flush      writes, then a flush completing Ok after them; flush with a length refused
//   hostile    (peer hostile-bad: sends descriptors outside the data area, misaligned, too long,
//              with bad opcodes, scribbles on the setup lines, then makes its request index jump)
//              this client keeps writing and reading correctly throughout; the driver drops the
//              hostile one and still serves this one; dropped, the hostile one reconnects
//   lazy       (peer lazy-idle: fills its ring and takes no completion until told to) this client
//              does 2,000 I/Os meanwhile; then the idle one finds all its completions
//   malformed  10,000 malformed control messages (random labels, words, truncated, wrong
//              methods); the driver still answers and serves I/O
//   errors     reads and writes past the capacity, misaligned and oversized requests refused by
//              the driver with the right Error (arg=errors-device: the driver runs in test mode and
//              the device itself answers IOERR for a read past the end)
//   bench      scripts/bench blk: 4 KiB random reads, 4 KiB random writes (with and without a
//              flush after each), sequential 64 KiB reads, one at a time, timed with rdtsc
//              (BENCH lines), and the notifications each took (BENCHNOTE lines)
//   crash      (driver in test mode) a write/read stream during which the driver is crashed
//              through its test hook every few requests; every completed write is read back
//              correct after each restart; the disk's first 8 MiB hold a known pattern at the end
//              (checked from the host, tests/qemu)
#include <stdint.h>

#include <tessera/abi/block.capnp.h>
#include <tessera/blk/client.h>
#include <tessera/string.h>
#include <tessera/sys/debug.h>
#include <tessera/sys/ipc.h>
#include <tessera/sys/memory.h>
#include <tessera/sys/process.h>
#include <tessera/sys/server.h>

namespace {
namespace sys = tessera::sys;
namespace blkp = tessera::block;
using tessera::Error;
using tessera::error_name;
using tessera::Result;
using tessera::blk::BlockClient;
using tessera::blk::Completion;

constexpr uint32_t kSector = 512;
constexpr uint64_t kDiskSectors = (uint64_t{64} << 20) / kSector;

int failed = 0;

bool check(int number, bool ok, const char* what) {
  if (!ok && failed == 0) {
    failed = number;
    sys::print("blkcheck: check %d failed: %s\n", number, what);
  }
  return ok;
}

// The bytes of sector `sector` in write round `round`: a xorshift stream seeded by both.
void fill_sector(uint8_t* out, uint64_t sector, uint64_t round) {
  uint64_t x = (sector + 1) * 0x9E3779B97F4A7C15ull ^ (round + 1) * 0xD1B54A32D192ED03ull;
  for (uint32_t i = 0; i < kSector; i += 8) {
    x ^= x << 13;
    x ^= x >> 7;
    x ^= x << 17;
    memcpy(out + i, &x, 8);
  }
}
bool sector_is(const uint8_t* in, uint64_t sector, uint64_t round) {
  uint8_t expected[kSector];
  fill_sector(expected, sector, round);
  return memcmp(in, expected, kSector) == 0;
}
// A running checksum (FNV-1a 64) of everything written and everything read.
uint64_t fnv(uint64_t h, const uint8_t* p, uint64_t n) {
  for (uint64_t i = 0; i < n; ++i) h = (h ^ p[i]) * 0x100000001B3ull;
  return h;
}

struct Program {
  const sys::StartupBlock* block = nullptr;
  sys::SlotAllocator* slots = nullptr;
  sys::MemorySession session;
  sys::CPtr endpoints[4] = {};
  uint32_t endpoint_count = 0;
};
Program program;

bool connect(int number, BlockClient& client, uint32_t which) {
  if (!check(number, which < program.endpoint_count, "an endpoint:blk grant")) return false;
  const Result<void> r = client.connect(program.session, *program.slots, program.endpoints[which]);
  if (!r.ok()) sys::print("blkcheck: connect: %s\n", error_name(r.error()));
  return check(number, r.ok(), "connect to the driver");
}

// The driver's status, copied out of the reply (which lives in the IPC buffer).
struct Status {
  uint64_t capacity() const { return capacity_; }
  uint32_t clients() const { return clients_; }
  uint64_t refused() const { return refused_; }
  uint64_t errors() const { return errors_; }
  uint64_t interrupts() const { return interrupts_; }
  uint64_t device_notifies() const { return doorbells_; }
  uint64_t signals_in() const { return in_; }
  uint64_t signals_out() const { return out_; }
  uint64_t generation() const { return generation_; }
  uint32_t peak_in_flight() const { return peak_; }
  uint64_t work_ticks() const { return work_; }
  uint64_t work_ = 0;
  uint64_t capacity_ = 0, refused_ = 0, errors_ = 0, interrupts_ = 0, doorbells_ = 0, in_ = 0, out_ = 0, generation_ = 0;
  uint32_t clients_ = 0, peak_ = 0;
};
Result<Status> status(sys::CPtr endpoint) {
  sys::CallTransport transport(sys::ipc_buffer());
  blkp::Block::Client<sys::CallTransport> driver(transport, endpoint);
  const auto r = TRY(driver.status());
  Status s;
  s.capacity_ = r.capacity();
  s.clients_ = r.clients();
  s.errors_ = r.errors();
  s.refused_ = r.refused();
  s.interrupts_ = r.interrupts();
  s.work_ = r.work_ticks();
  s.doorbells_ = r.device_notifies();
  s.in_ = r.signals_in();
  s.out_ = r.signals_out();
  s.generation_ = r.generation();
  s.peak_ = r.peak_in_flight();
  return s;
}

// One synchronous request, checked.
bool io(int number, BlockClient& c, uint16_t op, uint64_t sector, uint64_t offset, uint32_t length, Error expected,
        const char* what) {
  const Result<Completion> done = c.run(op, sector, offset, length);
  if (!done.ok()) {
    sys::print("blkcheck: %s: %s\n", what, error_name(done.error()));
    return check(number, false, what);
  }
  if (done->status != expected) {
    sys::print("blkcheck: %s: completed %s, expected %s\n", what, error_name(done->status), error_name(expected));
  }
  return check(number, done->status == expected && (expected != Error::Ok || done->length == length), what);
}

// ---- modes ----------------------------------------------------------------------------------------

int geometry() {
  static BlockClient c;
  if (!connect(1, c, 0)) return failed;
  check(2, c.capacity() == kDiskSectors, "capacity: 131072 sectors (64 MiB)");
  check(3, c.slots() >= 32 && c.data_bytes() >= 128 * 1024, "at least 32 slots and 128 KiB of data area");
  check(4, c.max_transfer() >= 64 * 1024, "64 KiB transfers");
  const auto s = status(c.endpoint());
  if (!check(5, s.ok(), "status")) return failed;
  check(6, s->capacity() == kDiskSectors && s->clients() == 1, "status: capacity and one client");
  check(7, s->generation() == c.generation(), "status and connect agree on the generation");
  // Connecting again replaces the first connection.
  check(8, c.connect(program.session, *program.slots, c.endpoint()).ok(), "connect again");
  const auto again = status(c.endpoint());
  check(9, again.ok() && again->clients() == 1, "still one client");
  check(10, c.disconnect().ok(), "disconnect");
  const auto after = status(program.endpoints[0]);
  check(11, after.ok() && after->clients() == 0, "no client after disconnect");
  return failed;
}

int whole() {
  static BlockClient c;
  if (!connect(1, c, 0)) return failed;
  constexpr uint32_t kChunk = 64 * 1024;
  constexpr uint32_t kSectors = kChunk / kSector;
  const uint32_t depth = static_cast<uint32_t>(c.data_bytes() / kChunk) < 16 ? static_cast<uint32_t>(c.data_bytes() / kChunk) : 16;
  if (!check(2, depth >= 2, "room for two 64 KiB buffers")) return failed;
  c.set_batching(true);
  // A checksum of everything written and of everything read: each chunk's FNV-1a, XORed (reads
  // complete in any order).
  constexpr uint64_t kBasis = 0xCBF29CE484222325ull;
  uint64_t written_sum = 0, read_sum = 0;
  for (int pass = 0; pass < 2 && failed == 0; ++pass) {
    const bool writing = pass == 0;
    uint64_t next_sector = 0, done_sectors = 0;
    bool buffer_busy[16] = {};
    while (done_sectors < kDiskSectors && failed == 0) {
      // Fill every free buffer with a request.
      for (uint32_t b = 0; b < depth && next_sector < kDiskSectors; ++b) {
        if (buffer_busy[b]) continue;
        uint8_t* buffer = c.data() + uint64_t{b} * kChunk;
        if (writing) {
          for (uint32_t s = 0; s < kSectors; ++s) fill_sector(buffer + s * kSector, next_sector + s, 1);
          written_sum ^= fnv(kBasis, buffer, kChunk) + next_sector;
        }
        const auto cookie = c.submit(writing ? blkp::kOpWrite : blkp::kOpRead, next_sector, uint64_t{b} * kChunk, kChunk);
        if (!check(3, cookie.ok(), "submit")) break;
        buffer_busy[b] = true;
        next_sector += kSectors;
      }
      if (!check(4, c.kick().ok(), "kick")) break;
      const Result<Completion> done = c.next();
      if (!check(5, done.ok() && done->status == Error::Ok && done->length == kChunk, "a completion with status Ok")) {
        if (done.ok()) sys::print("blkcheck: status %s\n", error_name(done->status));
        break;
      }
      const uint32_t b = static_cast<uint32_t>(done->offset / kChunk);
      if (!writing) {
        const uint8_t* buffer = c.data() + done->offset;
        read_sum ^= fnv(kBasis, buffer, kChunk) + done->sector;
        for (uint32_t s = 0; s < kSectors; ++s) {
          if (!sector_is(buffer + s * kSector, done->sector + s, 1)) {
            sys::print("blkcheck: sector %lu differs\n", done->sector + s);
            check(6, false, "every sector reads back as written");
            break;
          }
        }
      }
      buffer_busy[b] = false;
      done_sectors += kSectors;
    }
  }
  check(7, failed != 0 || written_sum == read_sum, "the checksum of what was read is the one of what was written");
  sys::print("blkcheck: 64 MiB written and read back, checksum %016lx\n", read_sum);
  return failed;
}

int inflight() {
  static BlockClient c;
  if (!connect(1, c, 0)) return failed;
  constexpr uint32_t kCount = 48;
  constexpr uint32_t kBlock = 4096;
  if (!check(2, c.slots() >= kCount && c.data_bytes() >= kCount * kBlock, "room for 48 requests")) return failed;
  uint64_t x = 0x1234567;
  uint64_t sectors[kCount];
  for (int round = 0; round < 4 && failed == 0; ++round) {
    // Distinct random 4 KiB-aligned places.
    for (uint32_t i = 0; i < kCount; ++i) {
      bool again = true;
      while (again) {
        x ^= x << 13;
        x ^= x >> 7;
        x ^= x << 17;
        sectors[i] = (x % (kDiskSectors / 8)) * 8;
        again = false;
        for (uint32_t j = 0; j < i; ++j) again = again || sectors[j] == sectors[i];
      }
      for (uint32_t s = 0; s < 8; ++s) fill_sector(c.data() + i * kBlock + s * kSector, sectors[i] + s, static_cast<uint64_t>(100 + round));
    }
    c.set_batching(true);
    for (uint32_t i = 0; i < kCount; ++i) check(3, c.write(sectors[i], i * kBlock, kBlock).ok(), "submit a write");
    check(4, c.kick().ok() && c.outstanding() == kCount, "48 writes outstanding");
    for (uint32_t i = 0; i < kCount; ++i) {
      const auto done = c.next();
      check(5, done.ok() && done->status == Error::Ok, "a write completes Ok");
    }
    memset(c.data(), 0, kCount * kBlock);
    for (uint32_t i = 0; i < kCount; ++i) check(6, c.read(sectors[i], i * kBlock, kBlock).ok(), "submit a read");
    check(7, c.kick().ok(), "kick");
    for (uint32_t i = 0; i < kCount; ++i) {
      const auto done = c.next();
      check(8, done.ok() && done->status == Error::Ok, "a read completes Ok");
    }
    for (uint32_t i = 0; i < kCount; ++i) {
      for (uint32_t s = 0; s < 8; ++s) {
        check(9, sector_is(c.data() + i * kBlock + s * kSector, sectors[i] + s, static_cast<uint64_t>(100 + round)), "read back as written");
      }
    }
  }
  const auto s = status(c.endpoint());
  if (check(10, s.ok(), "status")) {
    sys::print("blkcheck: peak %u requests on the device, %lu interrupts, %lu doorbells, %lu signals in, %lu out\n",
               s->peak_in_flight(), s->interrupts(), s->device_notifies(), s->signals_in(), s->signals_out());
    check(11, s->peak_in_flight() >= 32, "at least 32 requests on the device at once");
    check(12, s->errors() == 0, "no errors");
  }
  return failed;
}

int flush() {
  static BlockClient c;
  if (!connect(1, c, 0)) return failed;
  for (uint32_t s = 0; s < 16; ++s) fill_sector(c.data() + s * kSector, 1000 + s, 7);
  c.set_batching(true);
  check(2, c.write(1000, 0, 16 * kSector).ok() && c.flush().ok() && c.kick().ok(), "a write and a flush");
  bool flushed = false, wrote = false;
  for (int i = 0; i < 2; ++i) {
    const auto done = c.next();
    if (!check(3, done.ok() && done->status == Error::Ok, "both complete Ok")) break;
    if (done->opcode == blkp::kOpFlush) flushed = true;
    if (done->opcode == blkp::kOpWrite) wrote = true;
  }
  check(4, flushed && wrote, "the write and the flush completed");
  c.set_batching(false);
  io(5, c, blkp::kOpFlush, 0, 0, 0, Error::Ok, "a flush alone");
  io(6, c, blkp::kOpFlush, 0, 0, 512, Error::InvalidArgument, "a flush with a length");
  memset(c.data(), 0, 16 * kSector);
  io(7, c, blkp::kOpRead, 1000, 0, 16 * kSector, Error::Ok, "read back");
  for (uint32_t s = 0; s < 16; ++s) check(8, sector_is(c.data() + s * kSector, 1000 + s, 7), "the flushed write reads back");
  return failed;
}

// The good client's step: write then read a 4 KiB block at a place of its own and check it.
bool good_step(int number, BlockClient& c, uint32_t i) {
  const uint64_t sector = 20000 + (i % 64) * 8;
  for (uint32_t s = 0; s < 8; ++s) fill_sector(c.data() + s * kSector, sector + s, 500 + i);
  if (!io(number, c, blkp::kOpWrite, sector, 0, 4096, Error::Ok, "the good client's write")) return false;
  memset(c.data(), 0, 4096);
  if (!io(number, c, blkp::kOpRead, sector, 0, 4096, Error::Ok, "the good client's read")) return false;
  for (uint32_t s = 0; s < 8; ++s) {
    if (!check(number, sector_is(c.data() + s * kSector, sector + s, 500 + i), "the good client reads its data")) return false;
  }
  return true;
}

// The two sides meet through the notifications `ready` (peer -> check) and `go` (check -> peer).
sys::CPtr grant(const char* name) {
  const auto g = sys::find_grant(*program.block, name);
  return g.ok() ? g.value() : 0;
}

// The hostile client (the peer): refused descriptors of every kind, then an index jump.
int hostile_bad() {
  static BlockClient bad;
  if (!connect(1, bad, 0)) return failed;
  const uint64_t area = bad.data_bytes();
  struct Case {
    uint16_t op;
    uint64_t sector, offset;
    uint32_t length;
    Error expected;
    const char* what;
  };
  const Case cases[] = {
      {blkp::kOpRead, 0, area, 512, Error::RangeError, "an offset at the end of the data area"},
      {blkp::kOpRead, 0, area - 512, 1024, Error::RangeError, "a length past the data area"},
      {blkp::kOpWrite, 0, ~0ull - 511, 1024, Error::RangeError, "an offset that wraps"},
      {blkp::kOpRead, 0, 1ull << 40, 4096, Error::RangeError, "an offset far away"},
      {blkp::kOpRead, 0, 0, 0xFFFFFE00u, Error::RangeError, "a 4 GiB length"},
      {blkp::kOpRead, 0, 100, 512, Error::AlignmentError, "a misaligned offset"},
      {blkp::kOpRead, 0, 0, 100, Error::AlignmentError, "a partial sector"},
      {blkp::kOpRead, 0, 0, 0, Error::AlignmentError, "an empty read"},
      {blkp::kOpRead, 0, 0, 128 * 1024, Error::RangeError, "a transfer above the maximum"},
      {0, 0, 0, 512, Error::InvalidArgument, "opcode 0"},
      {77, 0, 0, 512, Error::InvalidArgument, "opcode 77"},
      {0xFFFF, 0, 0, 512, Error::InvalidArgument, "opcode 65535"},
  };
  for (uint32_t round = 0; round < 20 && failed == 0; ++round) {
    for (const Case& k : cases) io(2, bad, k.op, k.sector, k.offset, k.length, k.expected, k.what);
  }
  // Garbage in the setup lines (never read again after attach) changes nothing.
  uint8_t* base = bad.ring_base();
  const tessera::RingPairLayout layout = tessera::ring_pair_layout(bad.slots(), bad.data_bytes());
  auto* request_ring = reinterpret_cast<tessera::RingHeader*>(base + layout.request_offset);
  auto* completion_ring = reinterpret_cast<tessera::RingHeader*>(base + layout.completion_offset);
  request_ring->capacity = 3;
  completion_ring->magic = 0;
  io(3, bad, blkp::kOpRead, 0, 0, 512, Error::Ok, "a good request after the setup lines were scribbled");
  // The producer index jumps past what the ring can hold: the driver drops this client when it
  // next looks (the good client's requests make it look at every ring).
  __atomic_store_n(&request_ring->producer.index, request_ring->producer.index + 1000, __ATOMIC_RELEASE);
  (void)sys::signal(grant("notification:ready"));
  uint64_t word = 0;
  (void)sys::wait(grant("notification:go"), &word);
  // Dropped, it connects again and is served.
  check(4, bad.connect(program.session, *program.slots, program.endpoints[0]).ok(), "the dropped client reconnects");
  io(5, bad, blkp::kOpRead, 0, 0, 512, Error::Ok, "and is served");
  return failed;
}

// The good client next to it: writes and reads its own blocks correctly all along.
int hostile() {
  static BlockClient good;
  if (!connect(1, good, 0)) return failed;
  uint32_t i = 0;
  uint32_t most_clients = 0;
  uint64_t word = 0;
  bool ready = false;
  while (!ready && failed == 0 && i < 100000) {
    good_step(2, good, i++);
    // After every request: the hostile client may be connected for only a few of them (it is
    // dropped at the driver's next look once its index jumped), more so on a loaded host.
    const auto s = status(good.endpoint());
    if (s.ok() && s->clients() > most_clients) most_clients = s->clients();
    ready = sys::poll(grant("notification:ready"), &word) == Error::Ok && word != 0;
  }
  check(3, ready, "the hostile client finished");
  check(4, most_clients == 2, "two clients at once");
  good_step(5, good, i++);
  const auto after = status(good.endpoint());
  check(6, after.ok() && after->clients() == 1, "the driver dropped the client whose index jumped");
  for (uint32_t n = 0; n < 50 && failed == 0; ++n) good_step(7, good, i++);
  sys::print("blkcheck: %u good requests next to the hostile client, %lu refused\n", 2 * i, after.ok() ? after->refused() : 0);
  (void)sys::signal(grant("notification:go"));
  return failed;
}

// The peer that fills its ring and does not look at completions until told to.
int lazy_idle() {
  static BlockClient idle;
  if (!connect(1, idle, 0)) return failed;
  idle.set_batching(true);
  uint32_t submitted = 0;
  for (uint32_t n = 0; n < idle.slots(); ++n) {
    if (idle.read(n * 8, (n % 16) * 4096, 4096).ok()) ++submitted;
  }
  check(2, idle.kick().ok() && submitted == idle.slots(), "the idle client fills its ring");
  check(3, idle.read(0, 0, 512).error() == Error::WouldBlock, "and cannot submit more");
  (void)sys::signal(grant("notification:ready"));
  uint64_t word = 0;
  (void)sys::wait(grant("notification:go"), &word);
  // Its completions were all kept: it takes them now, every one.
  uint32_t completed = 0;
  for (uint32_t n = 0; n < submitted; ++n) {
    const auto done = idle.next();
    if (done.ok() && done->status == Error::Ok) ++completed;
  }
  check(4, completed == submitted, "every completion of the idle client arrives once it looks");
  io(5, idle, blkp::kOpRead, 0, 0, 4096, Error::Ok, "and it is served again");
  return failed;
}

int lazy() {
  static BlockClient busy;
  if (!connect(1, busy, 0)) return failed;
  uint64_t word = 0;
  (void)sys::wait(grant("notification:ready"), &word);
  for (uint32_t n = 0; n < 1000 && failed == 0; ++n) good_step(2, busy, n);
  const auto s = status(busy.endpoint());
  check(3, s.ok() && s->clients() == 2, "both clients still connected");
  (void)sys::signal(grant("notification:go"));
  for (uint32_t n = 0; n < 1000 && failed == 0; ++n) good_step(4, busy, n);
  return failed;
}

int malformed() {
  static BlockClient c;
  if (!connect(1, c, 0)) return failed;
  const sys::CPtr endpoint = c.endpoint();
  tessera::IpcBuffer* buffer = sys::ipc_buffer();
  uint64_t x = 0xC0FFEE;
  auto next = [&x] {
    x ^= x << 13;
    x ^= x >> 7;
    x ^= x << 17;
    return x;
  };
  using Method = blkp::Block::Method;
  uint32_t answered = 0;
  for (uint32_t n = 0; n < 10000; ++n) {
    const uint64_t kind = n % 5;
    uint64_t label = 0;
    uint32_t words = static_cast<uint32_t>(next() % 12);
    for (uint32_t w = 0; w < 12; ++w) buffer->msg[w] = next();
    if (kind == 0) label = next();                                     // any label
    if (kind == 1) label = blkp::Block::label(static_cast<Method>(next() % 5));   // our methods, garbage words
    if (kind == 2) label = blkp::Block::label(static_cast<Method>(6 + next() % 1000)) ^ (next() & (0xFFFFull << 48));  // unknown methods
    if (kind == 3) {                                                   // a plausible root pointer, wrong sizes
      label = blkp::Block::label(static_cast<Method>(next() % 5));
      buffer->msg[0] = next() & 0xFFFFFFFF00000000ull;
    }
    if (kind == 4) {                                                   // zero-length, label 0
      label = 0;
      words = 0;
    }
    sys::Received reply{};
    const Error e = sys::call(endpoint, sys::MessageInfo{label, words, 0, 0}, &reply);
    if (e == Error::Ok) ++answered;
  }
  check(2, answered == 10000, "every malformed message answered");
  const auto s = status(endpoint);
  check(3, s.ok() && s->capacity() == kDiskSectors, "the driver still answers status");
  for (uint32_t s2 = 0; s2 < 8; ++s2) fill_sector(c.data() + s2 * kSector, 3000 + s2, 9);
  io(4, c, blkp::kOpWrite, 3000, 0, 4096, Error::Ok, "and serves a write");
  memset(c.data(), 0, 4096);
  io(5, c, blkp::kOpRead, 3000, 0, 4096, Error::Ok, "and a read");
  for (uint32_t s2 = 0; s2 < 8; ++s2) check(6, sector_is(c.data() + s2 * kSector, 3000 + s2, 9), "read back");
  return failed;
}

int errors(bool device) {
  static BlockClient c;
  if (!connect(1, c, 0)) return failed;
  if (device) {
    // The driver skips its range check in test mode: the device answers.
    io(2, c, blkp::kOpRead, kDiskSectors, 0, 512, Error::IoError, "a read past the end: the device's IOERR");
    io(3, c, blkp::kOpWrite, kDiskSectors - 1, 0, 1024, Error::IoError, "a write across the end: IOERR");
    io(4, c, blkp::kOpRead, kDiskSectors - 1, 0, 512, Error::Ok, "the last sector reads");
    const auto s = status(c.endpoint());
    check(5, s.ok() && s->errors() == 2, "two errors counted");
    return failed;
  }
  io(2, c, blkp::kOpRead, kDiskSectors, 0, 512, Error::RangeError, "a read past the end");
  io(3, c, blkp::kOpWrite, kDiskSectors - 1, 0, 1024, Error::RangeError, "a write across the end");
  io(4, c, blkp::kOpRead, ~0ull, 0, 512, Error::RangeError, "sector 2^64-1");
  io(5, c, blkp::kOpRead, ~0ull - 1, 0, 4096, Error::RangeError, "a sector that wraps with the length");
  io(6, c, blkp::kOpRead, kDiskSectors - 1, 0, 512, Error::Ok, "the last sector reads");
  io(7, c, blkp::kOpRead, 0, 0, 96 * 1024, Error::RangeError, "above the maximum transfer");
  return failed;
}

// The driver crashed through its hook every few requests in a stream of writes and reads. Every
// write completed before a crash must read back afterwards; outstanding requests are reissued by
// the library. At the end sectors 0..16383 hold round `kFinalRound` for the host to check.
constexpr uint64_t kFinalRound = 4242;
int crash(uint32_t crashes) {
  static BlockClient c;
  if (!connect(1, c, 0)) return failed;
  constexpr uint32_t kRegionSectors = 16384;  // 8 MiB
  constexpr uint32_t kBlock = 8192;
  constexpr uint32_t kSectors = kBlock / kSector;
  constexpr uint32_t kDepth = 8;
  c.set_batching(true);
  uint64_t sector = 0;
  uint32_t crashed = 0;
  uint64_t acknowledged = 0;
  sys::CallTransport transport(sys::ipc_buffer());
  blkp::Block::Client<sys::CallTransport> driver(transport, c.endpoint());
  for (uint32_t step = 0; failed == 0 && (crashed < crashes || sector < kRegionSectors); ++step) {
    // kDepth writes of the next blocks (wrapping over the region), then crash, then read them back.
    uint64_t firsts[kDepth];
    for (uint32_t b = 0; b < kDepth; ++b) {
      firsts[b] = sector % kRegionSectors;
      for (uint32_t s = 0; s < kSectors; ++s) fill_sector(c.data() + uint64_t{b} * kBlock + s * kSector, firsts[b] + s, kFinalRound);
      check(2, c.write(firsts[b], b * kBlock, kBlock).ok(), "submit a write");
      sector += kSectors;
    }
    check(3, c.kick().ok(), "kick");
    // Take a few completions, then crash the driver with the rest in flight.
    uint32_t taken = 0;
    for (; taken < kDepth / 2; ++taken) {
      const auto done = c.next();
      if (!check(4, done.ok() && done->status == Error::Ok, "a write completes")) break;
      ++acknowledged;
    }
    if (crashed < crashes) {
      const auto r = driver.crash();
      check(5, !r.ok() && r.error() == Error::NoReply, "the crash hook: the call ends with NoReply");
      ++crashed;
    }
    for (; taken < kDepth && failed == 0; ++taken) {
      const auto done = c.next();
      if (!check(6, done.ok() && done->status == Error::Ok, "a write completes after the restart")) {
        if (done.ok()) sys::print("blkcheck: %s\n", error_name(done->status));
        if (!done.ok()) sys::print("blkcheck: %s\n", error_name(done.error()));
        break;
      }
      ++acknowledged;
    }
    // Read every block back (after the restart: the successor reads what the device has).
    memset(c.data(), 0, kDepth * kBlock);
    for (uint32_t b = 0; b < kDepth; ++b) check(7, c.read(firsts[b], b * kBlock, kBlock).ok(), "submit a read");
    check(8, c.kick().ok(), "kick");
    for (uint32_t b = 0; b < kDepth && failed == 0; ++b) {
      const auto done = c.next();
      check(9, done.ok() && done->status == Error::Ok, "a read completes");
    }
    for (uint32_t b = 0; b < kDepth && failed == 0; ++b) {
      for (uint32_t s = 0; s < kSectors; ++s) {
        if (!sector_is(c.data() + b * kBlock + s * kSector, firsts[b] + s, kFinalRound)) {
          sys::print("blkcheck: sector %lu lost after %u crashes\n", firsts[b] + s, crashed);
          check(10, false, "every acknowledged write reads back after the restart");
          break;
        }
      }
    }
  }
  sys::print("blkcheck: %u crashes, %lu reconnects, %lu writes acknowledged\n", crashed, c.reconnects(), acknowledged);
  check(11, c.reconnects() >= crashes, "the library reconnected after every crash");
  io(12, c, blkp::kOpFlush, 0, 0, 0, Error::Ok, "a final flush");
  return failed;
}

// ---- bench (scripts/bench blk) ---------------------------------------------------------------------

[[gnu::always_inline]] inline uint64_t rdtsc() {
  uint32_t lo, hi;
  asm volatile("lfence; rdtsc" : "=a"(lo), "=d"(hi) : : "memory");
  return (uint64_t{hi} << 32) | lo;
}

constexpr int kBenchWarmup = 1000;
constexpr int kBenchIterations = 10000;
uint64_t samples[kBenchIterations];
uint64_t total_ticks = 0;  // the timed iterations' ticks, summed (BENCHSPLIT)
// Per timed iteration (BENCHSPLIT): the client's ticks, its empty polls, and what is neither the
// client's nor waiting (driver + kernel).
uint32_t client_samples[kBenchIterations], poll_samples[kBenchIterations], rest_samples[kBenchIterations];

// The median of values[0, n) (reorders them: quickselect).
uint32_t median32(uint32_t* values, int n) {
  int lo = 0, hi = n - 1;
  const int k = n / 2;
  while (lo < hi) {
    const uint32_t pivot = values[(lo + hi) / 2];
    int i = lo, j = hi;
    while (i <= j) {
      while (values[i] < pivot) ++i;
      while (values[j] > pivot) --j;
      if (i <= j) {
        const uint32_t t = values[i];
        values[i++] = values[j];
        values[j--] = t;
      }
    }
    if (k <= j) {
      hi = j;
    } else if (k >= i) {
      lo = i;
    } else {
      break;
    }
  }
  return values[k];
}

uint64_t median_of(int n) {
  for (int i = 1; i < n; ++i) {  // insertion sort: fine for mostly equal values
    const uint64_t x = samples[i];
    int j = i - 1;
    while (j >= 0 && samples[j] > x) {
      samples[j + 1] = samples[j];
      --j;
    }
    samples[j + 1] = x;
  }
  return samples[n / 2];
}

uint64_t rdtsc_overhead() {
  for (int i = 0; i < kBenchIterations; ++i) {
    const uint64_t a = rdtsc();
    samples[i] = rdtsc() - a;
  }
  return median_of(kBenchIterations);
}

// One request at a time, each timed from submit to its completion in hand (the client library's
// path: descriptor pushed, driver signalled when it asked, wait, completion popped).
struct BenchCase {
  const char* name;
  uint16_t op;
  uint32_t bytes;
  bool sequential;
  bool flush;  // a flush after each request, timed with it (Linux: write + fdatasync)
};

// The cost split (BENCHSPLIT): the client's own instructions (submit: the descriptor into the ring;
// after the wait: the completion taken), measured around them; the wait, the client spinning while
// the device works: each poll that finds nothing costs the same (the cheapest poll seen), a poll
// the driver or the kernel preempted costs more and only its cheapest part is waiting; the
// driver's data-path ticks from Block.status (without its system calls). The kernel is the rest.
struct Split {
  uint64_t client = 0, polls = 0, cheapest_poll = ~uint64_t{0};
};

// One request: submit, signal the driver (kick), poll for the completion.
Result<Completion> bench_request(BlockClient& c, uint16_t op, uint64_t sector, uint32_t bytes, Split& split) {
  const uint64_t t0 = rdtsc();
  const Result<uint64_t> cookie = c.submit(op, sector, 0, bytes);
  const uint64_t t1 = rdtsc();
  if (!cookie.ok()) return cookie.error();
  TRY(c.kick());
  uint64_t poll = rdtsc();
  for (;;) {
    const Result<Completion> done = c.next(false);
    const uint64_t now = rdtsc();
    if (done.ok()) {
      split.client += (t1 - t0) + (now - poll);
      if (done.value().cookie != cookie.value()) return Error::MalformedMessage;
      return done.value();
    }
    if (done.error() != Error::WouldBlock) return done.error();
    asm volatile("pause");
    const uint64_t next = rdtsc();
    ++split.polls;
    if (next - poll < split.cheapest_poll) split.cheapest_poll = next - poll;
    poll = next;
  }
}

void bench_case(BlockClient& c, const BenchCase& k, uint64_t overhead) {
  uint64_t x = 0x2545F4914F6CDD1Dull;
  uint64_t sector = 0;
  const uint64_t per = k.bytes / kSector;
  Split split, ignored;
  uint64_t driver_start = 0;  // the driver's data-path ticks when the timed iterations begin
  const auto before = status(c.endpoint());
  const uint64_t signals_before = c.signals(), waits_before = c.waits();
  for (int i = 0; i < kBenchWarmup + kBenchIterations; ++i) {
    if (i == kBenchWarmup) {
      const auto at = status(c.endpoint());
      if (at.ok()) driver_start = at->work_ticks();
    }
    if (k.sequential) {
      sector = (sector + per) % (kDiskSectors - per);
    } else {
      x ^= x << 13;
      x ^= x >> 7;
      x ^= x << 17;
      sector = (x % (kDiskSectors / per)) * per;
    }
    Split& s = i >= kBenchWarmup ? split : ignored;
    const uint64_t client_before = s.client, polls_before = s.polls;
    const uint64_t start = rdtsc();
    const auto done = bench_request(c, k.op, sector, k.bytes, s);
    if (k.flush) (void)bench_request(c, blkp::kOpFlush, 0, 0, s);
    const uint64_t end = rdtsc();
    if (!done.ok() || done->status != Error::Ok) {
      sys::print("BENCH-ERROR blkcheck: %s failed\n", k.name);
      return;
    }
    if (i >= kBenchWarmup) {
      samples[i - kBenchWarmup] = end - start;
      client_samples[i - kBenchWarmup] = static_cast<uint32_t>(s.client - client_before);
      poll_samples[i - kBenchWarmup] = static_cast<uint32_t>(s.polls - polls_before);
      total_ticks += end - start;
    }
  }
  // The split of the median iteration, before median_of sorts the totals: the client's median,
  // the wait's (empty polls x the cheapest poll) and the median of the rest (driver + kernel).
  const uint64_t cheapest = split.polls != 0 ? split.cheapest_poll : 0;
  for (int i = 0; i < kBenchIterations; ++i) {
    const uint64_t other = client_samples[i] + poll_samples[i] * cheapest;
    rest_samples[i] = static_cast<uint32_t>(samples[i] > other ? samples[i] - other : 0);
  }
  const uint64_t median_client = median32(client_samples, kBenchIterations);
  const uint64_t median_wait = median32(poll_samples, kBenchIterations) * cheapest;
  const uint64_t median_rest = median32(rest_samples, kBenchIterations);
  const uint64_t median = median_of(kBenchIterations);
  sys::print("BENCH %s median=%lu min=%lu max=%lu overhead=%lu n=%d\n", k.name, median > overhead ? median - overhead : 0,
             samples[0], samples[kBenchIterations - 1], overhead, kBenchIterations);
  const auto after = status(c.endpoint());
  if (before.ok() && after.ok()) {
    const uint64_t total = static_cast<uint64_t>(kBenchWarmup + kBenchIterations) * (k.flush ? 2 : 1);
    // Per request, in thousandths: client -> driver signals, driver -> client signals, interrupts,
    // doorbell writes, and the times the client slept.
    sys::print("BENCHNOTE %s requests=%lu client_signals=%lu driver_signals=%lu interrupts=%lu doorbells=%lu client_waits=%lu\n",
               k.name, total, c.signals() - signals_before, after->signals_out() - before->signals_out(),
               after->interrupts() - before->interrupts(), after->device_notifies() - before->device_notifies(),
               c.waits() - waits_before);
    // Sums over the timed iterations (not the warm-up): their total ticks, the client's, the
    // wait (polls x the cheapest poll) and the driver's data path (between two status calls,
    // which are the control path and not counted).
    const uint64_t wait = split.polls * (split.polls != 0 ? split.cheapest_poll : 0);
    sys::print("BENCHSPLIT %s iterations=%d total=%lu client=%lu driver=%lu wait=%lu polls=%lu cheapest_poll=%lu "
               "median_client=%lu median_wait=%lu median_rest=%lu\n",
               k.name, kBenchIterations, total_ticks, split.client, after->work_ticks() - driver_start, wait, split.polls,
               cheapest, median_client, median_wait, median_rest);
  }
  total_ticks = 0;
}

int bench() {
  static BlockClient c;
  if (!connect(1, c, 0)) return failed;
  const uint64_t overhead = rdtsc_overhead();
  // Every sector written once first, so reads come from the image (not from holes).
  for (uint64_t s = 0; s < kDiskSectors && failed == 0; s += 128) {
    memset(c.data(), static_cast<int>(s & 0xFF), 65536);
    io(2, c, blkp::kOpWrite, s, 0, 65536, Error::Ok, "fill the disk");
  }
  const BenchCase cases[] = {
      {"read_4k_random", blkp::kOpRead, 4096, false, false},
      {"write_4k_random", blkp::kOpWrite, 4096, false, true},
      {"write_4k_random_noflush", blkp::kOpWrite, 4096, false, false},
      {"read_seq_64k", blkp::kOpRead, 65536, true, false},
  };
  // The client spins for its completion (the driver runs at a higher priority, so its interrupt
  // and signals preempt the spin): a guest that halts would count QEMU's host-time completion as
  // the instructions up to the next timer tick under -icount (Linux's write figure: idle=poll).
  c.set_polling(true);
  c.set_batching(true);  // bench_request signals the driver itself (kick), to time the client's part apart
  for (const BenchCase& k : cases) bench_case(c, k, overhead);
  sys::print("BENCH-DONE\n");
  return failed;
}

}  // namespace

int main(uint64_t argument) {
  const sys::StartupBlock* block = sys::startup_block(argument);
  if (block == nullptr) return 100;
  static sys::SlotAllocator slots(block->empty);
  program.block = block;
  program.slots = &slots;
  program.session = sys::MemorySession(sys::process_memory()->cap(), slots, sys::kProcessSlotCNode);
  for (uint32_t i = 0; i < block->grant_count && program.endpoint_count < 4; ++i) {
    if (strcmp(block->grants[i].name, "endpoint:blk") == 0) program.endpoints[program.endpoint_count++] = block->grants[i].slot;
  }
  const char* mode = block->argument;
  int result = 100;
  if (strcmp(mode, "geometry") == 0) result = geometry();
  else if (strcmp(mode, "whole") == 0) result = whole();
  else if (strcmp(mode, "inflight") == 0) result = inflight();
  else if (strcmp(mode, "flush") == 0) result = flush();
  else if (strcmp(mode, "hostile") == 0) result = hostile();
  else if (strcmp(mode, "hostile-bad") == 0) result = hostile_bad();
  else if (strcmp(mode, "lazy") == 0) result = lazy();
  else if (strcmp(mode, "lazy-idle") == 0) result = lazy_idle();
  else if (strcmp(mode, "malformed") == 0) result = malformed();
  else if (strcmp(mode, "bench") == 0) result = bench();
  else if (strcmp(mode, "errors") == 0) result = errors(false);
  else if (strcmp(mode, "errors-device") == 0) result = errors(true);
  else if (strncmp(mode, "crash", 5) == 0) {
    uint32_t crashes = 0;
    for (const char* p = mode + 6; mode[5] == '=' && *p >= '0' && *p <= '9'; ++p) crashes = crashes * 10 + static_cast<uint32_t>(*p - '0');
    result = crash(mode[5] == '=' ? crashes : 3);
  }
  else sys::print("blkcheck: unknown mode %s\n", mode);
  return result;
}
