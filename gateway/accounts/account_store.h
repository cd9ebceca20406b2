#pragma once
// Every key this gateway knows, materialised from imgpipe.accounts into
// RocksDB cf::keys:
//   "id:" key_id          -> Account JSON
//   "h:" sha256(key) hex  -> key_id          (the key itself is never stored)
//   "e:" email '\0' key_id -> ""
// A reader thread follows the topic; the gateway also applies its own events
// as soon as they are durable, so a caller can use a key at once. Applying
// is idempotent and never goes back to an older version of an account.

#include <atomic>
#include <map>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <thread>
#include <vector>

#include "schemas/account_event.h"
#include "storage/bus.h"
#include "storage/db.h"

namespace imgpipe::gateway::accounts {

class AccountStore {
 public:
  AccountStore(storage::Bus& bus, storage::Db& db);
  ~AccountStore();

  void start();
  void stop();
  bool caught_up() const { return caught_up_; }

  void apply(const schemas::AccountEvent& event);

  // By the API key a caller presented: a lookup by its hash, then a
  // constant-time comparison of the stored hash.
  std::optional<schemas::Account> by_key(std::string_view api_key);
  std::optional<schemas::Account> by_id(const std::string& key_id);
  std::vector<schemas::Account> by_email(const std::string& email);
  std::vector<schemas::Account> all();

 private:
  void run();
  void apply_at(const schemas::AccountEvent& event, std::optional<std::pair<int32_t, int64_t>> position);

  storage::Bus& bus_;
  storage::Db& db_;
  std::unique_ptr<storage::BusConsumer> reader_;
  std::thread thread_;
  std::atomic<bool> running_{false};
  std::atomic<bool> caught_up_{false};
  std::map<int32_t, int64_t> catch_up_target_;
  std::mutex apply_mutex_;
};

}  // namespace imgpipe::gateway::accounts
