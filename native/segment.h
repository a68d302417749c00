// One mapping of a cache segment: creating it, opening it from another process,
// validating its header, and removing it when its owner is done.
//
// Three backings:
// - POSIX shared memory ("shm:/tls-shm-cache.<pid>.<random>"): created O_EXCL
//   and 0600 by the owner (the cluster primary), unlinked when the owner closes
//   it or exits. An entry whose creator died without unlinking (SIGKILL) is
//   removed by the next creation once no process has it open.
// - An unnamed segment ("memfd:/proc/<pid>/fd/<fd>"): memfd_create by the
//   owner; others open it through the owner's /proc entry. Nothing to unlink:
//   it disappears with the last process that maps it.
// - A file path ("file:/path"): for processes that share no parent (PM2, a
//   supervisor) and for caches that should survive a restart. Created 0600 as
//   an unnamed O_TMPFILE (a named temporary where the filesystem cannot),
//   published atomically with link(2) so concurrent creators agree on one file,
//   never removed by the library.
//
// Every opener refuses a segment that another user owns, that group or others
// may access, or whose lock was made by another C library (glibc vs musl).
//
// Every process that maps a segment holds a shared open-file-description lock
// on byte 1 of it, so "is anybody else attached?" is a non-blocking exclusive
// lock attempt; byte 0 serialises attaching. The kernel drops both when a
// process dies, however it dies.
#pragma once

#include <sys/types.h>

#include <cstdint>
#include <string>

#include "chain.h"
#include "layout.h"

namespace tlsshm {

struct Geometry {
  uint32_t items = 0;
  uint32_t blocksize = 0;       // allocation granule
  uint32_t blocks = 0;          // blocks for keys and values
  uint32_t max_value_bytes = 0; // longest value; the longest item (KeySpan(max_key_length) +
                                // max_value_bytes) fits in blocks * AlignUp(blocksize, 8)
  uint32_t max_key_length = 0;
  uint32_t default_ttl_s = 0;
};

// Where each area lives for a geometry; the same function computes it for the
// creator and re-computes it for every opener, which must agree.
struct Layout {
  uint32_t bucket_count;
  uint32_t meta_stride;
  uint32_t block_stride;
  uint64_t stripes_offset;
  uint64_t buckets_offset;
  uint64_t meta_offset;
  uint64_t links_offset;
  uint64_t blocks_offset;
  uint32_t outbox_entries;  // OutboxEntries(items) (outbox.h)
  uint64_t outbox_offset;   // the outbox: the last OutboxBytes(outbox_entries)
  uint64_t total_bytes;
};

// A failure with a stable code (ERR_TLS_SHM_*) that JavaScript exposes as
// `error.code`, and a message for people.
struct Error {
  std::string code;
  std::string message;
  bool ok() const { return code.empty(); }
};

// Checks the geometry against the native bounds; fills `error` and returns
// false when it is out of range.
bool ValidateGeometry(const Geometry& g, Error* error);
Layout ComputeLayout(const Geometry& g);

// What ReplaceUnusedFile did.
enum class ReplaceResult { kReplaced = 0, kInUse = 1, kChanged = 2 };

// Renames `replacement` (a complete cache file) over `path` if, and only if,
// no process has the cache at `path` attached: checked under that file's
// attach gate, so no opener can attach to it meanwhile. kInUse: some process
// is attached, nothing done. kChanged: `path` is gone or names another file
// than the one inspected (someone replaced it first), nothing done.
// Used when a masterless process asks for another geometry, or finds a file of
// another layout version (README "Changing items or blocksize"); nothing of
// the file is read or validated, only its locks, so it works on a file this
// build cannot open. Returns false with `error` set on a system error.
bool ReplaceUnusedFile(const std::string& path, const std::string& replacement,
                       ReplaceResult* result, Error* error);

class Segment {
 public:
  // Creates a new shared-memory segment owned by this process.
  static Segment* CreateShm(const Geometry& g, Error* error);
  // Creates an unnamed segment (memfd_create) owned by this process. Its
  // handle, "memfd:/proc/<pid>/fd/<fd>", lets other processes of the same user
  // open it while this one lives; the memory is freed by the kernel when the
  // last process holding it exits, however they all die (nothing in /dev/shm).
  static Segment* CreateMemfd(const Geometry& g, Error* error);
  // Opens the cache file at `path`, creating it first if it does not exist.
  // `*created` tells which happened. The caller compares the geometry.
  static Segment* CreateOrOpenFile(const std::string& path, const Geometry& g,
                                   bool* created, Error* error);
  // Opens an existing segment from its handle ("shm:..." or "file:...").
  static Segment* Open(const std::string& handle, Error* error);

  ~Segment();
  Segment(const Segment&) = delete;
  Segment& operator=(const Segment&) = delete;

  // Unmaps; the owner of a shm segment also unlinks it. Safe to call twice.
  void Close();
  // Unlinks a shm segment now (the mapping stays usable until Close).
  void Unlink();

  bool closed() const { return base_ == nullptr; }
  bool owner() const { return owner_; }
  const std::string& handle() const { return handle_; }
  // True when this process found nobody else attached and reset the volatile
  // state (locks, stripes, lease) left by earlier processes.
  bool reset_on_open() const { return reset_on_open_; }

  Header* header() const { return reinterpret_cast<Header*>(base_); }
  uint8_t* base() const { return base_; }
  // This process's copy of the geometry, taken when the header was validated
  // (or written, by the creator); never re-read from the mapping.
  const Geometry& geometry() const { return geometry_; }
  const Layout& layout() const { return layout_; }
  // The blocks and their links, from the private geometry (chain.h).
  ChainArea chain() const {
    ChainArea c;
    c.blocks = base_ + layout_.blocks_offset;
    c.links = reinterpret_cast<uint32_t*>(base_ + layout_.links_offset);
    c.block_stride = layout_.block_stride;
    c.count = geometry_.blocks;
    return c;
  }
  const uint64_t* hash_key() const { return hash_key_; }
  Stripe* stripes() const { return reinterpret_cast<Stripe*>(base_ + layout_.stripes_offset); }

 private:
  Segment() = default;
  bool Map(int fd, uint64_t size, Error* error);
  bool Validate(uint64_t file_size, Error* error);
  void Initialize(const Geometry& g, const Layout& layout);
  static Segment* FinishCreate(Segment* s, const Geometry& g, const Layout& layout, Error* error);
  bool Attach(bool fresh, Error* error);
  void ResetVolatileState();

  int fd_ = -1;
  uint8_t* base_ = nullptr;
  uint64_t size_ = 0;
  bool owner_ = false;
  bool shm_ = false;
  bool unlinked_ = false;
  bool reset_on_open_ = false;
  std::string name_;    // shm name or file path
  std::string handle_;
  Geometry geometry_;
  Layout layout_{};
  uint64_t hash_key_[2] = {0, 0};
};

}  // namespace tlsshm
