// The JavaScript face of the native core. Thin on purpose: it converts
// arguments and results and turns native errors into JavaScript ones with a
// stable `code`. Validation with friendly messages lives in src/*.ts; the
// checks here are a backstop so that bad input can never crash the process.
#include <napi.h>

#if defined(__linux__)

#include <string.h>  // explicit_bzero

#include <algorithm>
#include <memory>
#include <set>
#include <string>
#include <vector>

#include "cache.h"
#include "lock.h"
#include "outbox.h"

namespace {

using tlsshm::Cache;

// Throws with raw Node-API calls, each checked: while the environment is
// terminating (a worker thread being stopped) they fail, and the error is
// dropped instead of aborting the process (node-addon-api's wrappers treat a
// failed throw as fatal).
napi_value ThrowWithCode(napi_env env, const char* code, const std::string& message, bool type_error) {
  napi_value code_value, message_value, error;
  if (napi_create_string_utf8(env, code, NAPI_AUTO_LENGTH, &code_value) != napi_ok ||
      napi_create_string_utf8(env, message.data(), message.size(), &message_value) != napi_ok) {
    return nullptr;
  }
  napi_status made = type_error ? napi_create_type_error(env, code_value, message_value, &error)
                                : napi_create_error(env, code_value, message_value, &error);
  if (made == napi_ok) napi_throw(env, error);
  return nullptr;
}

Napi::Value Throw(Napi::Env env, const std::string& code, const std::string& message) {
  return Napi::Value(env, ThrowWithCode(env, code.c_str(), message, false));
}

Napi::Value ThrowType(Napi::Env env, const char* message) {
  return Napi::Value(env, ThrowWithCode(env, "ERR_INVALID_ARG_TYPE", message, true));
}

// Bytes of a Buffer / Uint8Array argument, or false. Two napi calls: this runs
// on every lookup, and the node-addon-api wrappers would ask V8 three times.
bool BytesOf(const Napi::Value& v, const uint8_t** data, size_t* length) {
  napi_env env = v.Env();
  bool is_typed_array = false;
  if (napi_is_typedarray(env, v, &is_typed_array) != napi_ok || !is_typed_array) return false;
  napi_typedarray_type type;
  void* bytes = nullptr;
  if (napi_get_typedarray_info(env, v, &type, length, &bytes, nullptr, nullptr) != napi_ok ||
      type != napi_uint8_array) {
    return false;
  }
  // An empty typed array may have no backing store; callers never read it then.
  static const uint8_t kEmpty = 0;
  *data = bytes != nullptr ? static_cast<const uint8_t*>(bytes) : &kEmpty;
  return true;
}

bool Uint32Of(const Napi::Value& v, uint32_t* out) {
  if (!v.IsNumber()) return false;
  double d = v.As<Napi::Number>().DoubleValue();
  if (!(d >= 0 && d <= 4294967295.0) || d != static_cast<double>(static_cast<uint32_t>(d))) return false;
  *out = static_cast<uint32_t>(d);
  return true;
}

class NativeCache;

// Per-environment state: every cache still open, closed when the environment
// (the process, or a worker thread) is torn down, so a mapping never outlives it.
struct AddonData {
  Napi::FunctionReference constructor;
  std::set<NativeCache*> open;
  ~AddonData();
};

class NativeCache : public Napi::ObjectWrap<NativeCache> {
 public:
  static Napi::Function Define(Napi::Env env) {
    return DefineClass(env, "NativeCache",
                       {
                           InstanceMethod<&NativeCache::SetSlab>("setSlab"),
                           InstanceMethod<&NativeCache::Delete>("delete"),
                           InstanceMethod<&NativeCache::Sweep>("sweep"),
                           InstanceMethod<&NativeCache::Stats>("stats"),
                           InstanceMethod<&NativeCache::Count>("count"),
                           InstanceMethod<&NativeCache::SetTicketRing>("setTicketRing"),
                           InstanceMethod<&NativeCache::RotateTicketRing>("rotateTicketRing"),
                           InstanceMethod<&NativeCache::TicketRing>("ticketRing"),
                           InstanceMethod<&NativeCache::TicketGeneration>("ticketGeneration"),
                           InstanceMethod<&NativeCache::AcquireLease>("acquireLease"),
                           InstanceMethod<&NativeCache::ReleaseLease>("releaseLease"),
                           InstanceMethod<&NativeCache::OutboxHead>("outboxHead"),
                           InstanceMethod<&NativeCache::DrainOutbox>("drainOutbox"),
                           InstanceMethod<&NativeCache::Unlink>("unlink"),
                           InstanceMethod<&NativeCache::Close>("close"),
                       });
  }

  // Constructed only from Create/Open below, with an External<Cache>.
  explicit NativeCache(const Napi::CallbackInfo& info) : Napi::ObjectWrap<NativeCache>(info) {
    if (info.Length() != 1 || !info[0].IsExternal()) {
      ThrowType(info.Env(), "NativeCache cannot be constructed directly");
      return;
    }
    cache_.reset(info[0].As<Napi::External<Cache>>().Data());
    scratch_.resize(cache_->table().max_value_bytes());
    data_ = info.Env().GetInstanceData<AddonData>();
    data_->open.insert(this);
    InstallBoundMethods(info.Env(), info.This().As<Napi::Object>());
  }

  ~NativeCache() override {
    Shutdown();
    if (bound_target_) *bound_target_ = nullptr;
  }

  void Shutdown() {
    slab_ = nullptr;
    slab_length_ = 0;
    if (cache_) cache_->Close();
    cache_.reset();
    if (data_ != nullptr) data_->open.erase(this);
    data_ = nullptr;
  }

  static Napi::Object Wrap(Napi::Env env, std::unique_ptr<Cache> cache) {
    Napi::External<Cache> external = Napi::External<Cache>::New(env, cache.release());
    return env.GetInstanceData<AddonData>()->constructor.New({external});
  }

 private:
  bool Usable(Napi::Env env) {
    if (cache_ && !cache_->closed()) return true;
    Throw(env, "ERR_TLS_SHM_CLOSED", "the cache is closed");
    return false;
  }

  // setSlab(buffer): where getInto writes values. JavaScript hands out views
  // of this slab, a fresh one whenever it fills up, the way Buffer.allocUnsafe
  // uses its pool: creating a Buffer through N-API per lookup costs several
  // times the lookup itself, and the slab is private memory, never the mapping.
  Napi::Value SetSlab(const Napi::CallbackInfo& info) {
    Napi::Env env = info.Env();
    if (!Usable(env)) return env.Undefined();
    const uint8_t* data;
    size_t length;
    if (!BytesOf(info[0], &data, &length) || length < scratch_.size()) {
      return ThrowType(env, "slab must be a Buffer of at least maxValueBytes bytes");
    }
    slab_ref_ = Napi::Persistent(info[0].As<Napi::Object>());
    slab_ = const_cast<uint8_t*>(data);
    slab_length_ = length;
    return env.Undefined();
  }

  // getInto(key, offset) -> value length written at slab[offset], or -1 on a miss.
  //
  // The lookup itself takes ~50 ns; an ObjectWrap method adds ~100 ns of
  // wrapper work (CallbackInfo, unwrapping `this`). So getInto (and set) are plain
  // Node-API functions installed on each instance, bound to its object through
  // `data`. The binding outlives neither side: it is a shared cell that the
  // destructor clears and the function's finalizer frees.
  using Target = std::shared_ptr<NativeCache*>;

  void InstallBoundMethods(Napi::Env env, Napi::Object self) {
    bound_target_ = std::make_shared<NativeCache*>(this);
    InstallBound(env, self, "getInto", GetIntoRaw);
    InstallBound(env, self, "set", SetRaw);
  }

  // One plain function on `self`, bound to this object through the shared cell.
  void InstallBound(Napi::Env env, Napi::Object self, const char* name, napi_callback callback) {
    Target* held = new Target(bound_target_);
    napi_value fn;
    if (napi_create_function(env, name, NAPI_AUTO_LENGTH, callback, held, &fn) != napi_ok ||
        napi_add_finalizer(env, fn, held, [](napi_env, void* data, void*) { delete static_cast<Target*>(data); },
                           nullptr, nullptr) != napi_ok) {
      delete held;
      return;
    }
    napi_property_descriptor property = {name, nullptr, nullptr, nullptr, nullptr, fn, napi_default, nullptr};
    napi_define_properties(env, self, 1, &property);
  }

  // The start of every bound function: its arguments (`*argc` in, how many
  // were passed out; Node-API fills missing ones with undefined) and the open
  // cache it was bound to, or nullptr with an exception pending.
  static NativeCache* BoundSelf(napi_env env, napi_callback_info info, size_t* argc, napi_value* argv) {
    void* data = nullptr;
    if (napi_get_cb_info(env, info, argc, argv, nullptr, &data) != napi_ok || data == nullptr) return nullptr;
    NativeCache* self = **static_cast<Target*>(data);
    if (self == nullptr || !self->cache_ || self->cache_->closed()) {
      Throw(Napi::Env(env), "ERR_TLS_SHM_CLOSED", "the cache is closed");
      return nullptr;
    }
    return self;
  }

  static napi_value GetIntoRaw(napi_env env, napi_callback_info info) {
    size_t argc = 2;
    napi_value argv[2];
    NativeCache* self = BoundSelf(env, info, &argc, argv);
    if (self == nullptr) return nullptr;
    const uint8_t* key;
    size_t key_length;
    double offset = -1;
    if (argc < 2 || !BytesOf(Napi::Value(env, argv[0]), &key, &key_length)) {
      ThrowType(Napi::Env(env), "key must be a Buffer");
      return nullptr;
    }
    // The slab may have been detached since setSlab (buffer.transfer() on
    // Node 22+, structuredClone with transfer): its memory is then gone or
    // someone else's. Ask V8 where the slab's bytes are now, every time.
    if (self->slab_ != nullptr && !self->SlabStillAttached(env)) {
      self->slab_ = nullptr;
      self->slab_length_ = 0;
      ThrowType(Napi::Env(env), "the slab was detached; call setSlab with a new one");
      return nullptr;
    }
    // Written so that NaN, fractions and out-of-range numbers all fail.
    if (self->slab_ == nullptr || napi_get_value_double(env, argv[1], &offset) != napi_ok ||
        !(offset >= 0 && offset <= double(self->slab_length_)) || offset != double(size_t(offset)) ||
        offset + double(self->scratch_.size()) > double(self->slab_length_)) {
      ThrowType(Napi::Env(env), "offset must leave maxValueBytes bytes in the slab");
      return nullptr;
    }
    uint32_t length = 0;
    int32_t result = -1;
    if (self->cache_->table().Get(key, key_length, self->slab_ + size_t(offset), &length, tlsshm::NowMs()) ==
        tlsshm::GetResult::kHit) {
      result = int32_t(length);
    }
    napi_value out;
    napi_create_int32(env, result, &out);
    return out;
  }

  bool SlabStillAttached(napi_env env) {
    napi_value slab;
    napi_typedarray_type type;
    size_t length = 0;
    void* bytes = nullptr;
    return napi_get_reference_value(env, static_cast<napi_ref>(slab_ref_), &slab) == napi_ok && slab != nullptr &&
           napi_get_typedarray_info(env, slab, &type, &length, &bytes, nullptr, nullptr) == napi_ok &&
           bytes == slab_ && length == slab_length_;
  }

  // set(key, value, ttlMs) -> 0 inserted, 1 replaced, 2 too large, 3 lock failed
  // A plain bound function like getInto, for the same reason: a new session
  // is stored on every full handshake.
  static napi_value SetRaw(napi_env env, napi_callback_info info) {
    size_t argc = 3;
    napi_value argv[3];
    NativeCache* self = BoundSelf(env, info, &argc, argv);
    if (self == nullptr) return nullptr;
    const uint8_t *key, *value;
    size_t key_length, value_length;
    if (!BytesOf(Napi::Value(env, argv[0]), &key, &key_length)) {
      ThrowType(Napi::Env(env), "key must be a Buffer");
      return nullptr;
    }
    if (!BytesOf(Napi::Value(env, argv[1]), &value, &value_length)) {
      ThrowType(Napi::Env(env), "value must be a Buffer");
      return nullptr;
    }
    uint32_t ttl_ms;
    if (!Uint32Of(Napi::Value(env, argv[2]), &ttl_ms) || ttl_ms == 0) {
      ThrowType(Napi::Env(env), "ttlMs must be a positive 32-bit integer");
      return nullptr;
    }
    const uint64_t now = tlsshm::NowMs();
    tlsshm::SetResult r = self->cache_->table().Set(key, key_length, value, value_length, now + ttl_ms, now);
    napi_value out;
    napi_create_int32(env, static_cast<int32_t>(r), &out);
    return out;
  }

  Napi::Value Delete(const Napi::CallbackInfo& info) {
    Napi::Env env = info.Env();
    if (!Usable(env)) return env.Undefined();
    const uint8_t* key;
    size_t key_length;
    if (!BytesOf(info[0], &key, &key_length)) return ThrowType(env, "key must be a Buffer");
    return Napi::Boolean::New(env, cache_->table().Delete(key, key_length));
  }

  Napi::Value Sweep(const Napi::CallbackInfo& info) {
    Napi::Env env = info.Env();
    if (!Usable(env)) return env.Undefined();
    return Napi::Number::New(env, cache_->table().Sweep(tlsshm::NowMs()));
  }

  Napi::Value Stats(const Napi::CallbackInfo& info) {
    Napi::Env env = info.Env();
    if (!Usable(env)) return env.Undefined();
    tlsshm::Totals totals = cache_->Sum();
    const tlsshm::Header& h = cache_->header();
    const tlsshm::Geometry& g = cache_->geometry();
    Napi::Float64Array counters = Napi::Float64Array::New(env, tlsshm::kCounters);
    // Allocation fails while the environment is terminating (a worker thread
    // being stopped): return rather than write through a null array.
    if (counters.IsEmpty() || counters.Data() == nullptr) return env.Undefined();
    for (uint32_t i = 0; i < tlsshm::kCounters; ++i) counters[i] = double(totals.counters[i]);
    uint64_t ticket_set_at = 0;
    uint32_t ticket_present = 0;
    uint8_t discard[tlsshm::kTicketRingBytes];
    uint64_t generation = cache_->TicketRing(discard, &ticket_present, &ticket_set_at);
    explicit_bzero(discard, sizeof discard);
    Napi::Object out = Napi::Object::New(env);
    out.Set("counters", counters);
    out.Set("attached", double(totals.attached));
    out.Set("used", double(totals.used));
    out.Set("items", double(g.items));
    out.Set("blocksize", double(g.blocksize));
    out.Set("blocks", double(g.blocks));
    out.Set("maxValueBytes", double(g.max_value_bytes));
    out.Set("blocksFree", double(cache_->table().blocks_free()));
    out.Set("bytesStored", double(cache_->table().bytes_stored()));
    out.Set("maxKeyLength", double(g.max_key_length));
    out.Set("timeout", double(g.default_ttl_s));
    out.Set("totalBytes", double(cache_->segment().layout().total_bytes));
    out.Set("createdAtMs", double(tlsshm::LoadRelaxed(h.created_at_ms)));
    out.Set("ticketGeneration", double(generation));
    out.Set("ticketSetAtMs", double(ticket_set_at));
    out.Set("ticketPresent", double(ticket_present));
    out.Set("leasePid", double(cache_->LeaseHolder()));
    out.Set("handle", cache_->segment().handle());
    return out;
  }

  Napi::Value Count(const Napi::CallbackInfo& info) {
    Napi::Env env = info.Env();
    if (!Usable(env)) return env.Undefined();
    uint32_t index, n;
    if (!Uint32Of(info[0], &index) || index >= tlsshm::kCounters || !Uint32Of(info[1], &n)) {
      return ThrowType(env, "count(index, n) takes a counter index and a count");
    }
    cache_->Count(index, n);
    return env.Undefined();
  }

  // setTicketRing(ring: 256-byte Buffer, present: bit mask) -> generation, 0 if the lock failed
  Napi::Value SetTicketRing(const Napi::CallbackInfo& info) {
    Napi::Env env = info.Env();
    if (!Usable(env)) return env.Undefined();
    const uint8_t* ring;
    size_t length;
    uint32_t present;
    if (!BytesOf(info[0], &ring, &length) || length != tlsshm::kTicketRingBytes) {
      return ThrowType(env, "ticket ring must be a 256-byte Buffer");
    }
    if (!Uint32Of(info[1], &present) || present >= (1u << tlsshm::kTicketRingKeys)) {
      return ThrowType(env, "present must be a mask of ring slots");
    }
    return Napi::Number::New(env, double(cache_->SetTicketRing(ring, present, tlsshm::NowMs())));
  }

  // rotateTicketRing(fresh: 128-byte Buffer) -> generation, 0 if the lock failed
  Napi::Value RotateTicketRing(const Napi::CallbackInfo& info) {
    Napi::Env env = info.Env();
    if (!Usable(env)) return env.Undefined();
    const uint8_t* fresh;
    size_t length;
    if (!BytesOf(info[0], &fresh, &length) || length != 2 * tlsshm::kTicketRecordBytes) {
      return ThrowType(env, "fresh keys must be a 128-byte Buffer");
    }
    return Napi::Number::New(env, double(cache_->RotateTicketRing(fresh, tlsshm::NowMs())));
  }

  // ticketRing() -> { generation, setAtMs, present, ring } or undefined while there is none
  Napi::Value TicketRing(const Napi::CallbackInfo& info) {
    Napi::Env env = info.Env();
    if (!Usable(env)) return env.Undefined();
    uint8_t ring[tlsshm::kTicketRingBytes];
    uint64_t set_at = 0;
    uint32_t present = 0;
    uint64_t generation = cache_->TicketRing(ring, &present, &set_at);
    if (generation == 0) return env.Undefined();
    Napi::Object out = Napi::Object::New(env);
    out.Set("generation", double(generation));
    out.Set("setAtMs", double(set_at));
    out.Set("present", double(present));
    out.Set("ring", Napi::Buffer<uint8_t>::Copy(env, ring, sizeof ring));
    explicit_bzero(ring, sizeof ring);
    return out;
  }

  // outboxHead() -> records appended so far: where a new drainer starts
  Napi::Value OutboxHead(const Napi::CallbackInfo& info) {
    Napi::Env env = info.Env();
    if (!Usable(env)) return env.Undefined();
    return Napi::Number::New(env, double(tlsshm::OutboxHead(cache_->segment())));
  }

  // drainOutbox(cursor, maxItems) -> { cursor, lost, stale, items: [[key, value, expiresAtMs], ...] }
  Napi::Value DrainOutbox(const Napi::CallbackInfo& info) {
    Napi::Env env = info.Env();
    if (!Usable(env)) return env.Undefined();
    if (!info[0].IsNumber()) return ThrowType(env, "cursor must be a number");
    const double cursor = info[0].As<Napi::Number>().DoubleValue();
    uint32_t max_items;
    if (!(cursor >= 0 && cursor <= 9007199254740991.0) || !Uint32Of(info[1], &max_items)) {
      return ThrowType(env, "cursor must be a safe integer >= 0 and maxItems a 32-bit integer");
    }
    tlsshm::DrainResult r = tlsshm::DrainOutbox(cache_->segment(), uint64_t(cursor), max_items, tlsshm::NowMs());
    Napi::Array items = Napi::Array::New(env, r.items.size());
    for (uint32_t i = 0; i < r.items.size(); ++i) {
      const tlsshm::OutboxItem& item = r.items[i];
      Napi::Array row = Napi::Array::New(env, 3);
      row.Set(0u, Napi::Buffer<uint8_t>::Copy(env, item.key.data(), item.key.size()));
      row.Set(1u, Napi::Buffer<uint8_t>::Copy(env, item.value.data(), item.value.size()));
      row.Set(2u, Napi::Number::New(env, double(item.expires_at_ms)));
      items.Set(i, row);
    }
    // The copies held session secrets: wipe them before the vectors are freed.
    for (tlsshm::OutboxItem& item : r.items) std::fill(item.value.begin(), item.value.end(), uint8_t{0});
    Napi::Object out = Napi::Object::New(env);
    out.Set("cursor", double(r.cursor));
    out.Set("lost", double(r.lost));
    out.Set("stale", double(r.stale));
    out.Set("items", items);
    return out;
  }

  Napi::Value TicketGeneration(const Napi::CallbackInfo& info) {
    Napi::Env env = info.Env();
    if (!Usable(env)) return env.Undefined();
    return Napi::Number::New(env, double(cache_->TicketGeneration()));
  }

  Napi::Value AcquireLease(const Napi::CallbackInfo& info) {
    Napi::Env env = info.Env();
    if (!Usable(env)) return env.Undefined();
    uint32_t stale_ms;
    if (!Uint32Of(info[0], &stale_ms)) return ThrowType(env, "staleMs must be a 32-bit integer");
    return Napi::Boolean::New(env, cache_->AcquireLease(tlsshm::NowMs(), stale_ms));
  }

  Napi::Value ReleaseLease(const Napi::CallbackInfo& info) {
    Napi::Env env = info.Env();
    if (!Usable(env)) return env.Undefined();
    cache_->ReleaseLease();
    return env.Undefined();
  }

  Napi::Value Unlink(const Napi::CallbackInfo& info) {
    Napi::Env env = info.Env();
    if (!Usable(env)) return env.Undefined();
    const_cast<tlsshm::Segment&>(cache_->segment()).Unlink();
    return env.Undefined();
  }

  Napi::Value Close(const Napi::CallbackInfo& info) {
    Shutdown();
    return info.Env().Undefined();
  }

  std::unique_ptr<Cache> cache_;
  std::vector<uint8_t> scratch_;  // only its size is used: max_value_bytes
  Napi::ObjectReference slab_ref_;
  Target bound_target_;
  uint8_t* slab_ = nullptr;
  size_t slab_length_ = 0;
  AddonData* data_ = nullptr;
};

AddonData::~AddonData() {
  // Copy: Shutdown erases from the set.
  std::set<NativeCache*> still_open = open;
  for (NativeCache* c : still_open) c->Shutdown();
}

bool GeometryOf(const Napi::CallbackInfo& info, tlsshm::Geometry* g) {
  return Uint32Of(info[0], &g->items) && Uint32Of(info[1], &g->blocksize) &&
         Uint32Of(info[2], &g->blocks) && Uint32Of(info[3], &g->max_value_bytes) &&
         Uint32Of(info[4], &g->max_key_length) && Uint32Of(info[5], &g->default_ttl_s);
}

// create(items, blocksize, blocks, maxValueBytes, maxKeyLength, timeoutS, path?) -> { cache, created }
Napi::Value Create(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  tlsshm::Geometry g;
  if (!GeometryOf(info, &g)) return ThrowType(env, "create(items, blocksize, blocks, maxValueBytes, maxKeyLength, timeout, path?)");
  tlsshm::Error error;
  bool created = true;
  std::unique_ptr<Cache> cache;
  if (info[6].IsString()) {
    cache = Cache::CreateOrOpenFile(info[6].As<Napi::String>().Utf8Value(), g, &created, &error);
  } else {
    cache = Cache::CreateShm(g, &error);
  }
  if (!cache) return Throw(env, error.code, error.message);
  Napi::Object out = Napi::Object::New(env);
  out.Set("cache", NativeCache::Wrap(env, std::move(cache)));
  out.Set("created", created);
  return out;
}

// createMemfd(items, blocksize, blocks, maxValueBytes, maxKeyLength, timeoutS) -> cache (see Segment::CreateMemfd)
Napi::Value CreateMemfd(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  tlsshm::Geometry g;
  if (!GeometryOf(info, &g)) return ThrowType(env, "createMemfd(items, blocksize, blocks, maxValueBytes, maxKeyLength, timeout)");
  tlsshm::Error error;
  std::unique_ptr<Cache> cache = Cache::CreateMemfd(g, &error);
  if (!cache) return Throw(env, error.code, error.message);
  return NativeCache::Wrap(env, std::move(cache));
}

Napi::Value Open(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  if (!info[0].IsString()) return ThrowType(env, "open(handle) takes a string");
  tlsshm::Error error;
  std::unique_ptr<Cache> cache = Cache::Open(info[0].As<Napi::String>().Utf8Value(), &error);
  if (!cache) return Throw(env, error.code, error.message);
  return NativeCache::Wrap(env, std::move(cache));
}

// replaceUnusedFile(path, replacement) -> 0 replaced, 1 in use, 2 changed (segment.h)
Napi::Value ReplaceUnusedFile(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  if (!info[0].IsString() || !info[1].IsString()) return ThrowType(env, "replaceUnusedFile(path, replacement)");
  tlsshm::Error error;
  tlsshm::ReplaceResult result;
  if (!tlsshm::ReplaceUnusedFile(info[0].As<Napi::String>().Utf8Value(),
                                 info[1].As<Napi::String>().Utf8Value(), &result, &error)) {
    return Throw(env, error.code, error.message);
  }
  return Napi::Number::New(env, double(int(result)));
}

Napi::Object Init(Napi::Env env, Napi::Object exports) {
  AddonData* data = new AddonData();
  env.SetInstanceData(data);
  Napi::Function ctor = NativeCache::Define(env);
  data->constructor = Napi::Persistent(ctor);
  exports.Set("create", Napi::Function::New(env, Create));
  exports.Set("open", Napi::Function::New(env, Open));
  exports.Set("replaceUnusedFile", Napi::Function::New(env, ReplaceUnusedFile));
  exports.Set("createMemfd", Napi::Function::New(env, CreateMemfd));
  exports.Set("layoutVersion", Napi::Number::New(env, tlsshm::kLayoutVersion));
  exports.Set("counterSlots", Napi::Number::New(env, tlsshm::kCounters));
  exports.Set("headerBytes", Napi::Number::New(env, double(sizeof(tlsshm::Header))));
  return exports;
}

}  // namespace

#else  // not Linux

namespace {
// Robust process-shared mutexes and open-file-description locks are what make
// the cache safe against killed processes; without them there is no cache.
Napi::Object Init(Napi::Env env, Napi::Object exports) {
  exports.Set("unsupported", Napi::String::New(env, "tls-shm-cache needs Linux"));
  return exports;
}
}  // namespace

#endif

NODE_API_MODULE(tls_shm_cache, Init)
