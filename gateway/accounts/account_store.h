#pragma once
// Every key this gateway knows, materialised from imgpipe.accounts into
// RocksDB cf::keys:
//   "id:" key_id          -> Account JSON
//   "h:" sha256(key) hex  -> key_id          (the key itself is never stored)
//   "e:" email '\0' key_id -> ""
// A reader thread follows the topic; the gateway also applies its own events
// as soon as they are durable, so a caller can use a key at once. Applying
// is idempotent and never goes back to an older version of an account.

#include <mutex>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "schemas/account_event.h"
#include "storage/bus.h"
#include "storage/db.h"
#include "storage/topic_follower.h"

namespace imgpipe::gateway::accounts {

class AccountStore {
 public:
  AccountStore(storage::Bus& bus, storage::Db& db);
  ~AccountStore();

  void start();
  void stop();
  bool caught_up() const { return follower_.caught_up(); }

  void apply(const schemas::AccountEvent& event);

  // By the API key a caller presented: a lookup by its hash, then a
  // constant-time comparison of the stored hash.
  std::optional<schemas::Account> by_key(std::string_view api_key);
  std::optional<schemas::Account> by_id(const std::string& key_id);
  std::vector<schemas::Account> by_email(const std::string& email);
  std::vector<schemas::Account> all();

 private:
  // `position`: the follower's, written in the same atomic write; none for
  // this gateway's own events, which are written synced instead.
  void apply_at(const schemas::AccountEvent& event, std::optional<storage::WriteOp> position);

  storage::Db& db_;
  std::mutex apply_mutex_;
  storage::TopicFollower follower_;  // last: its thread uses the members above
};

}  // namespace imgpipe::gateway::accounts
