#pragma once
// This process's view of every image, materialised from the images topic
// (and, for renders made on demand, written directly). Rebuildable at any
// time from the topic: `imgpipe reindex`.

#include <cstdint>
#include <map>
#include <optional>
#include <string>
#include <vector>

#include "schemas/messages.h"
#include "storage/db.h"

namespace imgpipe::storage {

class ImageIndex {
 public:
  explicit ImageIndex(Db& db) : db_(db) {}

  // Applies one event read at (partition, offset) of the images topic and
  // records the reader position in the same atomic write. Idempotent.
  void apply(const schemas::ImageEvent& event, int32_t partition, int64_t offset);

  std::optional<schemas::ImageRecord> get(const std::string& id);

  // A variant from the record (pre-generated) or from on-demand renders.
  std::optional<schemas::VariantRecord> find_variant(const std::string& id, const std::string& size,
                                                    const std::string& format);
  void put_rendered_variant(const std::string& id, const schemas::VariantRecord& variant);

  // Next offset per partition of the images topic this index has applied.
  std::map<int32_t, int64_t> positions();

  // Images whose expires_at is at or before `now` (unix seconds), oldest first.
  std::vector<std::string> expired(int64_t now, size_t limit);

  // Forget everything (before a rebuild from the topic).
  void clear();

 private:
  Db& db_;
};

}  // namespace imgpipe::storage
