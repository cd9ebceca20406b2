#pragma once
// Usage derived from the images topic, so every gateway computes the same
// numbers: uploads per owner per calendar month (UTC, by created_at), bytes
// stored per owner (originals, ready images only), the images of each owner, and which images
// reference each original blob. Kept in cf::listings (rebuilt with the index
// by `imgpipe reindex`):
//   "u:i:" id                 -> {"owner","bytes","blob"}   (counted once: replays are harmless)
//   "u:m:" owner '\0' YYYYMM  -> be64 uploads
//   "u:b:" owner              -> be64 bytes
//   "o:" owner '\0' id        -> ""   (ready, processing or failed: the images count)
//   "r:" blob '\0' id         -> ""
//   "x:" blob                 -> {"at", "blobs": [variant blobs]}  (no image left: collect after a grace)
// On top of that, in memory, the units reserved by uploads in flight.

#include <cstdint>
#include <map>
#include <memory>
#include <mutex>
#include <string>
#include <vector>

#include "gateway/accounts/clock.h"
#include "schemas/messages.h"
#include "storage/blob_store.h"
#include "storage/db.h"
#include "storage/image_index.h"

namespace imgpipe::gateway::accounts {

// "202611" for a unix time.
std::string month_of(int64_t unix_seconds);

struct Usage {
  int64_t uploads = 0;   // this month, done
  uint64_t bytes = 0;    // stored now
  int64_t reserved_uploads = 0;
  uint64_t reserved_bytes = 0;
};

class UsageLedger {
 public:
  UsageLedger(storage::Db& db, storage::ImageIndex& index, std::shared_ptr<const Clock> clock);

  // Called for every images-topic event before the index applies it.
  void observe(const schemas::ImageEvent& event);

  Usage usage(const std::string& owner);
  std::vector<std::string> images_of(const std::string& owner);

  // Reserve one upload of up to `bytes` for `owner` if, counting what is
  // stored and reserved, it stays within the limits. False when it would not.
  bool reserve(const std::string& owner, int64_t uploads_limit, uint64_t bytes_limit, uint64_t bytes);
  void release(const std::string& owner, uint64_t bytes);

  // Removes blobs that no image has referenced for `grace_seconds`, and the
  // manifests of images deleted that long ago; returns how many blob files went.
  size_t collect_orphans(storage::BlobStore& blobs, int64_t grace_seconds);

 private:
  bool referenced_by_another(const std::string& blob, const std::string& except_id);
  void collect_late_writes(const schemas::ImageEvent& event);
  static std::string manifest_due_key(const std::string& image_id);  // "xm:<id>": {"at"}
  std::string due_now() const;

  storage::Db& db_;
  storage::ImageIndex& index_;
  std::shared_ptr<const Clock> clock_;
  std::mutex mutex_;  // observe() against reserve(): a unit is either reserved or counted
  std::map<std::string, std::pair<int64_t, uint64_t>> reserved_;
};

}  // namespace imgpipe::gateway::accounts
