// API keys: POST /v1/keys creates one (the secret is shown once) and mails
// the verification link; GET /v1/keys/verify is that link, opened in a
// browser, so it answers with small HTML pages. The rules are in accounts/.
#include <algorithm>

#include <nlohmann/json.hpp>

#include "gateway/pages/pages.h"
#include "gateway/routes/handlers.h"
#include "schemas/text_rules.h"
#include "schemas/untrusted_json.h"

namespace imgpipe::gateway::routes {
namespace {

using json = nlohmann::json;
using schemas::Error;
using schemas::ErrorCode;

// The link is opened in a browser: each outcome is a page that says what
// happened and what to do next (gateway/pages/).
Response page(const GatewayConfig& config, int status, const std::string& title, const std::string& text,
              bool get_new_key = false) {
  auto r = pages::page_response(config, status,
                                pages::message_page(title, text, get_new_key ? "Get a new key" : "Upload images",
                                                    get_new_key ? "/keys" : "/"));
  return r;
}

Response verify_page(const GatewayConfig& config, const accounts::VerifyOutcome& outcome) {
  using R = accounts::VerifyResult;
  const std::string bad = "This link does not work";
  switch (outcome.result) {
    case R::verified:
      return page(config, 200, "Email verified",
                  "Your keys are verified: everything uploaded with them, before and from now on, is kept "
                  "permanently.");
    case R::invalid_link:
      return page(config, 400, bad, outcome.detail + " Create a new key to get a fresh link.", true);
    case R::unknown_key: return page(config, 400, bad, "The key this link was made for does not exist.", true);
    case R::revoked: return page(config, 400, bad, "The key was revoked.", true);
    case R::already_verified:
      return page(config, 400, "This link was already used",
                  "The email address is already verified: nothing more to do.");
    case R::busy: return page(config, 503, "Please try again", "The server is busy; open the link again shortly.");
    case R::failed: break;
  }
  return page(config, 503, "Please try again", "The verification could not be saved; open the link again shortly.");
}

}  // namespace

void create_key(Services& s, const Call& call) {
  auto body = schemas::parse_untrusted_json(call.request.body);
  if (body.is_discarded() || !body.is_object())
    throw Error(ErrorCode::bad_request, "The body must be a JSON object like {\"email\": \"you@example.com\"}.");
  auto email_field = body.find("email");
  if (email_field == body.end() || !email_field->is_string())
    throw Error(ErrorCode::invalid_field, "The field 'email' is required.");
  auto email = accounts::normalise_email(email_field->get<std::string>());
  std::string name;
  if (auto n = body.find("name"); n != body.end() && !n->is_null()) {
    if (!n->is_string() || n->get<std::string>().size() > 100)
      throw Error(ErrorCode::invalid_field, "The field 'name' must be a string of at most 100 characters.");
    name = schemas::clean_text(n->get<std::string>(), 100);
  }
  std::vector<std::string> abilities{"read", "write"};
  if (auto a = body.find("abilities"); a != body.end() && !a->is_null()) {
    auto bad = Error(ErrorCode::invalid_field, "The field 'abilities' must be a non-empty list of \"read\" and \"write\".");
    bad.extra_json = json{{"details", {{"abilities", "a non-empty list of \"read\" and \"write\""}}}}.dump();
    if (!a->is_array() || a->empty()) throw bad;
    abilities.clear();
    for (const auto& x : *a) {
      if (!x.is_string() || (x != "read" && x != "write")) throw bad;
      if (std::find(abilities.begin(), abilities.end(), x.get<std::string>()) == abilities.end())
        abilities.push_back(x.get<std::string>());
    }
  }
  const auto& tiers = s.accounts.config().tiers;
  s.accounts.create_key(email, name, s.accounts.client_ip(call.request),
                        [&tiers, respond = call.respond, errors = call.errors](accounts::KeyOutcome outcome) {
                          if (auto* err = std::get_if<Error>(&outcome)) return respond(error_response(*err, errors));
                          const auto& created = std::get<accounts::CreatedKey>(outcome);
                          const auto& plan = tiers.plan(created.account.plan);
                          json body = {{"key", created.key},
                                       {"key_id", created.account.key_id},
                                       {"status", "active"},
                                       {"verified", false},
                                       {"abilities", created.account.abilities},
                                       {"limits",
                                        {{"uploads", plan.uploads_per_month},
                                         {"storage_mb", plan.storage_bytes >> 20},
                                         {"retention_days", tiers.unverified_retention_days}}},
                                       {"message", "Key active. Check your email to verify and unlock permanent storage."}};
                          auto r = Response::json(201, body.dump());
                          r.set("Cache-Control", "no-store");
                          respond(std::move(r));
                        },
                        std::move(abilities));
}

void verify_email(Services& s, const Call& call) {
  s.accounts.verify_email(call.request.query_param("token").value_or(""),
                          [&config = s.config, respond = call.respond](accounts::VerifyOutcome outcome) {
                            respond(verify_page(config, outcome));
                          });
}

}  // namespace imgpipe::gateway::routes
