// Loading a program's ELF image into a new address space (tessera/sys/process.h). The image is
// parsed by the system's one ELF parser (shared/elf.cc, the pure logic the kernel loads the root
// task with), which treats it as hostile input; this file adds the page-level rules and the copying.
//
// The loader cannot write a child's frame through the child's mapping, so each page with file
// bytes is written through a temporary copy of its frame cap mapped at a scratch address in the
// parent's own space; deleting the copy unmaps it again.
#include <tessera/elf.h>
#include <tessera/string.h>
#include <tessera/sys/ipc.h>
#include <tessera/sys/memory.h>
#include <tessera/sys/process.h>
#include <tessera/sys/thread.h>

namespace tessera::sys {
namespace {
struct Permissions {
  uint8_t rights;
  uint8_t attributes;
  bool operator==(const Permissions&) const = default;
};

// W^X: code is read+execute, writable data is never executable, everything else read-only.
Permissions permissions_of(const elf::Segment& s) {
  if (s.executable) return {abi::kRightRead, 0};
  if (s.writable) return {abi::kRightRead | abi::kRightWrite, abi::kAttrExecuteNever};
  return {abi::kRightRead, abi::kAttrExecuteNever};
}

// The same as memory-server region rights (abi/memory.capnp), which carry execute instead of the
// execute-never attribute.
uint8_t region_rights_of(const elf::Segment& s) {
  if (s.executable) return memory::kRightRead | memory::kRightExecute;
  if (s.writable) return memory::kRightRead | memory::kRightWrite;
  return memory::kRightRead;
}

uint64_t first_page(const elf::Segment& s) { return align_down(s.vaddr, kPageBytes); }
uint64_t end_page(const elf::Segment& s) { return align_up(s.vaddr + s.mem_size, kPageBytes); }

Result<elf::Image> parse_program(const uint8_t* data, size_t size) {
  elf::Image image{};
  TRY(elf::parse(data, size, kProcessWindow, &image));
  // Segments may share a page (the parser allows it when their bytes do not overlap), but one
  // page has one set of permissions: sharing with different ones would break W^X.
  for (size_t i = 0; i < image.segment_count; ++i) {
    for (size_t j = i + 1; j < image.segment_count; ++j) {
      const elf::Segment& a = image.segments[i];
      const elf::Segment& b = image.segments[j];
      const bool share = first_page(a) < end_page(b) && first_page(b) < end_page(a);
      if (share && !(permissions_of(a) == permissions_of(b))) return Error::InvalidArgument;
    }
  }
  return image;
}
}  // namespace

Result<void> check_program_image(const uint8_t* data, size_t size) {
  TRY(parse_program(data, size));
  return {};
}

Result<void> Process::load_image(const uint8_t* data, size_t size, const ProcessOptions& options,
                                 CreatedTables* scratch_tables) {
  const elf::Image image = TRY(parse_program(data, size));
  entry_ = image.entry;
  for (size_t i = 0; i < image.segment_count; ++i) {
    const elf::Segment& s = image.segments[i];
    const Permissions wanted = permissions_of(s);
    for (uint64_t page = first_page(s); page < end_page(s); page += kPageBytes) {
      CPtr frame = 0;
      for (uint32_t p = 0; p < page_count_; ++p) {
        if (pages_[p].vaddr == page) frame = pages_[p].frame;  // shared with an earlier segment
      }
      if (frame == 0) frame = TRY(add_page(page, wanted.rights, wanted.attributes));
      // The file bytes that fall into this page; the rest stays zero (frames start zeroed).
      const uint64_t from = max(page, s.vaddr);
      const uint64_t to = min(page + kPageBytes, s.vaddr + s.file_size);
      if (from < to) {
        const uint8_t* bytes = data + s.file_offset + (from - s.vaddr);
        TRY(write_page(frame, from - page, bytes, to - from, options, scratch_tables));
      }
    }
  }
  return {};
}

Result<void> Process::load_image_from_session(const uint8_t* data, size_t size, const ProcessOptions& options,
                                              CreatedTables* scratch_tables) {
  const elf::Image image = TRY(parse_program(data, size));
  entry_ = image.entry;
  MemorySession session(session_, memory_->slots(), options.parent_cnode);
  // Segments that share pages (parse_program made sure they have the same permissions) become one
  // region: a run of them whose page ranges overlap, in any order the file lists them.
  bool placed[elf::kMaxSegments] = {};
  for (size_t i = 0; i < image.segment_count; ++i) {
    if (placed[i]) continue;
    placed[i] = true;
    uint64_t start = first_page(image.segments[i]);
    uint64_t end = end_page(image.segments[i]);
    for (bool grew = true; grew;) {
      grew = false;
      for (size_t j = 0; j < image.segment_count; ++j) {
        const elf::Segment& s = image.segments[j];
        if (placed[j] || first_page(s) >= end || start >= end_page(s)) continue;
        placed[j] = grew = true;
        start = min(start, first_page(s));
        end = max(end, end_page(s));
      }
    }
    // Eager: the pages are written now and never fault. The file bytes are written page by
    // page through a frame copy; the rest stays zero (the server's frames start zeroed).
    Region region = TRY(session.create_region(end - start, memory::PageSize::Small, true));
    Result<void> r;
    for (uint64_t page = start; r.ok() && page < end; page += kPageBytes) {
      bool has_bytes = false;
      for (size_t j = 0; j < image.segment_count; ++j) {
        const elf::Segment& s = image.segments[j];
        has_bytes = has_bytes || (max(page, s.vaddr) < min(page + kPageBytes, s.vaddr + s.file_size));
      }
      if (!has_bytes) continue;
      Result<CPtr> frame = session.frame(region.cap(), (page - start) / kPageBytes);
      if (!frame.ok()) {
        r = frame.error();
        break;
      }
      CPtr temporary = 0;
      Result<uint8_t*> mapped = map_scratch(frame.value(), options, scratch_tables, &temporary);
      if (mapped.ok()) {
        for (size_t j = 0; j < image.segment_count; ++j) {
          const elf::Segment& s = image.segments[j];
          const uint64_t from = max(page, s.vaddr);
          const uint64_t to = min(page + kPageBytes, s.vaddr + s.file_size);
          if (from < to) memcpy(mapped.value() + (from - page), data + s.file_offset + (from - s.vaddr), to - from);
        }
        r = memory_->free(temporary);  // unmaps the scratch mapping
      } else {
        r = mapped.error();
      }
      (void)memory_->free(frame.value());
    }
    if (r.ok()) {
      Result<uint64_t> at = session.attach(region.cap(), start, region_rights_of(image.segments[i]));
      if (!at.ok()) r = at.error();
      else if (at.value() != start) r = Error::RangeError;
    }
    (void)region.close();  // the session holds the region; closeSession releases it
    TRY(r);
    session_pages_ += static_cast<uint32_t>((end - start) / kPageBytes);
  }
  return {};
}

Result<CPtr> Process::add_page(uint64_t vaddr, uint8_t rights, uint8_t attributes) {
  if (page_count_ == kMaxPages) return Error::RangeError;
  const CPtr frame = TRY(memory_->allocate(abi::ObjectType::Frame4k));
  const MapRequest request{pml4_, frame, vaddr, PageSize::k4K, rights, attributes};
  if (Result<void> r = map_frame(*memory_, request, &tables_); !r.ok()) {
    (void)memory_->free(frame);
    return r.error();
  }
  pages_[page_count_++] = Page{vaddr, frame, rights, attributes};
  return frame;
}

Result<uint8_t*> Process::map_scratch(CPtr frame, const ProcessOptions& options, CreatedTables* scratch_tables,
                                      CPtr* temporary) {
  *temporary = TRY(memory_->slots().alloc());
  abi::CNode::Client<CallTransport> parent(memory_->kernel(), options.parent_cnode);
  if (Result<void> r = parent.copy(*temporary, kSlotDepth, capnp::CapRef{options.parent_cnode}, frame, kSlotDepth,
                                   abi::kRightRead | abi::kRightWrite);
      !r.ok()) {
    (void)memory_->slots().free(*temporary);
    *temporary = 0;
    return r.error();
  }
  const MapRequest request{options.parent_vspace, *temporary, options.scratch_address, PageSize::k4K,
                           abi::kRightRead | abi::kRightWrite, abi::kAttrExecuteNever};
  if (Result<void> r = map_frame(*memory_, request, scratch_tables); !r.ok()) {
    (void)memory_->free(*temporary);
    *temporary = 0;
    return r.error();
  }
  return reinterpret_cast<uint8_t*>(options.scratch_address);
}

Result<void> Process::write_page(CPtr frame, uint64_t offset, const void* bytes, size_t length,
                                 const ProcessOptions& options, CreatedTables* scratch_tables) {
  uint64_t end = 0;
  if (add_overflows(offset, length, &end) || end > kPageBytes) return Error::InvalidArgument;
  CPtr temporary = 0;
  uint8_t* page = TRY(map_scratch(frame, options, scratch_tables, &temporary));
  memcpy(page + offset, bytes, length);
  return memory_->free(temporary);  // unmaps the scratch mapping
}

}  // namespace tessera::sys
