#include "storage/image_index.h"

#include <algorithm>
#include <cstdint>

#include "storage/topic_follower.h"

namespace imgpipe::storage {
namespace {

std::string variant_key(const std::string& id, const std::string& size, const std::string& format) {
  return id + '\0' + size + '\0' + format;
}

std::string expiry_key(int64_t at, const std::string& id) { return be64(static_cast<uint64_t>(at)) + id; }

// Listing keys in cf::listings (storage/db.h): newest first within an owner.
std::string newest_first(const schemas::ImageRecord& r) {
  const int64_t ms = r.created_ms ? r.created_ms : r.created_at * 1000;
  return be64(static_cast<uint64_t>(INT64_MAX - ms)) + r.id;
}
std::string owner_prefix(const std::string& owner) { return "t:" + owner + '\0'; }
std::string label_prefix(const std::string& owner, const std::string& key, const std::string& value) {
  return "l:" + owner + '\0' + key + '\0' + value + '\0';
}

// Images still processing, oldest first: the retention sweeper gives up on
// those whose job never came (ImageIndex::processing_before).
std::string processing_key(const schemas::ImageRecord& r) {
  return "p:" + be64(static_cast<uint64_t>(r.created_at)) + r.id;
}

// Every key in cf::listings a record has (put when it is written, removed
// when it is replaced or deleted): processing, owner and label listings.
void listing_ops(const schemas::ImageRecord& r, WriteOp::Kind kind, std::vector<WriteOp>& batch) {
  if (r.status == schemas::kProcessing) batch.push_back({kind, cf::listings, processing_key(r), ""});
  if (r.owner.empty()) return;
  batch.push_back({kind, cf::listings, owner_prefix(r.owner) + newest_first(r), ""});
  for (const auto& [key, value] : r.labels)
    batch.push_back({kind, cf::listings, label_prefix(r.owner, key, value) + newest_first(r), ""});
}

// The fields the image API edits change only through `updated` events: a
// worker's later `variants` event (or a replayed `ready`) carries the job's.
void keep_edits(schemas::ImageRecord& into, const schemas::ImageRecord& from) {
  into.name = from.name;
  into.caption = from.caption;
  into.labels = from.labels;
  into.metadata = from.metadata;
  into.is_public = from.is_public;
}

// Variants announced later replace earlier ones with the same size and format.
void merge_variants(schemas::ImageRecord& into, const std::vector<schemas::VariantRecord>& from) {
  for (const auto& v : from) {
    auto same = [&](const schemas::VariantRecord& x) { return x.size == v.size && x.format == v.format; };
    auto it = std::find_if(into.variants.begin(), into.variants.end(), same);
    if (it == into.variants.end()) into.variants.push_back(v);
    else *it = v;
  }
}

// A deleted image stays deleted: a worker announces variants after `ready`
// (as a later, low-priority part), so its `variants` event can arrive after a
// delete and must not bring the image back. The marker lives in cf::listings.
std::string deleted_key(const std::string& id) { return "deleted:" + id; }

// Which event may write a record over `existing` (docs/api.md "status"):
// accepted only starts an image (none yet, or a failed one tried again: a
// retried or replayed job never turns a ready image back into processing);
// failed never undoes a ready image; variants only add to a ready image
// (published under their own key, schemas::event_key, they may outlive its
// deletion in a compacted topic or come before a compacted `updated` that
// already carries them); ready and updated always apply.
bool writes_record(const schemas::ImageEvent& event, const std::optional<schemas::ImageRecord>& existing) {
  if (event.type == "accepted") return !existing || existing->status == schemas::kFailed;
  if (event.type == "failed") return !existing || !existing->ready();
  if (event.type == "variants") return existing && existing->ready();
  return event.type == "ready" || event.type == "updated";
}

}  // namespace

bool ImageIndex::revives_deleted(const schemas::ImageEvent& event) {
  return event.type != "deleted" && !get_shared(event.image_id) && was_deleted(event.image_id);
}

bool ImageIndex::was_deleted(const std::string& id) { return db_.get(cf::listings, deleted_key(id)).has_value(); }

void ImageIndex::apply(const schemas::ImageEvent& event, std::vector<WriteOp> also) {
  std::vector<WriteOp> batch = std::move(also);
  if (revives_deleted(event)) {
    if (!batch.empty()) db_.write(batch, false);
    return;
  }
  auto existing = get(event.image_id);
  const auto tombstone = deleted_key(event.image_id);
  std::optional<schemas::ImageRecord> failed_here;  // a failed event without its record: the one we have
  if (event.type == "failed" && !event.image && existing && existing->status == schemas::kProcessing) {
    failed_here = *existing;
    failed_here->status = schemas::kFailed;
  }
  const auto* incoming = event.image ? &*event.image : failed_here ? &*failed_here : nullptr;
  if (incoming && writes_record(event, existing)) {
    schemas::ImageRecord record = *incoming;
    if (event.type == "failed") record.failure = event.error;
    if (existing) {
      // Edits exist on ready records only (PATCH refuses the others).
      if (event.type != "updated" && existing->ready()) keep_edits(record, *existing);
      listing_ops(*existing, WriteOp::Kind::remove, batch);
      if (record.ready()) {
        merge_variants(record, existing->variants);  // keep what we knew ...
        merge_variants(record, incoming->variants);  // ... but the event wins
      }
      if (existing->expires_at != record.expires_at && existing->expires_at)
        batch.push_back({WriteOp::Kind::remove, cf::expiry, expiry_key(existing->expires_at, record.id), ""});
    }
    batch.push_back({WriteOp::Kind::put, cf::images, record.id, schemas::encode_record(record)});
    listing_ops(record, WriteOp::Kind::put, batch);
    if (record.expires_at) batch.push_back({WriteOp::Kind::put, cf::expiry, expiry_key(record.expires_at, record.id), ""});
  } else if (event.type == "deleted" && existing) {
    batch.push_back({WriteOp::Kind::remove, cf::images, existing->id, ""});
    listing_ops(*existing, WriteOp::Kind::remove, batch);
    batch.push_back({WriteOp::Kind::put, cf::listings, tombstone, ""});
    if (existing->expires_at)
      batch.push_back({WriteOp::Kind::remove, cf::expiry, expiry_key(existing->expires_at, existing->id), ""});
    db_.scan(cf::variants, existing->id + '\0', [&](std::string_view key, std::string_view) {
      batch.push_back({WriteOp::Kind::remove, cf::variants, std::string(key), ""});
      return true;
    });
  }
  if (!batch.empty()) db_.write(batch, false);
  forget(event.image_id);
}

void ImageIndex::forget(const std::string& id) {
  std::lock_guard lock(cache_mu_);
  ++generation_;
  if (auto it = cached_.find(id); it != cached_.end()) {
    lru_.erase(it->second);
    cached_.erase(it);
  }
}

std::shared_ptr<const schemas::ImageRecord> ImageIndex::get_shared(const std::string& id) {
  uint64_t generation = 0;
  {
    std::lock_guard lock(cache_mu_);
    if (auto it = cached_.find(id); it != cached_.end()) {
      lru_.splice(lru_.begin(), lru_, it->second);
      return it->second->second;
    }
    generation = generation_;
  }
  auto value = db_.get(cf::images, id);
  if (!value) return nullptr;
  auto record = std::make_shared<const schemas::ImageRecord>(schemas::decode_record(*value));
  if (cache_capacity_ == 0) return record;
  std::lock_guard lock(cache_mu_);
  // A write since the read may have changed the record: then it is not kept.
  if (generation != generation_ || cached_.contains(id)) return record;
  lru_.emplace_front(id, record);
  cached_.emplace(id, lru_.begin());
  if (lru_.size() > cache_capacity_) {
    cached_.erase(lru_.back().first);
    lru_.pop_back();
  }
  return record;
}

std::optional<schemas::ImageRecord> ImageIndex::get(const std::string& id) {
  auto record = get_shared(id);
  if (!record) return std::nullopt;
  return *record;
}

std::optional<schemas::VariantRecord> ImageIndex::find_variant(const std::string& id, const std::string& size,
                                                               const std::string& format) {
  if (auto record = get(id))
    for (const auto& v : record->variants)
      if (v.size == size && v.format == format) return v;
  auto value = db_.get(cf::variants, variant_key(id, size, format));
  if (!value) return std::nullopt;
  schemas::ImageRecord holder = schemas::decode_record(*value);
  if (holder.variants.empty()) return std::nullopt;
  return holder.variants.front();
}

void ImageIndex::put_rendered_variant(const std::string& id, const schemas::VariantRecord& variant) {
  // Stored in the record shape so one codec serves both.
  schemas::ImageRecord holder;
  holder.id = id;
  holder.format = variant.format;
  holder.blob = variant.blob;
  holder.variants.push_back(variant);
  db_.put(cf::variants, variant_key(id, variant.size, variant.format), schemas::encode_record(holder), false);
}

std::map<int32_t, int64_t> ImageIndex::positions() { return stored_positions(db_, positions_name); }

void ImageIndex::list_owner(const std::string& owner, const std::optional<Label>& label, std::string_view after,
                            const std::function<bool(const std::string&, std::string_view)>& visit) {
  auto prefix = label ? label_prefix(owner, label->first, label->second) : owner_prefix(owner);
  auto start = prefix + std::string(after);
  db_.scan(cf::listings, prefix, [&](std::string_view key, std::string_view) {
    auto position = key.substr(prefix.size());
    if (position.size() <= 8) return true;
    if (!after.empty() && position == after) return true;  // the cursor's own item was on the last page
    return visit(std::string(position.substr(8)), position);
  }, start);
}

std::vector<std::string> ImageIndex::expired(int64_t now, size_t limit) {
  std::vector<std::string> ids;
  db_.scan(cf::expiry, "", [&](std::string_view key, std::string_view) {
    if (static_cast<int64_t>(read_be64(key.substr(0, 8))) > now || ids.size() >= limit) return false;
    ids.emplace_back(key.substr(8));
    return true;
  });
  return ids;
}

std::vector<std::string> ImageIndex::processing_before(int64_t created_before, size_t limit) {
  std::vector<std::string> ids;
  db_.scan(cf::listings, "p:", [&](std::string_view key, std::string_view) {
    if (static_cast<int64_t>(read_be64(key.substr(2, 8))) >= created_before || ids.size() >= limit) return false;
    ids.emplace_back(key.substr(10));
    return true;
  });
  return ids;
}

void ImageIndex::clear() {
  for (const char* family : {cf::images, cf::variants, cf::expiry, cf::listings}) db_.clear(family);
  std::lock_guard lock(cache_mu_);
  ++generation_;
  lru_.clear();
  cached_.clear();
}

}  // namespace imgpipe::storage
