#pragma once
// Accounts: identity and limits. Who a caller is, API keys and their email
// verification, the tier limits checked before a body is read, usage. No
// routes: the handlers in gateway/routes/ call these.
//
//   authenticate()  Authorization: Bearer img_live_... -> the key's account (401 otherwise)
//   admit()         rate limits (anonymous, per client IP) or the key's monthly
//                   and storage quotas; reserves one unit, released by the
//                   Admission's destructor unless the upload counted
//   create_key(), verify_email()   POST /v1/keys and the link in the email
//   check_admin(), set_plan(), revoke()   the loopback admin API
//
// Expired images and unreferenced blobs: gateway/retention.h.
// Design and operator guide: docs/accounts.md.

#include <atomic>
#include <functional>
#include <map>
#include <memory>
#include <mutex>
#include <optional>
#include <string>
#include <variant>

#include "gateway/accounts/account_store.h"
#include "gateway/accounts/client_ip.h"
#include "gateway/accounts/clock.h"
#include "gateway/accounts/mailer.h"
#include "gateway/accounts/plans.h"
#include "gateway/accounts/rate_limiter.h"
#include "gateway/accounts/usage_ledger.h"
#include "gateway/gateway_config.h"
#include "gateway/http/http_types.h"
#include "storage/bus.h"
#include "storage/db.h"
#include "storage/image_index.h"
#include "workers/task_pool.h"

namespace imgpipe::gateway::accounts {

struct AccountsConfig {
  TierConfig tiers = default_tiers();      // --plans-file
  TrustedProxies proxies;                  // --trusted-proxy CIDR (repeatable)
  std::string token_secret;                // --token-secret / <data-dir>/token.secret
  std::string admin_token;                 // <data-dir>/admin.token
  MailConfig mail;                         // --smtp-url, --smtp-from; outbox in <data-dir>/outbox
  int64_t verify_link_ttl_seconds = 7 * 86400;
  int64_t keys_per_email_per_hour = 5;
  int64_t keys_per_ip_per_hour = 20;
  int64_t max_unverified_keys_per_email = 3;
};

struct Caller {
  std::string ip;                          // client IP (trusted proxies applied)
  std::optional<schemas::Account> account; // empty: anonymous
  std::string owner() const { return account ? "key:" + account->key_id : "anon:" + ip; }
};

class AccountsService;

// A key just created: the secret (shown once, never stored) and its account.
struct CreatedKey {
  std::string key;
  schemas::Account account;
};
using KeyOutcome = std::variant<CreatedKey, schemas::Error>;

// What opening a verification link did.
enum class VerifyResult { verified, invalid_link, unknown_key, revoked, already_verified, busy, failed };
struct VerifyOutcome {
  VerifyResult result;
  std::string detail;  // invalid_link: what is wrong with the token
};

using AccountOutcome = std::variant<schemas::Account, schemas::Error>;

// One admitted upload or import. Its unit of quota is held until it is
// destroyed; commit() when the image counted (the ready event was applied),
// so an anonymous caller's rate-limit unit is kept.
class Admission {
 public:
  Admission(AccountsService& service, Caller caller, uint64_t reserved_bytes, int64_t taken_at);
  ~Admission();
  Admission(const Admission&) = delete;
  Admission& operator=(const Admission&) = delete;
  void commit() { committed_ = true; }
  // Gives the reservation back now (and, not committed, an anonymous
  // caller's rate-limit unit), once. Called before the answer goes out, so
  // the caller's next request finds the unit back; the destructor does it
  // for whatever path did not.
  void settle();

  Caller caller;
  uint64_t max_bytes = 0;   // the tier's file limit
  int64_t expires_at = 0;   // 0 = permanent
  // Set when the caller is over its limits but its Idempotency-Key already
  // names an image: this admission took nothing and lets only a replay of
  // that image through (routes' submit); any other outcome is this refusal.
  std::exception_ptr refused;

 private:
  friend class AccountsService;

  AccountsService& service_;
  uint64_t reserved_bytes_;
  int64_t taken_at_;
  bool committed_ = false;
  std::atomic<bool> settled_{false};
};

class AccountsService {
 public:
  AccountsService(AccountsConfig config, const GatewayConfig& gateway, storage::Bus& bus, storage::Db& db,
                  storage::ImageIndex& index);
  ~AccountsService();

  void start();  // follows the accounts topic
  void stop();
  bool ready() const { return store_.caught_up(); }

  // The caller of a request; throws Error(unauthorized) for a bad key.
  Caller authenticate(const Request& request);
  // The client's address (trusted proxies applied).
  std::string client_ip(const Request& request) const;
  // Limits before the body: throws Error(rate_limited | quota_exceeded).
  std::shared_ptr<Admission> admit(const Caller& caller, std::optional<uint64_t> body_bytes);
  // An admission that takes no unit and no reservation, for a retry over the
  // limits that may be a replay (Admission::refused holds `refusal`).
  std::shared_ptr<Admission> admit_replay_only(const Caller& caller, std::exception_ptr refusal);
  // Every images-topic event, before the index applies it.
  void observe(const schemas::ImageEvent& event) { ledger_.observe(event); }

  // A new key for `email` (already normalised). Limits are checked before
  // anything is stored: throws Error(rate_limited | key_limit_reached).
  // `done` gets the key once its `created` event is durable, or the error.
  // `abilities`: "read" and/or "write" (checked by the caller).
  void create_key(const std::string& email, const std::string& name, const std::string& client_ip,
                  std::function<void(KeyOutcome)> done, std::vector<std::string> abilities = {"read", "write"});
  // The link in the verification email. Every unverified key of the address
  // is verified, and their images made permanent. `done` is called once.
  void verify_email(const std::string& token, std::function<void(VerifyOutcome)> done);

  // The loopback admin API: a loopback peer bearing <data-dir>/admin.token.
  // Throws Error(not_found) off loopback (the API does not exist there) and
  // Error(unauthorized) for a wrong token.
  void check_admin(const Request& request) const;
  void set_plan(const std::string& key_id, const std::string& plan, std::function<void(AccountOutcome)> done);
  void revoke(const std::string& key_id, std::function<void(AccountOutcome)> done);
  // Blocking admin work (a backup's checkpoint) off the I/O threads, on this
  // service's pool; throws Error(service_unavailable) when its queue is full.
  void run_admin_task(std::function<void()> task);

  // The largest file the caller's tier takes (anonymous or the key's plan).
  uint64_t max_file_bytes(const Caller& caller) const;
  // A verified key's images are permanent.
  bool owner_is_permanent(const std::string& owner);
  // {"plan", "uploads_used", "uploads_limit", "storage_used_bytes", "storage_limit_bytes"} as JSON text.
  std::string usage_json(const schemas::Account& account);

  int64_t now() const { return gateway_.clock->now(); }
  AccountStore& store() { return store_; }
  UsageLedger& ledger() { return ledger_; }
  const AccountsConfig& config() const { return config_; }

 private:
  friend class Admission;
  void release(const Admission& a, bool committed);
  void publish_change(schemas::AccountEvent event, std::function<void(AccountOutcome)> done);
  void make_permanent(const std::string& owner);

  AccountsConfig config_;
  const GatewayConfig gateway_;  // a copy: immutable
  storage::Bus& bus_;
  storage::ImageIndex& index_;
  AccountStore store_;
  UsageLedger ledger_;
  RateLimiter limiter_;
  Mailer mailer_;
  workers::TaskPool tasks_;  // blocking work (publish_sync, verification) off the I/O threads
  std::mutex mutex_;
  std::map<std::string, int64_t> pending_keys_;  // email -> keys being created
  std::atomic<bool> running_{false};
};

// Tags: comma-separated, at most 10, each at most 50 characters, lowercased.
// Namespace: 2-64 of a-z, 0-9 and '-'. Both throw Error(invalid_field).
std::vector<std::string> parse_tags(const std::string& raw);
std::string check_namespace(const std::string& raw);
// A plausible address (one '@', a dotted domain, no spaces), lowercased; throws Error(invalid_field).
std::string normalise_email(const std::string& raw);

}  // namespace imgpipe::gateway::accounts
