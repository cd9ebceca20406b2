#pragma once
// This process's view of every image, materialised from the images topic
// (and, for renders made on demand, written directly). Rebuildable at any
// time from the topic: `imgpipe reindex`.

#include <cstdint>
#include <list>
#include <functional>
#include <map>
#include <memory>
#include <mutex>
#include <optional>
#include <unordered_map>
#include <string>
#include <string_view>
#include <vector>

#include "schemas/messages.h"
#include "storage/db.h"

namespace imgpipe::storage {

class ImageIndex {
 public:
  // Keeps up to `cached_records` decoded records in memory (0: none): a hot
  // src URL then costs no RocksDB read and no JSON decode. Every write to the
  // images family goes through apply()/clear(), which invalidate it; so there
  // must be one ImageIndex per Db in a process.
  explicit ImageIndex(Db& db, size_t cached_records = 4096) : db_(db), cache_capacity_(cached_records) {}

  // The images topic follower's key in cf::positions (storage/topic_follower.h).
  static constexpr const char* positions_name = "images";

  // Applies one event of the images topic, with `also` (the follower's
  // position) in the same atomic write. Idempotent.
  void apply(const schemas::ImageEvent& event, std::vector<WriteOp> also = {});
  // True for an event about an image that was deleted (a worker's late
  // `variants` after a delete): apply() ignores it, and so must anything
  // that counts events (the usage ledger).
  bool revives_deleted(const schemas::ImageEvent& event);
  // The image was deleted (its marker stays: an id is never reused).
  bool was_deleted(const std::string& id);

  std::optional<schemas::ImageRecord> get(const std::string& id);
  // The same without a copy of the record.
  std::shared_ptr<const schemas::ImageRecord> get_shared(const std::string& id);

  // A variant from the record (pre-generated) or from on-demand renders.
  std::optional<schemas::VariantRecord> find_variant(const std::string& id, const std::string& size,
                                                    const std::string& format);
  void put_rendered_variant(const std::string& id, const schemas::VariantRecord& variant);

  // Next offset per partition of the images topic this index has applied.
  std::map<int32_t, int64_t> positions();
  // The database this index lives in: its follower keeps positions there.
  Db& db() { return db_; }

  // An owner's images, newest first (ties by id), or only those carrying the
  // label key=value: visit(id, position) from just after `after` (a position
  // it gave; empty: from the newest), until it returns false. Positions are
  // the listing keys themselves (time, id), so a cursor stays valid while
  // images come and go, and a page costs its length, not the owner's total.
  using Label = std::pair<std::string, std::string>;
  void list_owner(const std::string& owner, const std::optional<Label>& label, std::string_view after,
                  const std::function<bool(const std::string& id, std::string_view position)>& visit);

  // Images whose expires_at is at or before `now` (unix seconds), oldest first.
  std::vector<std::string> expired(int64_t now, size_t limit);
  // Up to `limit` images still processing that were created before
  // `created_before` (seconds), oldest first.
  std::vector<std::string> processing_before(int64_t created_before, size_t limit);

  // Forget every image, variant, expiry and listing (before a rebuild from
  // the topic; the follower's positions are its own: forget_positions()).
  void clear();

 private:
  using Entry = std::pair<std::string, std::shared_ptr<const schemas::ImageRecord>>;
  void forget(const std::string& id);

  Db& db_;
  const size_t cache_capacity_;
  std::mutex cache_mu_;
  std::list<Entry> lru_;  // most recently used first
  std::unordered_map<std::string, std::list<Entry>::iterator> cached_;
  uint64_t generation_ = 0;  // bumped by every write: a read that raced one is not cached
};

}  // namespace imgpipe::storage
