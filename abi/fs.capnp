# The filesystem protocol (servers/fs: ext2 on the virtio-blk driver; docs/fs.md).
#
# Control plane: these two interfaces, on one endpoint. A client's capability (badged by init
# with the client's number) speaks FileSystem; open() hands out a File capability: the same
# endpoint minted with a badge of the file's own, so a File is a capability and nothing else (a
# file number cannot be guessed or forged). Closing a File revokes that capability: a later call
# through it fails in the kernel (InvalidCapability), and a call that was already queued answers
# ObjectDeleted. A File whose file was unlinked (its last link gone) answers ObjectDeleted.
#
# Data plane: one shared region per client (connect), made by the server and shared read/write.
# read() puts file bytes at `bufferOffset` of it, write() takes them from there, readdir() packs
# entries there (DirEntryHeader of <tessera/fs.h>, each followed by its name, 8-byte aligned).
# Payload never travels in message words; paths do (they are names, at most maxPathBytes).
#
# Paths are absolute ('/'-separated; empty components and '.' are skipped, '..' at the root stays
# at the root); components longer than maxNameBytes answer NameTooLong, paths longer than
# maxPathBytes RangeError. Errors of the disk's contents are Corrupted; see each method for the rest.
# Ids are pinned (`capnp id`).
@0xac2162c65a0be181;

using Abi = import "base.capnp";
using Kernel = import "kernel.capnp";
using Memory = import "memory.capnp";
$Abi.namespace("tessera::fs");

const maxPathBytes :UInt32 = 400;
const maxNameBytes :UInt32 = 255;
const maxBufferBytes :UInt32 = 1048576;   # a client's shared buffer: at most 1 MiB
const maxClients :UInt32 = 8;
const maxOpenFiles :UInt32 = 128;          # in all clients together (each is a slot of the server's CNode)
const maxOpenFilesPerClient :UInt32 = 64;  # so that one client cannot take every File from the others

# open() flags.
const openRead :UInt32 = 1;
const openWrite :UInt32 = 2;
const openCreate :UInt32 = 4;       # create a regular file when the path names nothing
const openExclusive :UInt32 = 8;    # with openCreate: the path must name nothing (else Exists)
const openTruncate :UInt32 = 16;    # with openWrite: size 0 first
const openAppend :UInt32 = 32;      # every write goes to the end of the file
const openDirectory :UInt32 = 64;   # the path must name a directory (for readdir)
const openNoFollow :UInt32 = 128;   # a symbolic link as the last component is not followed

# Stat.type (and the type byte of directory entries), as ext2's directory file types.
const typeUnknown :UInt8 = 0;
const typeRegular :UInt8 = 1;
const typeDirectory :UInt8 = 2;
const typeSymlink :UInt8 = 7;

struct Stat @0xfb012047970e53e0 {
  inode @0 :UInt32;
  type @1 :UInt8;
  mode @2 :UInt16;          # permission bits and type, as ext2's i_mode
  links @3 :UInt16;
  uid @4 :UInt32;
  gid @5 :UInt32;
  size @6 :UInt64;          # bytes
  blocks @7 :UInt64;        # 512-byte units allocated (holes take none)
  atime @8 :UInt32;
  mtime @9 :UInt32;
  ctime @10 :UInt32;
}

interface FileSystem @0xdb68f52d8301309b {
  connect @0 (bufferBytes :UInt32) -> (buffer :Memory.Region, bufferBytes :UInt32);
  # The caller's shared buffer (rounded up to 4 KiB; 0 means the default, 256 KiB), read/write.
  # Connecting again replaces it (the old one is revoked). RangeError above maxBufferBytes,
  # NotEnoughMemory when maxClients are connected, OutOfMemory when the server's quota cannot
  # pay for it.
  open @1 (path :Text, flags :UInt32, mode :UInt16) -> (file :File, stat :Stat);
  # A File capability (rights: openRead/openWrite as asked; a directory opens for reading only).
  # NotFound when the path names nothing (and openCreate was not given), IsDirectory for
  # openWrite on a directory, NotDirectory for openDirectory on a non-directory,
  # IllegalOperation for a symbolic link reached with openNoFollow (readlink reads links),
  # NotEnoughMemory when maxOpenFiles are open, or the caller has maxOpenFilesPerClient open,
  # IllegalOperation before connect.
  stat @2 (path :Text, follow :Bool) -> (stat :Stat);
  mkdir @3 (path :Text, mode :UInt16) -> (stat :Stat);
  unlink @4 (path :Text) -> ();
  # Removes a name of a file or symbolic link (IsDirectory on a directory). Files still
  # open when their last link goes answer ObjectDeleted from then on.
  rmdir @5 (path :Text) -> ();
  # NotEmpty when the directory is not empty.
  rename @6 (from :Text, to :Text) -> ();
  # Within a directory or across directories; replaces `to` when it exists and is of a
  # compatible kind (a file by a file, an empty directory by a directory). InvalidArgument when
  # a directory would move into itself.
  link @7 (existing :Text, path :Text) -> ();
  symlink @8 (target :Text, path :Text) -> ();
  readlink @9 (path :Text) -> (target :Text);
  statfs @10 () -> (blockBytes :UInt32, blocks :UInt64, freeBlocks :UInt64, inodes :UInt32,
                    freeInodes :UInt32);
  sync @11 () -> ();
  # Every dirty block on the disk, then a device flush.
  status @12 () -> (requests :UInt64, refused :UInt64, openFiles :UInt32, clients :UInt32,
                    cacheHits :UInt64, cacheMisses :UInt64, blockReads :UInt64,
                    blockWrites :UInt64, directReads :UInt64, directBuffer :Bool);
  # directReads: block requests the device wrote straight into a client's buffer (docs/fs.md,
  # "Zero-copy reads"); directBuffer: the caller's buffer is such a data area, and its channel
  # still serves.
  disconnect @13 () -> ();
  # Drops the caller's buffer and closes every File it opened.
}

interface File @0xf231f4039c0072bd {
  read @0 (offset :UInt64, bytes :UInt32, bufferOffset :UInt32) -> (bytes :UInt32);
  # Up to `bytes` bytes from `offset` into the caller's buffer at `bufferOffset`; fewer at the
  # end of the file (0 past it). RangeError when the span leaves the buffer,
  # InsufficientRights without openRead, IsDirectory on a directory.
  write @1 (offset :UInt64, bytes :UInt32, bufferOffset :UInt32) -> (bytes :UInt32, size :UInt64);
  # `bytes` bytes from the buffer at `bufferOffset` to the file at `offset` (at its end when
  # opened with openAppend); `size`: the file's size afterwards. Holes read as zeros. NoSpace
  # when the disk is full, TooLarge past the largest file: nothing is written then.
  truncate @2 (size :UInt64) -> ();
  stat @3 () -> (stat :Stat);
  sync @4 () -> ();
  # The file's data and the metadata that reaches it on the disk, then a device flush.
  readdir @5 (cursor :UInt64, bufferOffset :UInt32, bytes :UInt32)
      -> (cursor :UInt64, entries :UInt32, bytes :UInt32, end :Bool);
  # Directory entries from `cursor` (0: the first) packed into the buffer (<tessera/fs.h>);
  # pass the returned cursor to go on. `end` once none are left.
  close @6 () -> ();
}
