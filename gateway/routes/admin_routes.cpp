// The loopback admin API that `imgpipe keys` calls: list keys with their
// usage, change a key's plan, revoke a key. Only a loopback peer bearing
// <data-dir>/admin.token gets past check_admin(); anyone else sees 404.
#include <nlohmann/json.hpp>

#include "gateway/admin_backup.h"
#include "gateway/routes/handlers.h"
#include "schemas/untrusted_json.h"

namespace imgpipe::gateway::routes {
namespace {

using json = nlohmann::json;

json account_view(const schemas::Account& a) {
  return {{"key_id", a.key_id},     {"email", a.email},         {"name", a.name},
          {"plan", a.plan},         {"verified", a.verified},   {"revoked", a.revoked},
          {"created_at", a.created_at}, {"verified_at", a.verified_at}};
}

// Answers with the changed account, or the bus's error.
std::function<void(accounts::AccountOutcome)> answer(const Call& call) {
  return [respond = call.respond, errors = call.errors](accounts::AccountOutcome outcome) {
    if (auto* err = std::get_if<schemas::Error>(&outcome)) return respond(error_response(*err, errors));
    respond(Response::json(200, account_view(std::get<schemas::Account>(outcome)).dump()));
  };
}

}  // namespace

void admin_list_keys(Services& s, const Call& call) {
  s.accounts.check_admin(call.request);
  json list = json::array();
  for (const auto& a : s.accounts.store().all()) {
    auto view = account_view(a);
    view["usage"] = json::parse(s.accounts.usage_json(a));
    list.push_back(view);
  }
  call.respond(Response::json(200, json{{"keys", list}}.dump()));
}

void admin_set_plan(Services& s, const Call& call) {
  s.accounts.check_admin(call.request);
  auto body = schemas::parse_untrusted_json(call.request.body);
  std::string plan;  // anything but a string names no plan: 422 with the list
  if (auto p = body.is_object() ? body.find("plan") : body.end(); p != body.end() && p->is_string())
    plan = p->get<std::string>();
  s.accounts.set_plan(std::string(call.params.get("key_id")), plan, answer(call));
}

void admin_revoke(Services& s, const Call& call) {
  s.accounts.check_admin(call.request);
  s.accounts.revoke(std::string(call.params.get("key_id")), answer(call));
}

// The running server's half of `imgpipe backup` (gateway/admin_backup.h): a
// checkpoint flushes and links files, so it runs off the I/O thread.
void admin_backup_route(Services& s, const Call& call) {
  s.accounts.check_admin(call.request);
  // The request is copied: `call` refers to the transport's, which ends with this handler.
  s.accounts.run_admin_task([&s, request = call.request, respond = call.respond, errors = call.errors] {
    try {
      respond(admin_backup(request, s.index.db(), s.blobs));
    } catch (...) {
      respond(error_response(std::current_exception(), errors, request.request_id));
    }
  });
}

}  // namespace imgpipe::gateway::routes
