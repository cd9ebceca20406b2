#include "schemas/account_event.h"

#include <nlohmann/json.hpp>

#include "schemas/errors.h"
#include "schemas/json_fields.h"
#include "schemas/messages.h"

namespace imgpipe::schemas {
namespace {

using json = nlohmann::json;

using json_fields::bad;
using json_fields::field;
using json_fields::optional_field;

json account_json(const Account& a) {
  return {{"key_id", a.key_id},     {"key_hash", a.key_hash},   {"email", a.email},
          {"name", a.name},         {"plan", a.plan},           {"verified", a.verified},
          {"revoked", a.revoked},   {"created_at", a.created_at}, {"verified_at", a.verified_at}, {"version", a.version},
          {"abilities", a.abilities}};
}

Account account_from(const json& j) {
  if (!j.is_object()) bad("'account' must be an object");
  Account a;
  a.key_id = field<std::string>(j, "key_id");
  a.key_hash = field<std::string>(j, "key_hash");
  a.email = field<std::string>(j, "email");
  a.name = optional_field<std::string>(j, "name", "");
  a.plan = field<std::string>(j, "plan");
  a.verified = field<bool>(j, "verified");
  a.revoked = field<bool>(j, "revoked");
  a.created_at = field<int64_t>(j, "created_at");
  a.verified_at = optional_field<int64_t>(j, "verified_at", 0);
  a.version = optional_field<int64_t>(j, "version", 0);
  // Keys made before abilities existed may do both.
  if (auto ab = j.find("abilities"); ab != j.end() && !ab->is_null()) {
    if (!ab->is_array()) bad("'abilities' must be a list");
    a.abilities.clear();
    for (const auto& x : *ab) {
      if (!x.is_string() || (x != "read" && x != "write")) bad("'abilities' holds only \"read\" and \"write\"");
      a.abilities.push_back(x.get<std::string>());
    }
  }
  if (a.key_id.empty()) bad("'key_id' is empty");
  if (a.key_hash.size() != 64) bad("'key_hash' must be 64 hex characters");
  return a;
}

}  // namespace

bool Account::can(const std::string& ability) const {
  for (const auto& a : abilities)
    if (a == ability) return true;
  return false;
}

std::string encode(const AccountEvent& e) {
  return json{{"type", e.type}, {"v", kSchemaVersion}, {"at", e.at}, {"account", account_json(e.account)}}.dump();
}

AccountEvent decode_account_event(const std::string& text) {
  auto j = json_fields::parse_object(text);
  if (optional_field<int>(j, "v", kSchemaVersion) != kSchemaVersion) bad("unsupported schema version");
  AccountEvent e;
  e.type = field<std::string>(j, "type");
  if (e.type != "created" && e.type != "verified" && e.type != "revoked" && e.type != "plan_changed")
    bad("unknown type '" + e.type + "'");
  e.at = field<int64_t>(j, "at");
  auto it = j.find("account");
  if (it == j.end()) bad("missing field 'account'");
  e.account = account_from(*it);
  return e;
}

std::string encode_account(const Account& a) { return account_json(a).dump(); }
Account decode_account(const std::string& text) { return account_from(json_fields::parse_object(text)); }

}  // namespace imgpipe::schemas
