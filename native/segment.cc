#include "segment.h"

#include "chain.h"
#include "outbox.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <sys/mman.h>
#include <sys/random.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <unistd.h>

#include <cstdio>
#include <cstring>

#include "atomics.h"
#include "cache.h"
#include "lock.h"
#include "slots.h"
#include "testhook.h"

namespace tlsshm {
namespace {

constexpr char kShmPrefix[] = "tls-shm-cache.";
// Never change these two with the layout version: ReplaceUnusedFile tells a
// file in use by processes of another layout version (or libc build) from an
// unused one by these locks alone, without reading the file.
constexpr off_t kGateByte = 0;    // held exclusively while a process attaches
constexpr off_t kAttachByte = 1;  // held shared by every attached process
constexpr uint32_t kAttachTimeoutMs = 2000;
constexpr unsigned kMfdCloexec = 1u;  // MFD_CLOEXEC, not in every libc's headers

uint64_t AlignUp(uint64_t v, uint64_t a) { return (v + a - 1) / a * a; }

Error SystemError(const char* what, const std::string& name, int err) {
  Error e;
  e.code = err == ENOENT ? "ERR_TLS_SHM_NOT_FOUND" : "ERR_TLS_SHM_SYSTEM";
  e.message = std::string(what) + " " + name + ": " + std::strerror(err);
  return e;
}

Error MakeError(const char* code, const std::string& message) { return Error{code, message}; }

// Open-file-description locks belong to the open file, not the process, and
// are released when the descriptor is closed, by exit or by SIGKILL.
int OfdLock(int fd, short type, off_t byte, bool wait) {
  struct flock fl;
  std::memset(&fl, 0, sizeof fl);
  fl.l_type = type;
  fl.l_whence = SEEK_SET;
  fl.l_start = byte;
  fl.l_len = 1;
  int rc;
  do {
    rc = fcntl(fd, wait ? F_OFD_SETLKW : F_OFD_SETLK, &fl);
  } while (rc == -1 && errno == EINTR);
  return rc;
}

bool RandomBytes(void* out, size_t n) {
  uint8_t* p = static_cast<uint8_t*>(out);
  while (n > 0) {
    ssize_t got = getrandom(p, n, 0);
    if (got < 0) {
      if (errno == EINTR) continue;
      return false;
    }
    p += got;
    n -= size_t(got);
  }
  return true;
}

// Reserves the pages now so that a full /dev/shm is an error here rather than
// a SIGBUS in whichever process first touches the missing page.
int Reserve(int fd, uint64_t size) {
  if (ftruncate(fd, off_t(size)) != 0) return errno;
  int rc = posix_fallocate(fd, 0, off_t(size));
  // Filesystems without fallocate still work; only a real shortage is fatal.
  if (rc == EOPNOTSUPP || rc == EINVAL) return 0;
  return rc;
}

// Removes "<path>.<pid>.<hex>.tmp" files that a creator killed between
// creating and publishing its file left behind, once that pid is gone. Only
// names of exactly that shape next to `path` are touched.
void RemoveStaleTempFiles(const std::string& path) {
  const size_t slash = path.rfind('/');
  const std::string dir = slash == std::string::npos ? "." : (slash == 0 ? "/" : path.substr(0, slash));
  const std::string base = (slash == std::string::npos ? path : path.substr(slash + 1)) + ".";
  DIR* d = opendir(dir.c_str());
  if (d == nullptr) return;
  while (struct dirent* entry = readdir(d)) {
    const char* n = entry->d_name;
    if (std::strncmp(n, base.c_str(), base.size()) != 0) continue;
    char* end = nullptr;
    long pid = std::strtol(n + base.size(), &end, 10);
    if (pid <= 0 || end == nullptr || *end != '.' || std::strlen(end) != 1 + 16 + 4 ||
        std::strcmp(end + 17, ".tmp") != 0 || ProcessAlive(pid_t(pid))) {
      continue;
    }
    std::string victim = dir + "/" + n;
    struct stat st;
    if (lstat(victim.c_str(), &st) == 0 && S_ISREG(st.st_mode) && st.st_uid == geteuid()) {
      unlink(victim.c_str());
    }
  }
  closedir(d);
}

// Removes shm entries whose creator is gone and that nobody has open.
void RemoveStaleShm() {
  DIR* dir = opendir("/dev/shm");
  if (dir == nullptr) return;
  while (struct dirent* entry = readdir(dir)) {
    const char* n = entry->d_name;
    if (std::strncmp(n, kShmPrefix, sizeof kShmPrefix - 1) != 0) continue;
    long pid = std::strtol(n + sizeof kShmPrefix - 1, nullptr, 10);
    if (pid <= 0 || ProcessAlive(pid_t(pid))) continue;
    std::string name = std::string("/") + n;
    int fd = shm_open(name.c_str(), O_RDWR, 0);
    if (fd < 0) continue;
    struct stat st;
    if (fstat(fd, &st) == 0 && st.st_uid == geteuid() &&
        OfdLock(fd, F_WRLCK, kAttachByte, false) == 0) {
      shm_unlink(name.c_str());
    }
    close(fd);
  }
  closedir(dir);
}

}  // namespace

bool ReplaceUnusedFile(const std::string& path, const std::string& replacement,
                       ReplaceResult* result, Error* error) {
  int fd = open(path.c_str(), O_RDWR | O_CLOEXEC | O_NOFOLLOW);
  if (fd < 0) {
    if (errno == ENOENT) {
      *result = ReplaceResult::kChanged;
      return true;
    }
    *error = SystemError("opening cache", path, errno);
    return false;
  }
  struct stat held;
  if (fstat(fd, &held) != 0 || !S_ISREG(held.st_mode) || held.st_uid != geteuid()) {
    close(fd);
    *error = MakeError("ERR_TLS_SHM_PERMISSIONS", path + " is not a regular file owned by this user; not replaced");
    return false;
  }
  // The gate, as an attaching process takes it (bounded the same way), so that
  // nobody attaches between the check below and the rename.
  int gate = -1;
  for (uint32_t waited_ms = 0;; ++waited_ms) {
    gate = OfdLock(fd, F_WRLCK, kGateByte, false);
    if (gate == 0 || (errno != EAGAIN && errno != EACCES) || waited_ms >= kAttachTimeoutMs) break;
    usleep(1000);
  }
  if (gate != 0) {
    // Someone is attaching right now: the file is (about to be) in use.
    close(fd);
    *result = ReplaceResult::kInUse;
    return true;
  }
  struct stat named;
  if (stat(path.c_str(), &named) != 0 || named.st_dev != held.st_dev || named.st_ino != held.st_ino) {
    close(fd);
    *result = ReplaceResult::kChanged;
    return true;
  }
  if (OfdLock(fd, F_WRLCK, kAttachByte, false) != 0) {
    close(fd);
    *result = ReplaceResult::kInUse;
    return true;
  }
  // Openers that opened the old file before this rename find it unlinked
  // under the gate's protection: they attach to a file nobody else uses, see
  // its geometry, and (asking for the new one) reopen the path.
  if (rename(replacement.c_str(), path.c_str()) != 0) {
    int err = errno;
    close(fd);
    *error = SystemError("replacing", path, err);
    return false;
  }
  close(fd);  // releases both OFD locks
  *result = ReplaceResult::kReplaced;
  return true;
}

bool ValidateGeometry(const Geometry& g, Error* error) {
  char msg[160];
  if (g.items < 1 || g.items > kMaxItems) {
    std::snprintf(msg, sizeof msg, "items must be 1..%u, got %u", kMaxItems, g.items);
  } else if (g.blocksize < kMinBlocksize || g.blocksize > kMaxBlocksize) {
    std::snprintf(msg, sizeof msg, "blocksize must be %u..%u, got %u", kMinBlocksize,
                  kMaxBlocksize, g.blocksize);
  } else if (g.blocks < 1 || g.blocks > kMaxBlocks) {
    std::snprintf(msg, sizeof msg, "blocks must be 1..%u, got %u", kMaxBlocks, g.blocks);
  } else if (g.max_value_bytes < 1 || g.max_value_bytes > kMaxValueBytes) {
    std::snprintf(msg, sizeof msg, "maxValueBytes must be 1..%u, got %u", kMaxValueBytes, g.max_value_bytes);
  } else if (g.max_key_length < 1 || g.max_key_length > kMaxKeyLength) {
    std::snprintf(msg, sizeof msg, "maxKeyLength must be 1..%u, got %u", kMaxKeyLength,
                  g.max_key_length);
  } else if (KeySpan(g.max_key_length) + g.max_value_bytes > uint64_t(g.blocks) * AlignUp(g.blocksize, 8)) {
    // The largest item must fit in all the blocks, so that evicting
    // everything always makes room (layout.h).
    std::snprintf(msg, sizeof msg, "blocks x blocksize must hold one item of maxKeyLength + maxValueBytes (%u + %u)",
                  g.max_key_length, g.max_value_bytes);
  } else if (g.default_ttl_s < 1 || g.default_ttl_s > kMaxDefaultTtlS) {
    // The binding passes TTLs as 32-bit milliseconds: a larger default would
    // open, then make every set() without a TTL fail.
    std::snprintf(msg, sizeof msg, "timeout must be 1..%u seconds, got %u", kMaxDefaultTtlS,
                  g.default_ttl_s);
  } else if (ComputeLayout(g).total_bytes > kMaxSegmentBytes) {
    std::snprintf(msg, sizeof msg, "items and blocks x blocksize need more than %llu bytes",
                  static_cast<unsigned long long>(kMaxSegmentBytes));
  } else {
    return true;
  }
  *error = MakeError("ERR_TLS_SHM_INVALID", msg);
  return false;
}

Layout ComputeLayout(const Geometry& g) {
  Layout l;
  const uint32_t buckets = g.items;  // Table::BucketOf maps a hash onto any count
  l.bucket_count = buckets;
  l.meta_stride = uint32_t(sizeof(SlotMeta));
  l.block_stride = uint32_t(AlignUp(g.blocksize, 8));
  l.stripes_offset = AlignUp(sizeof(Header), kCacheLine);
  l.buckets_offset = l.stripes_offset + uint64_t(kStripes) * sizeof(Stripe);
  l.meta_offset = AlignUp(l.buckets_offset + 4ull * buckets, kCacheLine);
  l.links_offset = AlignUp(l.meta_offset + uint64_t(g.items) * l.meta_stride, kCacheLine);
  l.blocks_offset = AlignUp(l.links_offset + 4ull * g.blocks, kCacheLine);
  l.total_bytes = AlignUp(l.blocks_offset + uint64_t(g.blocks) * l.block_stride, 4096);
  // The outbox is the last OutboxBytes(outbox_entries) (outbox.h).
  l.outbox_entries = OutboxEntries(g.items);
  l.outbox_offset = l.total_bytes;
  l.total_bytes += OutboxBytes(l.outbox_entries);
  return l;
}

// The common end of CreateShm and CreateMemfd, once `s` owns its new fd:
// reserve the memory, map it, write the header and slots, attach. Takes `s`
// (deleted on failure).
Segment* Segment::FinishCreate(Segment* s, const Geometry& g, const Layout& layout, Error* error) {
  int rc = Reserve(s->fd_, layout.total_bytes);
  if (rc != 0) {
    *error = SystemError("reserving memory for", s->name_, rc);
    delete s;
    return nullptr;
  }
  if (!s->Map(s->fd_, layout.total_bytes, error)) {
    delete s;
    return nullptr;
  }
  s->Initialize(g, layout);
  if (!s->Attach(true, error)) {
    delete s;
    return nullptr;
  }
  return s;
}

Segment* Segment::CreateShm(const Geometry& g, Error* error) {
  if (!ValidateGeometry(g, error)) return nullptr;
  RemoveStaleShm();
  Layout layout = ComputeLayout(g);
  uint8_t rnd[8];
  if (!RandomBytes(rnd, sizeof rnd)) {
    *error = SystemError("getrandom for", "segment name", errno);
    return nullptr;
  }
  char name[64];
  std::snprintf(name, sizeof name, "/%s%d.%02x%02x%02x%02x%02x%02x%02x%02x", kShmPrefix,
                int(getpid()), rnd[0], rnd[1], rnd[2], rnd[3], rnd[4], rnd[5], rnd[6], rnd[7]);
  int fd = shm_open(name, O_RDWR | O_CREAT | O_EXCL | O_CLOEXEC, 0600);
  if (fd < 0) {
    *error = SystemError("shm_open", name, errno);
    return nullptr;
  }
  fchmod(fd, 0600);  // umask can only remove bits, but be explicit
  Segment* s = new Segment();
  s->fd_ = fd;
  s->shm_ = true;
  s->owner_ = true;
  s->name_ = name;
  s->handle_ = std::string("shm:") + name;
  return FinishCreate(s, g, layout, error);
}

Segment* Segment::CreateMemfd(const Geometry& g, Error* error) {
  if (!ValidateGeometry(g, error)) return nullptr;
  Layout layout = ComputeLayout(g);
  // The raw system call: no glibc symbol (memfd_create is GLIBC_2.27), and
  // musl builds get the same code.
  int fd = int(syscall(SYS_memfd_create, "tls-shm-cache", kMfdCloexec));
  if (fd < 0) {
    *error = SystemError("memfd_create for", "a cache", errno);
    return nullptr;
  }
  fchmod(fd, 0600);  // memfds start 0777; openers refuse group/other access
  Segment* s = new Segment();
  s->fd_ = fd;
  s->owner_ = true;
  s->name_ = "/proc/" + std::to_string(getpid()) + "/fd/" + std::to_string(fd);
  s->handle_ = "memfd:" + s->name_;
  return FinishCreate(s, g, layout, error);
}

Segment* Segment::CreateOrOpenFile(const std::string& path, const Geometry& g, bool* created,
                                   Error* error) {
  *created = false;
  if (!ValidateGeometry(g, error)) return nullptr;
  std::string handle = "file:" + path;
  // A creator killed between creating and publishing a named temporary file
  // leaves it behind; remove such leftovers on every open, not only when the
  // cache is absent (a leftover can be a second name of a live cache).
  RemoveStaleTempFiles(path);
  // Fast path: it exists already.
  if (access(path.c_str(), F_OK) == 0) return Open(handle, error);

  // Build the whole segment unnamed (O_TMPFILE) or under a private name, then
  // publish it with link(2), which fails if the path appeared meanwhile:
  // concurrent creators end up sharing the one that won, and nobody ever sees
  // a half-initialised file. An unnamed file leaves nothing behind however the
  // creator dies.
  Layout layout = ComputeLayout(g);
  std::string temp;  // empty: O_TMPFILE
  int fd = -1;
#ifdef O_TMPFILE
  {
    const size_t slash = path.rfind('/');
    const std::string dir = slash == std::string::npos ? "." : (slash == 0 ? "/" : path.substr(0, slash));
    fd = open(dir.c_str(), O_TMPFILE | O_RDWR | O_CLOEXEC, 0600);
    // EISDIR / EOPNOTSUPP / EINVAL: a kernel or filesystem without O_TMPFILE.
    if (fd < 0 && errno != EISDIR && errno != EOPNOTSUPP && errno != EINVAL) {
      *error = SystemError("creating a file in", dir, errno);
      return nullptr;
    }
  }
#endif
  if (fd < 0) {
    // The private name is unique per call, not just per process: two threads
    // (worker_threads) creating the same path must not truncate each other's
    // file under a live mapping (SIGBUS). O_EXCL: never reuse a file we did not make.
    uint8_t rnd[8];
    if (!RandomBytes(rnd, sizeof rnd)) {
      *error = SystemError("getrandom for", "a temporary name", errno);
      return nullptr;
    }
    char suffix[64];
    std::snprintf(suffix, sizeof suffix, ".%d.%02x%02x%02x%02x%02x%02x%02x%02x.tmp", int(getpid()),
                  rnd[0], rnd[1], rnd[2], rnd[3], rnd[4], rnd[5], rnd[6], rnd[7]);
    temp = path + suffix;
    fd = open(temp.c_str(), O_RDWR | O_CREAT | O_EXCL | O_CLOEXEC | O_NOFOLLOW, 0600);
    if (fd < 0) {
      *error = SystemError("creating", temp, errno);
      return nullptr;
    }
  }
  auto discard = [&temp]() {
    if (!temp.empty()) unlink(temp.c_str());
  };
  fchmod(fd, 0600);
  Segment* s = new Segment();
  s->fd_ = fd;
  s->name_ = path;
  s->handle_ = handle;
  int rc = Reserve(fd, layout.total_bytes);
  if (rc != 0) {
    *error = SystemError("reserving space for", path, rc);
    discard();
    delete s;
    return nullptr;
  }
  if (!s->Map(fd, layout.total_bytes, error)) {
    discard();
    delete s;
    return nullptr;
  }
  s->Initialize(g, layout);
  if (!s->Attach(true, error)) {
    discard();
    delete s;
    return nullptr;
  }
  TLSSHM_TEST_HOOK("file.before_link");
  int linked;
  if (temp.empty()) {
    // An O_TMPFILE is named through /proc (no privilege needed); AT_EMPTY_PATH
    // would need CAP_DAC_READ_SEARCH.
    const std::string self = "/proc/self/fd/" + std::to_string(fd);
    linked = linkat(AT_FDCWD, self.c_str(), AT_FDCWD, path.c_str(), AT_SYMLINK_FOLLOW);
    if (linked != 0 && errno == ENOENT) linked = linkat(fd, "", AT_FDCWD, path.c_str(), AT_EMPTY_PATH);
  } else {
    linked = link(temp.c_str(), path.c_str());
  }
  if (linked != 0) {
    int err = errno;
    discard();
    delete s;
    if (err == EEXIST) return Open(handle, error);
    *error = SystemError("creating", path, err);
    return nullptr;
  }
  discard();
  *created = true;
  return s;
}

Segment* Segment::Open(const std::string& handle, Error* error) {
  bool shm;
  bool memfd = false;
  std::string name;
  if (handle.compare(0, 4, "shm:") == 0) {
    shm = true;
    name = handle.substr(4);
  } else if (handle.compare(0, 5, "file:") == 0) {
    shm = false;
    name = handle.substr(5);
  } else if (handle.compare(0, 6, "memfd:") == 0) {
    shm = false;
    memfd = true;
    name = handle.substr(6);
    // Exactly /proc/<pid>/fd/<n>: the one place a memfd is reachable from.
    unsigned pid = 0, n = 0;
    int end = 0;
    if (std::sscanf(name.c_str(), "/proc/%u/fd/%u%n", &pid, &n, &end) != 2 || size_t(end) != name.size() ||
        pid == 0 || name != "/proc/" + std::to_string(pid) + "/fd/" + std::to_string(n)) {
      *error = MakeError("ERR_TLS_SHM_INVALID", "not a cache handle: expected memfd:/proc/PID/fd/N");
      return nullptr;
    }
  } else {
    *error = MakeError("ERR_TLS_SHM_INVALID",
                       "not a cache handle: expected shm:NAME, memfd:/proc/PID/fd/N or file:PATH");
    return nullptr;
  }
  if (name.empty() || name.find('\0') != std::string::npos) {
    *error = MakeError("ERR_TLS_SHM_INVALID", "not a cache handle: empty or invalid name");
    return nullptr;
  }
  // A /proc/<pid>/fd entry is a link by design (the kernel's, to the memfd);
  // every other path must not be one.
  int fd = shm     ? shm_open(name.c_str(), O_RDWR | O_CLOEXEC, 0)
           : memfd ? open(name.c_str(), O_RDWR | O_CLOEXEC)
                   : open(name.c_str(), O_RDWR | O_CLOEXEC | O_NOFOLLOW);
  if (fd < 0) {
    *error = SystemError("opening cache", name, errno);
    return nullptr;
  }
  Segment* s = new Segment();
  s->fd_ = fd;
  s->shm_ = shm;
  s->name_ = name;
  s->handle_ = handle;
  struct stat st;
  if (fstat(fd, &st) != 0) {
    *error = SystemError("stat", name, errno);
    delete s;
    return nullptr;
  }
  if (!S_ISREG(st.st_mode)) {
    *error = MakeError("ERR_TLS_SHM_NOT_A_CACHE", name + " is not a regular file");
    delete s;
    return nullptr;
  }
  if (st.st_uid != geteuid()) {
    // Whoever owns the file can read every session secret and the ticket key,
    // and can write sessions this server would resume: only our own will do.
    // (A root server pointed at /tmp or /dev/shm would otherwise adopt a
    // cache planted there by any local user.)
    *error = MakeError("ERR_TLS_SHM_PERMISSIONS",
                       name + " is owned by uid " + std::to_string(st.st_uid) +
                           ", not by this process's effective uid " + std::to_string(geteuid()) +
                           "; refusing it. Remove it, or run every process as its owner");
    delete s;
    return nullptr;
  }
  if ((st.st_mode & 077) != 0) {
    // Session bytes are TLS master secrets; refuse a cache others can read.
    *error = MakeError("ERR_TLS_SHM_PERMISSIONS",
                       name + " is readable or writable by group or others; it must be mode 0600");
    delete s;
    return nullptr;
  }
  if (uint64_t(st.st_size) < sizeof(Header)) {
    *error = MakeError("ERR_TLS_SHM_NOT_A_CACHE", name + " is too small to be a tls-shm-cache segment");
    delete s;
    return nullptr;
  }
  if (!s->Map(fd, uint64_t(st.st_size), error) || !s->Validate(uint64_t(st.st_size), error) ||
      !s->Attach(false, error)) {
    delete s;
    return nullptr;
  }
  return s;
}

Segment::~Segment() { Close(); }

bool Segment::Map(int fd, uint64_t size, Error* error) {
  void* p = mmap(nullptr, size, PROT_READ | PROT_WRITE, MAP_SHARED, fd, 0);
  if (p == MAP_FAILED) {
    *error = SystemError("mmap", name_, errno);
    return false;
  }
  base_ = static_cast<uint8_t*>(p);
  size_ = size;
  // Every session secret and the ticket key live here: keep them out of core
  // dumps of whichever process crashes. Best effort (old kernels lack it).
#ifdef MADV_DONTDUMP
  madvise(p, size, MADV_DONTDUMP);
#endif
  return true;
}

static const char* LibcName(uint32_t id) {
  return id == 1 ? "glibc" : id == 2 ? "musl" : "an unknown C library";
}

bool Segment::Validate(uint64_t file_size, Error* error) {
  // Every field is read exactly once, into this process's snapshot; what is
  // checked is what is used, whatever another process writes meanwhile.
  const Header* h = header();
  char magic[sizeof kMagic];
  for (size_t i = 0; i < sizeof kMagic; ++i) magic[i] = LoadRelaxed(h->magic[i]);
  if (std::memcmp(magic, kMagic, sizeof kMagic) != 0) {
    *error = MakeError("ERR_TLS_SHM_NOT_A_CACHE", name_ + " is not a tls-shm-cache segment (bad magic)");
    return false;
  }
  const uint32_t version = LoadRelaxed(h->layout_version);
  const uint32_t header_bytes = LoadRelaxed(h->header_bytes);
  if (version != kLayoutVersion || header_bytes != sizeof(Header)) {
    char msg[200];
    std::snprintf(msg, sizeof msg,
                  " has layout version %u (header %u bytes); this build reads version %u (%zu "
                  "bytes). Remove it or use a matching tls-shm-cache",
                  version, header_bytes, kLayoutVersion, sizeof(Header));
    *error = MakeError("ERR_TLS_SHM_VERSION", name_ + msg);
    return false;
  }
  const uint32_t libc = LoadRelaxed(h->lock_abi_libc);
  const uint32_t mutex_bytes = LoadRelaxed(h->lock_abi_bytes);
  if (libc != kLockAbiLibc || mutex_bytes != sizeof(pthread_mutex_t)) {
    char msg[300];
    std::snprintf(msg, sizeof msg,
                  " was created by a process built for %s (a %u-byte pthread mutex); this process "
                  "uses %s (%zu bytes). Their locks are incompatible: run every process that "
                  "shares a cache with the same build (all glibc or all musl)",
                  LibcName(libc), mutex_bytes, LibcName(kLockAbiLibc), sizeof(pthread_mutex_t));
    *error = MakeError("ERR_TLS_SHM_VERSION", name_ + msg);
    return false;
  }
  Geometry g;
  g.items = LoadRelaxed(h->items);
  g.blocksize = LoadRelaxed(h->blocksize);
  g.blocks = LoadRelaxed(h->blocks);
  g.max_value_bytes = LoadRelaxed(h->max_value_bytes);
  g.max_key_length = LoadRelaxed(h->max_key_length);
  g.default_ttl_s = LoadRelaxed(h->default_ttl_s);
  Error geometry_error;
  if (!ValidateGeometry(g, &geometry_error)) {
    *error = MakeError("ERR_TLS_SHM_CORRUPT", name_ + ": " + geometry_error.message);
    return false;
  }
  Layout l = ComputeLayout(g);
  if (l.total_bytes != LoadRelaxed(h->total_bytes) || l.total_bytes != file_size ||
      l.bucket_count != LoadRelaxed(h->bucket_count) || l.meta_stride != LoadRelaxed(h->meta_stride) ||
      l.block_stride != LoadRelaxed(h->block_stride) ||
      l.stripes_offset != LoadRelaxed(h->stripes_offset) ||
      l.buckets_offset != LoadRelaxed(h->buckets_offset) ||
      l.meta_offset != LoadRelaxed(h->meta_offset) || l.links_offset != LoadRelaxed(h->links_offset) ||
      l.blocks_offset != LoadRelaxed(h->blocks_offset)) {
    *error = MakeError("ERR_TLS_SHM_CORRUPT",
                       name_ + ": header geometry does not match the file size or layout");
    return false;
  }
  if (LoadAcquire(h->init_done) != 1) {
    *error = MakeError("ERR_TLS_SHM_CORRUPT", name_ + " was never fully initialised");
    return false;
  }
  geometry_ = g;
  layout_ = l;
  hash_key_[0] = LoadRelaxed(h->hash_key[0]);
  hash_key_[1] = LoadRelaxed(h->hash_key[1]);
  return true;
}

void Segment::Initialize(const Geometry& g, const Layout& l) {
  // The pages are fresh zeroes from ftruncate; only non-zero fields are set.
  geometry_ = g;
  layout_ = l;
  Header* h = header();
  h->layout_version = kLayoutVersion;
  h->header_bytes = sizeof(Header);
  h->total_bytes = l.total_bytes;
  h->items = g.items;
  h->blocksize = g.blocksize;
  h->blocks = g.blocks;
  h->max_value_bytes = g.max_value_bytes;
  h->max_key_length = g.max_key_length;
  h->default_ttl_s = g.default_ttl_s;
  h->bucket_count = l.bucket_count;
  h->meta_stride = l.meta_stride;
  h->block_stride = l.block_stride;
  h->creator_pid = uint32_t(getpid());
  h->stripes_offset = l.stripes_offset;
  h->buckets_offset = l.buckets_offset;
  h->meta_offset = l.meta_offset;
  h->links_offset = l.links_offset;
  h->blocks_offset = l.blocks_offset;
  h->created_at_ms = NowMs();
  if (!RandomBytes(h->hash_key, sizeof h->hash_key)) {
    // Never fall back to a fixed key: mix what differs per process and time.
    h->hash_key[0] = MonotonicNs() ^ (uint64_t(getpid()) << 32);
    h->hash_key[1] = NowMs() ^ reinterpret_cast<uintptr_t>(this);
  }
  hash_key_[0] = h->hash_key[0];
  hash_key_[1] = h->hash_key[1];
  h->lock_abi_libc = kLockAbiLibc;
  h->lock_abi_bytes = sizeof(pthread_mutex_t);
  InitRobustMutex(&h->write_lock);
  Table(*this).FormatSlots();
  std::memcpy(h->magic, kMagic, sizeof kMagic);
  StoreRelease(h->init_done, 1u);
}

bool Segment::Attach(bool fresh, Error* error) {
  // The gate is held for microseconds by a process that is attaching; poll
  // for it with a bound so that one stopped mid-attach (SIGSTOP, a debugger)
  // cannot hang every later opener.
  // The process attaching may be rebuilding a large table (the first opener
  // of a file nobody has open): it bumps lock_progress as it goes, and we wait
  // as long as it does, so that processes started together (PM2) all open.
  int gate = -1;
  uint64_t progress = LoadRelaxed(header()->lock_progress);
  for (uint32_t waited_ms = 0;; ++waited_ms) {
    gate = OfdLock(fd_, F_WRLCK, kGateByte, false);
    if (gate == 0 || (errno != EAGAIN && errno != EACCES)) break;
    if (waited_ms >= kAttachTimeoutMs) {
      const uint64_t now_progress = LoadRelaxed(header()->lock_progress);
      if (now_progress == progress) break;  // no progress for a whole period: stuck
      progress = now_progress;
      waited_ms = 0;
    }
    usleep(1000);
  }
  if (gate != 0) {
    int err = errno;
    *error = err == EAGAIN || err == EACCES
                 ? MakeError("ERR_TLS_SHM_SYSTEM", "timed out waiting for another process attaching to " + name_)
                 : SystemError("locking", name_, err);
    return false;
  }
  bool alone = OfdLock(fd_, F_WRLCK, kAttachByte, false) == 0;
  if (alone && !fresh) {
    // Everything that describes live processes (the write lock's owner, counter
    // stripes, the lease) is left over from processes that are all gone.
    ResetVolatileState();
    reset_on_open_ = true;
  }
  // Converting our exclusive lock to shared is atomic for fcntl locks.
  int rc = OfdLock(fd_, F_RDLCK, kAttachByte, false);
  int err = errno;
  OfdLock(fd_, F_UNLCK, kGateByte, false);
  if (rc != 0) {
    *error = SystemError("locking", name_, err);
    return false;
  }
  return true;
}

void Segment::ResetVolatileState() {
  Header* h = header();
  InitRobustMutex(&h->write_lock);
  // Owners are gone; their counts stay where they are (totals never go back).
  Stripe* st = stripes();
  for (uint32_t i = 1; i < kStripes; ++i) StoreRelaxed(st[i].pid, 0u);
  h->lease_pid = 0;
  h->lease_renewed_ms = 0;
  Table(*this).Rebuild();
  // A ticket ring rotation cut short, as in Table's recovery after a dead
  // writer (the re-initialised mutex will not report EOWNERDEAD): fresh keys,
  // never the torn bytes (cache.h).
  RepairTicketRing(h);
}

void Segment::Unlink() {
  if (shm_ && owner_ && !unlinked_) {
    shm_unlink(name_.c_str());
    unlinked_ = true;
  }
}

void Segment::Close() {
  if (base_ != nullptr) {
    munmap(base_, size_);
    base_ = nullptr;
  }
  Unlink();
  if (fd_ >= 0) {
    close(fd_);  // drops our attach lock
    fd_ = -1;
  }
}

}  // namespace tlsshm
