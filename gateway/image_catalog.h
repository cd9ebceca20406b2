#pragma once
// A key's own images, as the image routes see them: listed, read, updated
// and deleted by owner. The owner always comes from the caller's key;
// another owner's image is "not there" exactly like one that never was.

#include <functional>
#include <optional>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "gateway/gateway_config.h"
#include "gateway/image_events.h"
#include "schemas/errors.h"
#include "schemas/messages.h"
#include "storage/bus.h"
#include "storage/image_index.h"

namespace imgpipe::gateway {

using Label = std::pair<std::string, std::string>;

struct ImageQuery {
  std::vector<Label> labels;  // all must match (the first is read from its own index)
  std::string ns;             // namespace; empty: any
  std::string tag;            // lowercased; empty: any
  size_t limit = 50;
  std::string cursor;         // opaque, from a previous page's next_cursor; empty: the newest
};

struct ImagePage {
  std::vector<schemas::ImageRecord> images;  // newest first
  bool has_more = false;
  std::string next_cursor;  // set when has_more
};

// A change published by the catalog: done(nullopt) once this gateway's index
// applied it (so the caller reads its own write), or done(error) when the
// bus refused it.
using ChangeDone = std::function<void(std::optional<schemas::Error>)>;

// One page of the owner's live images, read from the index (the body of
// ImageCatalog::list; ops/bench.d/list_bench.cpp times it).
ImagePage list_page(storage::ImageIndex& index, const GatewayConfig& config, const std::string& owner,
                    const ImageQuery& query);

class ImageCatalog {
 public:
  ImageCatalog(const GatewayConfig& config, storage::Bus& bus, storage::ImageIndex& index,
               ImageEventFollower& events);

  // One page of the owner's live images; throws Error(invalid_field) for a
  // cursor this service did not make. Cost: the page's length (plus the
  // images a namespace/tag/second-label filter skips), never the owner's total.
  ImagePage list(const std::string& owner, const ImageQuery& query);
  // The image when it is live and the owner's.
  std::optional<schemas::ImageRecord> get(const std::string& owner, std::string_view id);
  // Publishes an `updated` event with the whole new record.
  void update(const schemas::ImageRecord& record, const std::string& request_id, ChangeDone done);
  // Publishes its `deleted` event.
  void remove(const std::string& id, const std::string& request_id, ChangeDone done);

 private:
  void publish(schemas::ImageEvent event, ChangeDone done);

  const GatewayConfig& config_;
  storage::Bus& bus_;
  storage::ImageIndex& index_;
  ImageEventFollower& events_;
};

}  // namespace imgpipe::gateway
