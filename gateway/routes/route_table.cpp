#include "gateway/routes/route_table.h"

#include "gateway/routes/handlers.h"

namespace imgpipe::gateway::routes {

// Adding a route: a row here and a handler in the family's file. Literal
// paths win over patterns; no two rows of a tier may overlap on a method
// (tests/gateway/routes/route_table_test.cpp walks this table).
std::vector<Route> route_table() {
  using F = ApiFamily;
  constexpr BodyRule small{};                   // GET and small JSON bodies: 16 KB at most
  constexpr BodyRule upload{0, &plan_upload};  // streamed; the plan sets the caller's limit
  constexpr BodyRule create{kImageFieldsJsonLimit, &plan_create_image};  // multipart streamed, JSON read whole
  constexpr BodyRule fields{kImageFieldsJsonLimit};  // an image's fields as JSON
  constexpr BodyRule mcp{0, &plan_mcp};        // read whole up to the caller's limit (base64 uploads)
  return {
      // methods     path                        body    handler           metric label              family
      {POST,   "/v1/upload",                     upload, nullptr,          "/v1/upload",             F::shape_b},
      {POST,   "/v1/import",                     small,  import_url,       "/v1/import",             F::shape_b},
      {POST,   "/v1/keys",                       small,  create_key,       "/v1/keys",               F::shape_b},
      {GET,    "/v1/keys/verify",                small,  verify_email,     "/v1/keys/verify",        F::shape_b},
      {GET,    "/v1/images",                     small,  list_images,      "/v1/images",             F::shape_c},
      {POST,   "/v1/images",                     create, create_image,     "/v1/images",             F::shape_c},
      {DELETE, "/v1/images/batch",               small,  delete_images_batch, "/v1/images/batch",    F::shape_c},
      {GET,    "/v1/images/{id}",                small,  get_image,        "/v1/images/{id}",        F::shape_c},
      {PATCH,  "/v1/images/{id}",                fields, update_image,     "/v1/images/{id}",        F::shape_c},
      {DELETE, "/v1/images/{id}",                small,  delete_image,     "/v1/images/{id}",        F::shape_c},
      {GET,    "/v1/usage",                      small,  get_usage,        "/v1/usage",              F::shape_c},
      {GET,    "/{prefix}/{id}.{ext}",           small,  serve_src,        "src",                    F::shape_b},
      {GET,    "/",                              small,  upload_page,      "/",                      F::pages},
      {GET,    "/{id}",                          small,  viewer,           "viewer",                 F::pages},
      {GET,    "/keys",                          small,  keys_page,        "/keys",                  F::pages},
      {GET,    "/plans",                         small,  plans_page,       "/plans",                 F::pages},
      {GET,    "/assets/{version}/{file}",       small,  serve_asset,      "/assets",                F::pages},
      {GET,    "/openapi.json",                  small,  serve_openapi,    "/openapi.json",          F::operations},
      {GET,    "/llms.txt",                       small,  serve_llms,       "/llms.txt",              F::pages},
      {GET,    "/llms-full.txt",                  small,  serve_llms,       "/llms-full.txt",         F::pages},
      {GET,    "/docs",                           small,  serve_docs,       "/docs",                  F::pages},
      {GET,    "/docs/api",                       small,  serve_docs,       "/docs/api",              F::pages},
      {GET,    "/docs/errors",                    small,  serve_docs,       "/docs/errors",           F::pages},
      {GET,    "/docs/keys",                      small,  serve_docs,       "/docs/keys",             F::pages},
      {GET,    "/docs/formats",                   small,  serve_docs,       "/docs/formats",          F::pages},
      {GET,    "/docs/agents",                    small,  serve_docs,       "/docs/agents",           F::pages},
      {POST,   "/mcp",                           mcp,    mcp_endpoint,     "/mcp",                   F::operations},
      {GET,    "/healthz",                       small,  healthz,          "/healthz",               F::operations},
      {GET,    "/readyz",                        small,  readyz,           "/readyz",                F::operations},
      {GET,    "/metrics",                       small,  serve_metrics,    "/metrics",               F::operations},
      {GET,    "/admin/keys",                    small,  admin_list_keys,  "/admin/keys",            F::operations},
      {POST,   "/admin/keys/{key_id}/plan",      small,  admin_set_plan,   "/admin/keys/{id}/plan",  F::operations},
      {POST,   "/admin/keys/{key_id}/revoke",    small,  admin_revoke,     "/admin/keys/{id}/revoke", F::operations},
      {POST,   "/admin/backup",                  small,  admin_backup_route, "/admin/backup",        F::operations},
  };
}

}  // namespace imgpipe::gateway::routes
