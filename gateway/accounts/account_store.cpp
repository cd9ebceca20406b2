#include "gateway/accounts/account_store.h"

#include "gateway/accounts/secrets.h"
#include "schemas/errors.h"
#include "schemas/log.h"

namespace imgpipe::gateway::accounts {

using namespace std::chrono_literals;
namespace cf = storage::cf;

AccountStore::AccountStore(storage::Bus& bus, storage::Db& db)
    : db_(db),
      follower_(bus, db, {storage::topics::accounts, "accounts", 200ms, {}},
                [this](const storage::BusMessage& message, storage::WriteOp position) {
                  apply_at(schemas::decode_account_event(message.value), std::move(position));
                }) {}
AccountStore::~AccountStore() { stop(); }

void AccountStore::start() { follower_.start(); }
void AccountStore::stop() { follower_.stop(); }

void AccountStore::apply(const schemas::AccountEvent& event) { apply_at(event, std::nullopt); }

void AccountStore::apply_at(const schemas::AccountEvent& event, std::optional<storage::WriteOp> position) {
  const auto& a = event.account;
  std::lock_guard lock(apply_mutex_);
  std::vector<storage::WriteOp> batch;
  auto existing = by_id(a.key_id);
  if (!existing || existing->version <= a.version) {
    batch.push_back({storage::WriteOp::Kind::put, cf::keys, "id:" + a.key_id, schemas::encode_account(a)});
    batch.push_back({storage::WriteOp::Kind::put, cf::keys, "h:" + a.key_hash, a.key_id});
    batch.push_back({storage::WriteOp::Kind::put, cf::keys, "e:" + a.email + '\0' + a.key_id, ""});
  }
  const bool own_event = !position;
  if (position) batch.push_back(std::move(*position));
  if (!batch.empty()) db_.write(batch, own_event);
}

std::optional<schemas::Account> AccountStore::by_id(const std::string& key_id) {
  auto value = db_.get(cf::keys, "id:" + key_id);
  if (!value) return std::nullopt;
  return schemas::decode_account(*value);
}

std::optional<schemas::Account> AccountStore::by_key(std::string_view api_key) {
  auto hash = key_hash(api_key);
  auto key_id = db_.get(cf::keys, "h:" + hash);
  if (!key_id) return std::nullopt;
  auto account = by_id(*key_id);
  if (!account || !constant_time_equal(account->key_hash, hash)) return std::nullopt;
  return account;
}

std::vector<schemas::Account> AccountStore::by_email(const std::string& email) {
  std::vector<std::string> ids;
  db_.scan(cf::keys, "e:" + email + '\0', [&](std::string_view key, std::string_view) {
    ids.emplace_back(key.substr(key.find('\0') + 1));
    return true;
  });
  std::vector<schemas::Account> out;
  for (const auto& id : ids)
    if (auto a = by_id(id)) out.push_back(*a);
  return out;
}

std::vector<schemas::Account> AccountStore::all() {
  std::vector<schemas::Account> out;
  db_.scan(cf::keys, "id:", [&](std::string_view, std::string_view value) {
    out.push_back(schemas::decode_account(std::string(value)));
    return true;
  });
  return out;
}

}  // namespace imgpipe::gateway::accounts
