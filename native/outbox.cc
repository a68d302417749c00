#include "outbox.h"

#include "atomics.h"
#include "chain.h"
#include "segment.h"

namespace tlsshm {

namespace {

// Geometry comes from the segment's snapshot taken at open (layout.h), never
// from the live header.
OutboxArea* AreaOf(const Segment& segment) {
  return reinterpret_cast<OutboxArea*>(segment.base() + segment.layout().outbox_offset);
}

// Copies slot `index` if its sequence number is still `seq` and it holds a live
// item; the seqlock protocol of layout.h, as in Table::Get.
bool CopySlot(const Segment& segment, uint32_t index, uint32_t seq, uint64_t now_ms, OutboxItem* out) {
  const Layout& l = segment.layout();
  const Geometry& g = segment.geometry();
  uint8_t* base = segment.base();
  const SlotMeta* m = reinterpret_cast<const SlotMeta*>(base + l.meta_offset + uint64_t(index) * l.meta_stride);
  const ChainArea chain = segment.chain();
  if (LoadAcquire(m->seq) != seq || LoadRelaxed(m->state) != kSlotUsed) return false;
  const uint16_t key_length = LoadRelaxed(m->key_length);
  const uint32_t value_length = LoadRelaxed(m->value_length);
  const uint64_t expires = LoadRelaxed(m->expires_at_ms);
  if (key_length == 0 || key_length > g.max_key_length || value_length > g.max_value_bytes) return false;
  out->key.resize(key_length);
  out->value.resize(value_length);
  // The item's chain of blocks (chain.h); the seq check below discards a
  // copy of a slot that changed meanwhile.
  if (!chain.Copy(LoadRelaxed(m->first_block), out->key.data(), key_length, out->value.data(), value_length)) {
    return false;
  }
  FenceAcquire();
  if (LoadRelaxed(m->seq) != seq) return false;
  if (expires <= now_ms) return false;
  out->expires_at_ms = expires;
  return true;
}

}  // namespace

void Outbox::Append(uint32_t slot, uint32_t seq) {
  if (area_ == nullptr) return;
  const uint64_t head = area_->head;
  StoreRelease(area_->records()[head & mask_], (uint64_t(slot) << 32) | seq);
  StoreRelease(area_->head, head + 1);
}

uint64_t Outbox::Head() const { return area_ == nullptr ? 0 : LoadAcquire(area_->head); }

uint64_t OutboxHead(const Segment& segment) { return LoadAcquire(AreaOf(segment)->head); }

DrainResult DrainOutbox(const Segment& segment, uint64_t cursor, uint32_t max_items, uint64_t now_ms) {
  DrainResult r{cursor, 0, 0, {}};
  const OutboxArea* area = AreaOf(segment);
  const uint32_t items = segment.geometry().items;
  const uint32_t entries = segment.layout().outbox_entries;
  uint64_t head = LoadAcquire(area->head);
  if (cursor > head) cursor = head;  // a cursor from another segment or a reset
  if (head - cursor > entries) {
    r.lost += head - cursor - entries;
    cursor = head - entries;
  }
  for (; cursor < head && r.items.size() < max_items; ++cursor) {
    const uint64_t record = LoadAcquire(area->records()[cursor & (entries - 1)]);
    // Lapped while reading: the record may belong to a later append.
    if (LoadAcquire(area->head) - cursor > entries) {
      ++r.lost;
      continue;
    }
    const uint32_t slot = uint32_t(record >> 32);
    const uint32_t seq = uint32_t(record);
    OutboxItem item;
    if (slot >= items || !CopySlot(segment, slot, seq, now_ms, &item)) {
      ++r.stale;
      continue;
    }
    r.items.push_back(std::move(item));
  }
  r.cursor = cursor;
  return r;
}

}  // namespace tlsshm
