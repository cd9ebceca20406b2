#pragma once
// Every handler of the route table, by family; one .cpp per family. Each is
// a plain function of (services, call): GoogleTest calls them without a
// socket (tests/gateway/routes/).

#include "gateway/routes/route.h"
#include "gateway/routes/services.h"

namespace imgpipe::gateway::routes {

// upload_routes.cpp: POST /v1/upload (multipart, streamed: the plan is the
// handler, the sink answers), POST /v1/import (JSON).
BodyPlan plan_upload(Services& s, const Request& head, const ErrorStyle& errors);
void import_url(Services& s, const Call& call);

// src_routes.cpp: GET /{prefix}/{id}.{ext}[?size=s|m|l].
void serve_src(Services& s, const Call& call);

// page_routes.cpp: GET / (the upload page), GET /{id} (the viewer).
void upload_page(Services& s, const Call& call);
void viewer(Services& s, const Call& call);

// key_routes.cpp: POST /v1/keys, GET /v1/keys/verify (the link in the email; HTML).
void create_key(Services& s, const Call& call);
void verify_email(Services& s, const Call& call);

// image_create_routes.cpp: POST /v1/images (shape C): multipart streamed
// by the plan, JSON ({"url"}) by the handler.
BodyPlan plan_create_image(Services& s, const Request& head, const ErrorStyle& errors);
void create_image(Services& s, const Call& call);

// image_routes.cpp: a key's own images (shape C). GET /v1/images, GET, PATCH
// and DELETE /v1/images/{id}, DELETE /v1/images/batch, GET /v1/usage.
void list_images(Services& s, const Call& call);
void get_image(Services& s, const Call& call);
void update_image(Services& s, const Call& call);
void delete_image(Services& s, const Call& call);
void delete_images_batch(Services& s, const Call& call);
void get_usage(Services& s, const Call& call);
// The caller's key when it has `ability` ("read", "write"): 401 without a
// key, 403 forbidden without the ability.
accounts::Caller key_with(Services& s, const Request& request, const char* ability);

// admin_routes.cpp: the loopback admin API `imgpipe keys` calls.
void admin_list_keys(Services& s, const Call& call);
void admin_set_plan(Services& s, const Call& call);
void admin_revoke(Services& s, const Call& call);

// health_routes.cpp: GET /healthz, /readyz, /metrics.
void healthz(Services& s, const Call& call);
void readyz(Services& s, const Call& call);
void serve_metrics(Services& s, const Call& call);

}  // namespace imgpipe::gateway::routes
