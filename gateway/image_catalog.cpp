#include "gateway/image_catalog.h"

#include <algorithm>
#include <atomic>
#include <memory>

#include "gateway/image_ids.h"
#include "schemas/log.h"

namespace imgpipe::gateway {
namespace {

using schemas::Error;
using schemas::ErrorCode;

constexpr auto kApplyDeadline = std::chrono::seconds(10);  // for this gateway's index to show the change

// The cursor is the listing key of the last item shown, hex-encoded: opaque
// to clients, and still a valid place to resume after inserts and deletes.
std::string to_cursor(std::string_view position) {
  static constexpr char digits[] = "0123456789abcdef";
  std::string out;
  for (unsigned char c : position) {
    out += digits[c >> 4];
    out += digits[c & 15];
  }
  return out;
}

std::string from_cursor(const std::string& cursor) {
  auto bad = [] {
    auto e = Error(ErrorCode::invalid_field, "The cursor is not one this API returned.");
    e.extra_json = R"({"details": {"cursor": "use pagination.next_cursor of the previous page"}})";
    return e;
  };
  if (cursor.size() % 2 || cursor.size() < 18 || cursor.size() > 200) throw bad();
  std::string out;
  for (size_t i = 0; i < cursor.size(); i += 2) {
    auto nibble = [&](char c) {
      if (c >= '0' && c <= '9') return c - '0';
      if (c >= 'a' && c <= 'f') return c - 'a' + 10;
      throw bad();
    };
    out += static_cast<char>(nibble(cursor[i]) * 16 + nibble(cursor[i + 1]));
  }
  return out;
}

bool has_label(const schemas::ImageRecord& r, const Label& l) {
  auto it = r.labels.find(l.first);
  return it != r.labels.end() && it->second == l.second;
}

}  // namespace

ImageCatalog::ImageCatalog(const GatewayConfig& config, storage::Bus& bus, storage::ImageIndex& index,
                           ImageEventFollower& events)
    : config_(config), bus_(bus), index_(index), events_(events) {}

ImagePage ImageCatalog::list(const std::string& owner, const ImageQuery& query) {
  return list_page(index_, config_, owner, query);
}

ImagePage list_page(storage::ImageIndex& index_, const GatewayConfig& config_, const std::string& owner,
                    const ImageQuery& query) {
  ImagePage page;
  std::optional<Label> first;
  if (!query.labels.empty()) first = query.labels.front();
  std::string last_position;
  index_.list_owner(owner, first, query.cursor.empty() ? std::string() : from_cursor(query.cursor), [&](const std::string& id, std::string_view position) {
    auto r = index_.get(id);
    if (!r || r->owner != owner || config_.expired(*r)) return true;
    if (!query.ns.empty() && r->ns != query.ns) return true;
    if (!query.tag.empty() && std::find(r->tags.begin(), r->tags.end(), query.tag) == r->tags.end()) return true;
    for (const auto& l : query.labels)
      if (!has_label(*r, l)) return true;
    if (page.images.size() == query.limit) {  // one more match: there is a next page
      page.has_more = true;
      page.next_cursor = to_cursor(last_position);
      return false;
    }
    page.images.push_back(std::move(*r));
    last_position = std::string(position);
    return true;
  });
  return page;
}

std::optional<schemas::ImageRecord> ImageCatalog::get(const std::string& owner, std::string_view id) {
  auto record = plausible_image_id(id) ? index_.get(std::string(id)) : std::nullopt;
  if (!record || record->owner != owner || config_.expired(*record)) return std::nullopt;
  return record;
}

void ImageCatalog::update(const schemas::ImageRecord& record, const std::string& request_id, ChangeDone done) {
  publish(schemas::ImageEvent{"updated", record.id, request_id, record, std::nullopt}, std::move(done));
}

void ImageCatalog::remove(const std::string& id, const std::string& request_id, ChangeDone done) {
  publish(schemas::ImageEvent{"deleted", id, request_id, std::nullopt, std::nullopt}, std::move(done));
}

void ImageCatalog::publish(schemas::ImageEvent event, ChangeDone done) {
  // Whichever comes first answers: the bus's refusal, or the event applied
  // here. A durable event not applied in time still answers success.
  auto once = std::make_shared<std::atomic<bool>>(false);
  auto finish = [once, done = std::move(done)](std::optional<Error> err) {
    if (!once->exchange(true)) done(std::move(err));
  };
  auto id = event.image_id;
  auto type = event.type;
  events_.await(id, std::chrono::steady_clock::now() + kApplyDeadline,
                [finish](const std::optional<schemas::ImageEvent>&) { finish(std::nullopt); }, event.request_id);
  const auto key = schemas::event_key(event);
  bus_.publish(storage::topics::images, key, schemas::encode(event), [id, type, finish](std::optional<Error> err) {
    if (err) return finish(std::move(err));
    log::info(type == "deleted" ? "image_deleted" : "image_updated", {{"image_id", id}});
  });
}

}  // namespace imgpipe::gateway
