// Documentation for agents and integrators, generated (gateway/docs/):
// GET /openapi.json, /llms.txt, /llms-full.txt and the /docs pages.
#include "gateway/docs/openapi.h"
#include "gateway/docs/reference.h"
#include "gateway/pages/pages.h"
#include "gateway/routes/handlers.h"

namespace imgpipe::gateway::routes {
namespace {

Response public_doc(Response r) {
  r.set("Cache-Control", "public, max-age=300");
  r.set("X-Content-Type-Options", "nosniff");
  return r;
}

}  // namespace

void serve_openapi(Services& s, const Call& call) {
  // Built once: the table and the public URL do not change while serving.
  static const std::string body = docs::openapi_document(s.config.public_url).dump(2);
  auto r = public_doc(Response::json(200, body));
  r.set("Access-Control-Allow-Origin", "*");  // readable by browser-based tools
  call.respond(std::move(r));
}

void serve_llms(Services& s, const Call& call) {
  const auto& tiers = s.accounts.config().tiers;
  bool full = call.request.path == "/llms-full.txt";
  auto r = public_doc(Response::json(200, full ? docs::llms_full_txt(s.config.public_url, tiers)
                                               : docs::llms_txt(s.config.public_url, tiers)));
  r.set("Content-Type", "text/plain; charset=utf-8");
  call.respond(std::move(r));
}

void serve_docs(Services& s, const Call& call) {
  std::string_view path = call.request.path;
  std::string_view slug = path.size() > 6 ? path.substr(6) : "";  // "/docs/<slug>"
  auto page = docs::docs_html(slug, s.config.public_url, s.accounts.config().tiers);
  if (!page) throw schemas::Error(schemas::ErrorCode::not_found);
  // The site's layout and headers (CSP, no framing), cached like the other docs.
  auto r = public_doc(pages::page_response(s.config, 200, pages::layout(page->title, page->main_html)));
  call.respond(std::move(r));
}

}  // namespace imgpipe::gateway::routes
