// virtio 1.x over PCI for the block driver (servers/blk): the register layout of the modern
// interface (the structures virtio's vendor capabilities point at), the split virtqueue and the
// block device's request format. Values from the virtio 1.x specification; everything is
// little-endian, as x86 is.
#pragma once

#include <stdint.h>

namespace blk::virtio {

// PCI vendor capability (id 0x09): cfg_type at +3, bar at +4, offset at +8, length at +12; the
// notify capability adds notify_off_multiplier at +16.
constexpr uint8_t kPciCapVendor = 0x09;
enum CfgType : uint8_t { kCommonCfg = 1, kNotifyCfg = 2, kIsrCfg = 3, kDeviceCfg = 4 };

// The common configuration structure (cfg_type 1).
enum CommonOffset : uint32_t {
  kDeviceFeatureSelect = 0x00,  // u32
  kDeviceFeature = 0x04,        // u32, read-only
  kDriverFeatureSelect = 0x08,  // u32
  kDriverFeature = 0x0C,        // u32
  kMsixConfig = 0x10,           // u16
  kNumQueues = 0x12,            // u16
  kDeviceStatus = 0x14,         // u8
  kConfigGeneration = 0x15,     // u8
  kQueueSelect = 0x16,          // u16
  kQueueSize = 0x18,            // u16
  kQueueMsixVector = 0x1A,      // u16
  kQueueEnable = 0x1C,          // u16
  kQueueNotifyOff = 0x1E,       // u16
  kQueueDesc = 0x20,            // u64
  kQueueDriver = 0x28,          // u64 (the available ring)
  kQueueDevice = 0x30,          // u64 (the used ring)
};

// Device status bits.
constexpr uint8_t kStatusAcknowledge = 1, kStatusDriver = 2, kStatusDriverOk = 4, kStatusFeaturesOk = 8,
                  kStatusNeedsReset = 64, kStatusFailed = 128;

// Feature bits (64 of them, read and written 32 at a time through the select registers).
constexpr uint64_t kBlkSizeMax = 1ull << 1, kBlkSegMax = 1ull << 2, kBlkReadOnly = 1ull << 5,
                   kBlkBlockSize = 1ull << 6, kBlkFlush = 1ull << 9, kVersion1 = 1ull << 32;

// The ISR status byte (cfg_type 3; reading it clears it and deasserts INTx).
constexpr uint8_t kIsrQueue = 1, kIsrConfig = 2;

// virtio-blk's device configuration (cfg_type 4).
constexpr uint32_t kBlkCapacity = 0;    // u64, in 512-byte sectors
constexpr uint32_t kBlkSegMaxAt = 12;   // u32
constexpr uint32_t kBlkBlockSizeAt = 20;  // u32

// The split virtqueue.
struct Descriptor {
  uint64_t address;
  uint32_t length;
  uint16_t flags;
  uint16_t next;
};
static_assert(sizeof(Descriptor) == 16);
constexpr uint16_t kDescNext = 1, kDescWrite = 2;

constexpr uint16_t kMaxQueueSize = 256;  // what this driver uses at most

struct Available {
  uint16_t flags;
  uint16_t index;
  uint16_t ring[kMaxQueueSize];  // queue size entries (then used_event, unused: no EVENT_IDX)
};
constexpr uint16_t kAvailNoInterrupt = 1;

struct UsedElement {
  uint32_t id;
  uint32_t length;
};
struct Used {
  uint16_t flags;
  uint16_t index;
  UsedElement ring[kMaxQueueSize];  // queue size entries (then avail_event, unused)
};
constexpr uint16_t kUsedNoNotify = 1;

// A block request: this header (device-readable), the data, one status byte (device-writable).
struct BlkHeader {
  uint32_t type;
  uint32_t reserved;
  uint64_t sector;
};
static_assert(sizeof(BlkHeader) == 16);
constexpr uint32_t kBlkTypeIn = 0, kBlkTypeOut = 1, kBlkTypeFlush = 4;
constexpr uint8_t kBlkStatusOk = 0, kBlkStatusIoErr = 1, kBlkStatusUnsupported = 2;

}  // namespace blk::virtio
