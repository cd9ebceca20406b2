#pragma once
// imgpipe.accounts, key = key id (compacted). Every event carries the
// account's whole state after the change, so the last event per key id is
// enough to rebuild it (contract: schemas/account_event.schema.json).
// The API key itself never travels: only its sha256.

#include <cstdint>
#include <string>
#include <vector>

namespace imgpipe::schemas {

struct Account {
  std::string key_id;     // "key_" + 12 base62; public
  std::string key_hash;   // sha256(api key), lowercase hex
  std::string email;      // lowercased
  std::string name;
  std::string plan;       // a plan name of the operator's tier table
  bool verified = false;
  bool revoked = false;
  int64_t created_at = 0;   // unix seconds
  int64_t verified_at = 0;  // 0 = not verified
  int64_t version = 0;      // +1 per change: an index never goes back to an older state
  std::vector<std::string> abilities{"read", "write"};  // read: GET routes; write: POST, PATCH, DELETE
  bool can(const std::string& ability) const;
};

struct AccountEvent {
  std::string type;  // "created", "verified", "revoked", "plan_changed"
  int64_t at = 0;    // unix seconds
  Account account;   // the state after the event
};

std::string encode(const AccountEvent& event);
// Throws schemas::Error(bad_request) naming the field.
AccountEvent decode_account_event(const std::string& json);
std::string encode_account(const Account& account);
Account decode_account(const std::string& json);

}  // namespace imgpipe::schemas
