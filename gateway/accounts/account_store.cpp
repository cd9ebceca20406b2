#include "gateway/accounts/account_store.h"

#include "gateway/accounts/secrets.h"
#include "schemas/errors.h"
#include "schemas/log.h"

namespace imgpipe::gateway::accounts {

using namespace std::chrono_literals;
namespace cf = storage::cf;

namespace {
const std::string kPositionPrefix = std::string("accounts") + '\0';
}

AccountStore::AccountStore(storage::Bus& bus, storage::Db& db) : bus_(bus), db_(db) {}
AccountStore::~AccountStore() { stop(); }

void AccountStore::start() {
  if (running_.exchange(true)) return;
  std::map<int32_t, int64_t> positions;
  db_.scan(cf::positions, kPositionPrefix, [&](std::string_view key, std::string_view value) {
    positions[static_cast<int32_t>(storage::read_be32(key.substr(kPositionPrefix.size())))] =
        static_cast<int64_t>(storage::read_be64(value));
    return true;
  });
  for (const auto& p : bus_.describe(storage::topics::accounts, ""))
    if (positions[p.partition] < p.high) catch_up_target_[p.partition] = p.high;
  caught_up_ = catch_up_target_.empty();
  reader_ = bus_.read(storage::topics::accounts, storage::StartAt::from_offsets(positions));
  thread_ = std::thread([this] { run(); });
}

void AccountStore::stop() {
  if (!running_.exchange(false)) return;
  reader_->close();
  if (thread_.joinable()) thread_.join();
}

void AccountStore::run() {
  while (running_) {
    std::optional<storage::BusMessage> message;
    try {
      message = reader_->poll(200ms);
    } catch (const std::exception& e) {
      log::warn("accounts_topic_poll_failed", {{"error", e.what()}});
      std::this_thread::sleep_for(500ms);
    }
    if (!message) continue;
    try {
      apply_at(schemas::decode_account_event(message->value), std::pair{message->partition, message->offset});
    } catch (const schemas::Error& e) {
      log::error("account_event_skipped",
                 {{"partition", message->partition}, {"offset", message->offset}, {"error", e.what()}});
    }
    if (!caught_up_) {
      auto it = catch_up_target_.find(message->partition);
      if (it != catch_up_target_.end() && message->offset + 1 >= it->second) catch_up_target_.erase(it);
      if (catch_up_target_.empty()) caught_up_ = true;
    }
  }
}

void AccountStore::apply(const schemas::AccountEvent& event) { apply_at(event, std::nullopt); }

void AccountStore::apply_at(const schemas::AccountEvent& event, std::optional<std::pair<int32_t, int64_t>> position) {
  const auto& a = event.account;
  std::lock_guard lock(apply_mutex_);
  std::vector<storage::WriteOp> batch;
  auto existing = by_id(a.key_id);
  if (!existing || existing->version <= a.version) {
    batch.push_back({storage::WriteOp::Kind::put, cf::keys, "id:" + a.key_id, schemas::encode_account(a)});
    batch.push_back({storage::WriteOp::Kind::put, cf::keys, "h:" + a.key_hash, a.key_id});
    batch.push_back({storage::WriteOp::Kind::put, cf::keys, "e:" + a.email + '\0' + a.key_id, ""});
  }
  if (position)
    batch.push_back({storage::WriteOp::Kind::put, cf::positions,
                     kPositionPrefix + storage::be32(static_cast<uint32_t>(position->first)),
                     storage::be64(static_cast<uint64_t>(position->second + 1))});
  if (!batch.empty()) db_.write(batch, !position.has_value());
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
