// HTML pages: the upload form at / and the viewer at /{id} (Open Graph tags
// for sharing). The pages themselves are built in gateway/viewer_page.cpp.
#include "gateway/image_ids.h"
#include "gateway/routes/handlers.h"
#include "gateway/viewer_page.h"

namespace imgpipe::gateway::routes {

using schemas::Error;
using schemas::ErrorCode;

void upload_page(Services& s, const Call& call) { call.respond(Response::html(200, gateway::upload_page(s.config))); }

void viewer(Services& s, const Call& call) {
  auto id = call.params.get("id");
  auto record = plausible_image_id(id) ? s.index.get(std::string(id)) : std::nullopt;
  // public:false (the images API) hides the page; the image URL still works.
  if (!record || s.config.expired(*record) || !record->is_public)
    throw Error(ErrorCode::not_found, "No image with this id.");
  auto r = Response::html(200, viewer_page(s.config, *record));
  r.set("Cache-Control", "public, max-age=300");
  r.set("X-Content-Type-Options", "nosniff");
  r.set("Content-Security-Policy", "default-src 'none'; img-src *; style-src 'unsafe-inline'");
  call.respond(std::move(r));
}

}  // namespace imgpipe::gateway::routes
