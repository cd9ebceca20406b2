#include "gateway/image_catalog.h"

#include <algorithm>

#include "gateway/image_ids.h"
#include "schemas/log.h"

namespace imgpipe::gateway {

ImageCatalog::ImageCatalog(const GatewayConfig& config, storage::Bus& bus, storage::ImageIndex& index,
                           accounts::UsageLedger& ledger)
    : config_(config), bus_(bus), index_(index), ledger_(ledger) {}

std::vector<schemas::ImageRecord> ImageCatalog::list(const std::string& owner, const ImageFilter& filter) {
  std::vector<schemas::ImageRecord> records;
  for (const auto& id : ledger_.images_of(owner)) {
    auto r = index_.get(id);
    if (!r || r->owner != owner || config_.expired(*r)) continue;
    if (!filter.ns.empty() && r->ns != filter.ns) continue;
    if (!filter.tag.empty() && std::find(r->tags.begin(), r->tags.end(), filter.tag) == r->tags.end()) continue;
    records.push_back(std::move(*r));
  }
  std::sort(records.begin(), records.end(), [](const auto& a, const auto& b) {
    return a.created_at != b.created_at ? a.created_at > b.created_at : a.id < b.id;
  });
  if (records.size() > filter.limit) records.resize(filter.limit);
  return records;
}

std::optional<schemas::ImageRecord> ImageCatalog::get(const std::string& owner, std::string_view id) {
  auto record = plausible_image_id(id) ? index_.get(std::string(id)) : std::nullopt;
  if (!record || record->owner != owner || config_.expired(*record)) return std::nullopt;
  return record;
}

void ImageCatalog::remove(const std::string& id, std::function<void(std::optional<schemas::Error>)> done) {
  schemas::ImageEvent event;
  event.type = "deleted";
  event.image_id = id;
  bus_.publish(storage::topics::images, id, schemas::encode(event),
               [id, done = std::move(done)](std::optional<schemas::Error> err) {
                 if (!err) log::info("image_deleted", {{"image_id", id}});
                 done(std::move(err));
               });
}

}  // namespace imgpipe::gateway
