#include "gateway/docs/route_docs.h"

namespace imgpipe::gateway::docs {
namespace {

using E = schemas::ErrorCode;
using routes::DELETE;
using routes::GET;
using routes::PATCH;
using routes::POST;

constexpr const char* kIdSchema = R"({"type": "string", "minLength": 1})";

std::vector<RouteDoc> build() {
  return {
      {POST, "/v1/upload", true, "upload", "images", "Upload an image (multipart)",
       "Stores an image sent as the multipart field `file` and answers once it is processed. Anonymous uploads "
       "expire; a key's uploads count against its plan and may carry tags and a namespace.",
       Access::anyone, {},
       {{"multipart/form-data", "UploadRequest"}},
       {{201, "The stored image.", "application/json", "ImageB", false, true}},
       {E::bad_request, E::invalid_field, E::unauthorized, E::quota_exceeded, E::file_too_large,
        E::unsupported_format, E::invalid_image, E::image_too_large, E::rate_limited, E::processing_timeout,
        E::idempotency_key_conflict, E::idempotency_key_in_progress},
       true},
      {POST, "/v1/import", true, "import", "images", "Import an image from a URL",
       "The server fetches a public http(s) URL itself (private and local addresses are refused) and stores the "
       "image like an upload.",
       Access::anyone, {},
       {{"application/json", "ImportRequest"}},
       {{201, "The stored image.", "application/json", "ImageB", false, true}},
       {E::bad_request, E::invalid_field, E::unauthorized, E::quota_exceeded, E::file_too_large,
        E::unsupported_format, E::invalid_image, E::image_too_large, E::import_forbidden, E::import_failed,
        E::import_unreachable, E::import_timeout, E::rate_limited, E::processing_timeout,
        E::idempotency_key_conflict, E::idempotency_key_in_progress},
       true},
      {POST, "/v1/keys", true, "create_key", "keys", "Create an API key",
       "Creates a key for an email address; the secret is shown once. A verification link is mailed: once it "
       "is opened, the key's uploads are kept permanently.",
       Access::anyone, {},
       {{"application/json", "KeyRequest"}},
       {{201, "The new key and its limits.", "application/json", "KeyCreated"}},
       {E::bad_request, E::invalid_field, E::key_limit_reached, E::rate_limited}},
      {GET, "/v1/keys/verify", true, "verify_email", "keys", "Verify a key's email (the mailed link)",
       "Opened in a browser from the verification mail; answers a small HTML page (400 when the link is invalid "
       "or used, 503 when it cannot be saved now).",
       Access::anyone,
       {{"token", "query", true, R"({"type": "string"})", "the token of the mailed link"}},
       {},
       {{200, "The email is verified (HTML page).", "text/html", ""},
        {400, "The link is invalid, used, or its key revoked (HTML page).", "text/html", ""},
        {503, "Try again shortly (HTML page).", "text/html", ""}},
       {}},
      {POST, "/v1/images", true, "create_image", "images", "Create an image (upload or URL)",
       "Shape C. Multipart with the field `file` (plus `caption`, `labels`, `metadata`, `public`, `ttl`), or JSON "
       "with a public http(s) `url` the server fetches itself (private and local addresses are refused). Answers "
       "once the original is stored. Anonymous callers may create (always public, the anonymous tier's expiry).",
       Access::anyone, {},
       {{"multipart/form-data", "ImageCreateMultipart"}, {"application/json", "ImageCreateJson"}},
       {{201, "The stored image.", "application/json", "Image"}},
       {E::bad_request, E::invalid_field, E::unauthorized, E::forbidden, E::quota_exceeded, E::file_too_large,
        E::unsupported_format, E::invalid_image, E::image_too_large, E::import_forbidden, E::fetch_failed,
        E::fetch_timeout, E::rate_limited, E::processing_timeout,
        E::insufficient_storage, E::idempotency_key_conflict, E::idempotency_key_in_progress},
       true},
      {GET, "/v1/images", true, "list_images", "images", "List your images",
       "Shape C. The key's images, newest first, a page at a time: pass `pagination.next_cursor` as `cursor` for "
       "the next page (stable while images are added or deleted). `label[KEY]=VALUE` filters (all must match); "
       "`ids` looks up at most 50 ids at once (unknown ids are left out, no paging).",
       Access::key_read,
       {{"limit", "query", false, R"({"type": "integer", "minimum": 1, "maximum": 100})", "page size, 50 by default"},
        {"cursor", "query", false, R"({"type": "string", "pattern": "^(([0-9a-f]{2}){9,100})?$"})",
         "the previous page's pagination.next_cursor"},
        {"ids", "query", false, R"({"type": "string", "pattern": "^[^,]*(,[^,]*){0,49}$"})",
         "comma-separated image ids, at most 50"},
        {"namespace", "query", false, R"({"type": "string"})", "only images in this namespace"},
        {"tag", "query", false, R"({"type": "string"})", "only images with this tag"}},
       {},
       {{200, "A page of images.", "application/json", "ImageList"}},
       {E::unauthorized, E::forbidden, E::invalid_field}},
      {DELETE, "/v1/images/batch", true, "delete_images", "images", "Delete up to 100 of your images",
       "Idempotent: an id already gone (or never yours) counts as deleted.",
       Access::key_write, {},
       {{"application/json", "BatchDeleteRequest"}},
       {{200, "What was deleted, and what failed.", "application/json", "BatchResult"}},
       {E::bad_request, E::invalid_field, E::unauthorized, E::forbidden}},
      {GET, "/v1/images/{id}", true, "get_image", "images", "Get one of your images", "",
       Access::key_read,
       {{"id", "path", true, kIdSchema, "the image id"}},
       {},
       {{200, "The image.", "application/json", "Image"}},
       {E::unauthorized, E::forbidden, E::not_found}},
      {PATCH, "/v1/images/{id}", true, "update_image", "images", "Update one of your images",
       "Changes only the fields sent; `null` clears caption, labels or metadata. Only a `ready` image can be "
       "updated (409 `image_not_ready` while it is processing or after it failed).",
       Access::key_write,
       {{"id", "path", true, kIdSchema, "the image id"}},
       {{"application/json", "ImageUpdate"}},
       {{200, "The updated image.", "application/json", "Image"}},
       {E::bad_request, E::invalid_field, E::unauthorized, E::forbidden, E::not_found, E::image_not_ready}},
      {DELETE, "/v1/images/{id}", true, "delete_image", "images", "Delete one of your images",
       "Removes the image and all its sizes and formats, on every gateway.",
       Access::key_write,
       {{"id", "path", true, kIdSchema, "the image id"}},
       {},
       {{200, "The image is deleted.", "application/json", "ImageDeleted"}},
       {E::unauthorized, E::forbidden, E::not_found}},
      {GET, "/v1/usage", true, "get_usage", "images", "Your plan, limits and usage", "",
       Access::key_read, {}, {},
       {{200, "The usage.", "application/json", "Usage"}},
       {E::unauthorized, E::forbidden}},
      {GET, "/{prefix}/{id}.{ext}", true, "image_file", "files", "The image file, in a size and format",
       "The `src` URL of an image. The extension picks the format (jpg, jpeg, png, webp, avif or the original's); "
       "`size` picks a smaller rendition (short edge 320, 640 or 1080, never upscaled) or `social`, a 1200x630 "
       "link-preview card with the picture contained and centred on white; `w`/`h` with `fit` (scale-down, the "
       "default, never enlarges; crop; cover; pad) fit it to a box and win over `size`; `brightness`, `contrast`, "
       "`gamma`, `saturation` (multipliers, 1 changes nothing), `blur` and `sharp` adjust it; `format` overrides "
       "the extension. An invalid transform value is ignored, as on img.pro. Sizes and formats are stored once "
       "made; a rendition with `w`/`h` or adjustments is kept in memory only. `download=1` asks the browser "
       "to save it. Answers carry a strong ETag, are immutable and name the file in Content-Disposition "
       "(the image's name, cleaned).",
       Access::anyone,
       {{"prefix", "path", true, R"({"type": "string"})", "the id's storage prefix, as in `src`"},
        {"id", "path", true, kIdSchema, "the image id"},
        {"ext", "path", true, R"({"type": "string", "enum": ["jpg", "jpeg", "png", "webp", "avif", "gif", "heic"]})",
         "the format"},
        {"size", "query", false, R"({"type": "string", "enum": ["s", "m", "l", "social"]})",
         "s, m or l (short edge 320, 640, 1080), or social (a 1200x630 card); another value is 400"},
        {"format", "query", false, R"({"type": "string", "enum": ["jpg", "jpeg", "png", "webp", "avif", "gif"]})",
         "overrides the extension; a value the image cannot be served in is ignored"},
        {"w", "query", false, R"({"type": "integer", "minimum": 1, "maximum": 4096})",
         "width of the box to fit in (px); another value is ignored"},
        {"h", "query", false, R"({"type": "integer", "minimum": 1, "maximum": 4096})",
         "height of the box to fit in (px); another value is ignored"},
        {"fit", "query", false, R"({"type": "string", "enum": ["scale-down", "crop", "cover", "pad"]})",
         "scale-down (default): within the box, never enlarged; crop: fills the box, cut, never enlarged; cover: "
         "fills the box, cut, may enlarge; pad: within the box, may enlarge, padded with white to it"},
        {"brightness", "query", false, R"({"type": "number", "minimum": 0, "maximum": 10})",
         "multiplies every colour channel (0 black, 1 unchanged)"},
        {"contrast", "query", false, R"({"type": "number", "minimum": 0, "maximum": 10})",
         "multiplies the distance from mid-grey (0 flat grey, 1 unchanged)"},
        {"gamma", "query", false, R"({"type": "number", "minimum": 0, "maximum": 10})",
         "above 1 lightens the midtones, below 1 darkens them (1 or 0 unchanged)"},
        {"saturation", "query", false, R"({"type": "number", "minimum": 0, "maximum": 10})",
         "multiplies colourfulness (0 grey, 1 unchanged)"},
        {"blur", "query", false, R"({"type": "number", "minimum": 0, "maximum": 250})",
         "Gaussian blur radius in px (0 none)"},
        {"sharp", "query", false, R"({"type": "number", "minimum": 0, "maximum": 10})", "sharpening strength (0 none)"},
        {"download", "query", false, R"({"type": "string", "enum": ["1"]})",
         "1: Content-Disposition attachment (save as a file) instead of inline"},
        {"If-None-Match", "header", false, R"({"type": "string"})", "an ETag seen before: 304 when unchanged"}},
       {},
       {{200, "The image bytes.", "image/*", "binary", true},
        {304, "Not modified (If-None-Match matched).", "", "", true}},
       {E::bad_request, E::not_found, E::processing_timeout, E::service_unavailable}},
      {GET, "/", false, "upload_page", "pages", "The upload page (HTML)", "", Access::anyone, {}, {},
       {{200, "The page.", "text/html", ""}}, {}},
      {GET, "/{id}", true, "viewer", "pages", "The viewer page of an image (HTML)",
       "The `url` of an image: a page with the image and its Open Graph tags.", Access::anyone,
       {{"id", "path", true, kIdSchema, "the image id"}},
       {},
       {{200, "The page.", "text/html", ""}},
       {E::not_found}},
      {GET, "/keys", false, "keys_page", "pages", "Get a key (HTML)", "", Access::anyone, {}, {},
       {{200, "The page.", "text/html", ""}}, {}},
      {GET, "/plans", false, "plans_page", "pages", "The plans of this instance (HTML)", "", Access::anyone, {}, {},
       {{200, "The page.", "text/html", ""}}, {}},
      {GET, "/assets/{version}/{file}", false, "asset", "pages", "A page's CSS or JavaScript", "", Access::anyone, {},
       {}, {}, {}},
      {GET, "/openapi.json", true, "openapi", "documentation", "This OpenAPI 3.1 document",
       "Generated from the route table, the error table and the body schemas.", Access::anyone, {}, {},
       {{200, "The document.", "application/json", ""}}, {}},
      {GET, "/llms.txt", true, "llms_txt", "documentation", "An overview for agents (llmstxt.org)", "",
       Access::anyone, {}, {}, {{200, "Plain text.", "text/plain", ""}}, {}},
      {GET, "/llms-full.txt", true, "llms_full_txt", "documentation", "The complete reference in plain text", "",
       Access::anyone, {}, {}, {{200, "Plain text.", "text/plain", ""}}, {}},
      {GET, "/docs", true, "docs", "documentation", "Docs: quick start (HTML)", "", Access::anyone, {}, {},
       {{200, "The page.", "text/html", ""}}, {}},
      {GET, "/docs/api", true, "docs_api", "documentation", "Docs: API reference (HTML)", "", Access::anyone, {}, {},
       {{200, "The page.", "text/html", ""}}, {}},
      {GET, "/docs/errors", true, "docs_errors", "documentation", "Docs: error reference (HTML)", "", Access::anyone, {}, {},
       {{200, "The page.", "text/html", ""}}, {}},
      {GET, "/docs/keys", true, "docs_keys", "documentation", "Docs: authentication and keys (HTML)", "", Access::anyone, {}, {},
       {{200, "The page.", "text/html", ""}}, {}},
      {GET, "/docs/formats", true, "docs_formats", "documentation", "Docs: sizes and formats (HTML)", "", Access::anyone, {}, {},
       {{200, "The page.", "text/html", ""}}, {}},
      {GET, "/docs/agents", true, "docs_agents", "documentation", "Docs: agents (HTML)", "", Access::anyone, {}, {},
       {{200, "The page.", "text/html", ""}}, {}},
      // JSON-RPC, not REST: described on /docs/agents and in llms-full.txt rather than as an OpenAPI operation.
      {POST, "/mcp", false, "mcp", "agents", "Model Context Protocol (Streamable HTTP, JSON-RPC 2.0)",
       "One JSON-RPC message per POST, answered as JSON: initialize or server/discover, tools/list, tools/call.",
       Access::anyone, {}, {{"application/json", ""}}, {{200, "A JSON-RPC response.", "application/json", ""}},
       {E::file_too_large}},
      {GET, "/healthz", true, "healthz", "operations", "Liveness", "", Access::anyone, {}, {},
       {{200, "The process is up.", "application/json", "Status"}}, {}},
      {GET, "/readyz", true, "readyz", "operations", "Readiness",
       "Ready once the image index has caught up with the images topic.", Access::anyone, {}, {},
       {{200, "Ready.", "application/json", "Status"}, {503, "Still catching up.", "application/json", "Status"}},
       {}},
      {GET, "/metrics", false, "metrics", "operations", "Prometheus metrics", "", Access::anyone, {}, {},
       {{200, "Metrics.", "text/plain", ""}}, {}},
      {GET, "/admin/keys", false, "admin_list_keys", "admin", "List keys (loopback admin)", "", Access::anyone, {},
       {}, {}, {}},
      {POST, "/admin/keys/{key_id}/plan", false, "admin_set_plan", "admin", "Set a key's plan (loopback admin)", "",
       Access::anyone, {}, {}, {}, {}},
      {POST, "/admin/keys/{key_id}/revoke", false, "admin_revoke", "admin", "Revoke a key (loopback admin)", "",
       Access::anyone, {}, {}, {}, {}},
      {POST, "/admin/backup", false, "admin_backup", "admin", "Write a checkpoint for `imgpipe backup` (loopback admin)",
       "", Access::anyone, {}, {}, {}, {}},
  };
}

}  // namespace

const std::vector<schemas::ErrorCode>& common_errors() {
  static const std::vector<schemas::ErrorCode> codes = {E::headers_too_large, E::internal_error,
                                                        E::service_unavailable};
  return codes;
}

const std::vector<RouteDoc>& route_docs() {
  static const std::vector<RouteDoc> docs = build();
  return docs;
}

const RouteDoc* find_route_doc(routes::Method method, std::string_view path) {
  for (const auto& d : route_docs())
    if (d.method == method && path == d.path) return &d;
  return nullptr;
}

}  // namespace imgpipe::gateway::docs
