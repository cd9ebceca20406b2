// HTML pages (gateway/pages/): the upload page at /, the key page, the
// plans, the viewer at /{id} (Open Graph tags for sharing) and the pages'
// embedded scripts and styles.
#include "gateway/image_ids.h"
#include "gateway/pages/assets.h"
#include "gateway/pages/pages.h"
#include "gateway/routes/handlers.h"
#include "gateway/viewer_page.h"

namespace imgpipe::gateway::routes {

using schemas::Error;
using schemas::ErrorCode;

void upload_page(Services& s, const Call& call) {
  call.respond(pages::page_response(s.config, 200, pages::upload_page(s.config, s.accounts.config().tiers)));
}

void keys_page(Services& s, const Call& call) {
  call.respond(pages::page_response(s.config, 200, pages::keys_page(s.config, s.accounts.config().tiers)));
}

void plans_page(Services& s, const Call& call) {
  call.respond(pages::page_response(s.config, 200, pages::plans_page(s.accounts.config().tiers)));
}

void viewer(Services& s, const Call& call) {
  auto id = call.params.get("id");
  auto record = plausible_image_id(id) ? s.index.get(std::string(id)) : std::nullopt;
  // public:false (the images API) hides the page; the image URL still works.
  // A processing or failed image has no page yet, like an unknown id.
  if (!record || !record->ready() || s.config.expired(*record) || !record->is_public)
    throw Error(ErrorCode::not_found, "No image with this id.");
  auto r = pages::page_response(s.config, 200, viewer_page(s.config, *record));
  r.set("Cache-Control", "public, max-age=300");
  call.respond(std::move(r));
}

void serve_asset(Services&, const Call& call) {
  const auto* asset = pages::find_asset(call.params.get("file"));
  if (!asset) throw Error(ErrorCode::not_found, "No such file.");
  auto etag = "\"" + asset->version + "\"";
  // The path's version is the ETag: a page links the bytes it was built
  // with, so those never change. An old version gets today's bytes, briefly cached.
  bool current = call.params.get("version") == asset->version;
  Response r;
  if (call.request.header("If-None-Match") == etag) {
    r.status = 304;
  } else {
    r.body = std::string(asset->bytes);
    r.set("Content-Type", asset->content_type);
  }
  r.set("ETag", etag);
  r.set("Cache-Control", current ? "public, max-age=31536000, immutable" : "public, max-age=300");
  r.set("X-Content-Type-Options", "nosniff");
  call.respond(std::move(r));
}

}  // namespace imgpipe::gateway::routes
