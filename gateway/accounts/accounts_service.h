#pragma once
// Accounts: API keys (POST /v1/keys), email verification, who a caller is,
// the tier limits checked before a body is read, usage and retention.
//
//   authenticate()  Authorization: Bearer img_live_... -> the key's account (401 otherwise)
//   admit()         rate limits (anonymous, per client IP) or the key's monthly
//                   and storage quotas; reserves one unit, released by the
//                   Admission's destructor unless the upload counted
//   handle()        /v1/keys, /v1/keys/verify, /v1/images[/{id}] (the caller's
//                   own images only), and the loopback admin API
//   the sweeper     deletes expired images (a `deleted` event on the images
//                   topic) and collects blobs no image references any more
//
// Design and operator guide: docs/accounts.md.

#include <atomic>
#include <functional>
#include <condition_variable>
#include <map>
#include <memory>
#include <mutex>
#include <optional>
#include <string>
#include <thread>

#include "gateway/accounts/account_store.h"
#include "gateway/accounts/client_ip.h"
#include "gateway/accounts/clock.h"
#include "gateway/accounts/mailer.h"
#include "gateway/accounts/plans.h"
#include "gateway/accounts/rate_limiter.h"
#include "gateway/accounts/usage_ledger.h"
#include "gateway/gateway_config.h"
#include "gateway/http/http_types.h"
#include "storage/blob_store.h"
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
  int64_t sweep_interval_seconds = 60;     // --sweep-interval
  int64_t blob_grace_seconds = 600;        // an unreferenced blob is kept this long (uploads racing a delete)
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

  Caller caller;
  uint64_t max_bytes = 0;   // the tier's file limit
  int64_t expires_at = 0;   // 0 = permanent

 private:
  friend class AccountsService;
  AccountsService& service_;
  uint64_t reserved_bytes_;
  int64_t taken_at_;
  bool committed_ = false;
};

class AccountsService {
 public:
  AccountsService(AccountsConfig config, const GatewayConfig& gateway, storage::Bus& bus, storage::Db& db,
                  storage::ImageIndex& index, storage::BlobStore& blobs);
  ~AccountsService();

  void start();  // follows the accounts topic, starts the sweeper
  void stop();
  bool ready() const { return store_.caught_up(); }

  // The caller of a request; throws Error(unauthorized) for a bad key.
  Caller authenticate(const Request& request);
  // Limits before the body: throws Error(rate_limited | quota_exceeded).
  std::shared_ptr<Admission> admit(const Caller& caller, std::optional<uint64_t> body_bytes);
  // Every images-topic event, before the index applies it.
  void observe(const schemas::ImageEvent& event) { ledger_.observe(event); }

  // Routes this service answers; false when the path is not one of them.
  bool handle(const Request& request, Respond& respond);

  // The images index has caught up (the sweeper waits for it: an image made
  // permanent by a later event must not be deleted from a stale view).
  void set_index_ready(std::function<bool()> ready) { index_ready_ = std::move(ready); }

  // Runs one sweep now (tests; the sweeper thread calls it every interval).
  void sweep();

  // A verified key's images are permanent.
  bool owner_is_permanent(const std::string& owner);

  int64_t now() const { return gateway_.clock->now(); }
  AccountStore& store() { return store_; }
  UsageLedger& ledger() { return ledger_; }
  const AccountsConfig& config() const { return config_; }

 private:
  friend class Admission;
  void release(const Admission& a, bool committed);
  void create_key(const Request& request, Respond respond);
  void verify_email(const Request& request, Respond respond);
  void admin(const Request& request, Respond respond);
  void images(const Request& request, Respond respond);
  void make_permanent(const std::string& owner);
  std::string usage_json(const schemas::Account& account);
  void run_sweeper();

  AccountsConfig config_;
  const GatewayConfig gateway_;  // a copy: immutable
  storage::Bus& bus_;
  storage::Db& db_;
  storage::ImageIndex& index_;
  storage::BlobStore& blobs_;
  AccountStore store_;
  UsageLedger ledger_;
  RateLimiter limiter_;
  Mailer mailer_;
  workers::TaskPool tasks_;  // blocking work (publish_sync, verification) off the I/O threads
  std::mutex mutex_;
  std::map<std::string, int64_t> pending_keys_;  // email -> keys being created
  std::thread sweeper_;
  std::mutex sweeper_mutex_;
  std::condition_variable sweeper_wake_;
  bool running_ = false;
  std::function<bool()> index_ready_;
};

// Tags: comma-separated, at most 10, each at most 50 characters, lowercased.
// Namespace: 2-64 of a-z, 0-9 and '-'. Both throw Error(invalid_field).
std::vector<std::string> parse_tags(const std::string& raw);
std::string check_namespace(const std::string& raw);
// A plausible address (one '@', a dotted domain, no spaces), lowercased; throws Error(invalid_field).
std::string normalise_email(const std::string& raw);

}  // namespace imgpipe::gateway::accounts
