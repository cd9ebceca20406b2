#include "gateway/accounts/accounts_service.h"

#include <algorithm>
#include <cctype>

#include <nlohmann/json.hpp>

#include "gateway/accounts/secrets.h"
#include "gateway/accounts/verify_token.h"
#include "schemas/log.h"
#include "schemas/text_rules.h"

namespace imgpipe::gateway::accounts {

using schemas::Error;
using schemas::ErrorCode;
using json = nlohmann::json;
using namespace std::chrono_literals;

namespace {

constexpr int64_t kHour = 3600, kDay = 86400;

Error with_retry(ErrorCode code, std::string message, int64_t seconds) {
  Error e(code, std::move(message));
  e.retry_after_seconds = std::max<int64_t>(1, seconds);
  return e;
}

}  // namespace

// ---- validation -------------------------------------------------------------

std::vector<std::string> parse_tags(const std::string& raw) {
  std::vector<std::string> tags;
  size_t start = 0;
  while (start <= raw.size()) {
    auto comma = raw.find(',', start);
    auto piece = raw.substr(start, comma == std::string::npos ? std::string::npos : comma - start);
    start = comma == std::string::npos ? raw.size() + 1 : comma + 1;
    auto b = piece.find_first_not_of(" \t");
    if (b == std::string::npos) continue;
    piece = piece.substr(b, piece.find_last_not_of(" \t") - b + 1);
    for (auto& c : piece) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
    if (piece.size() > 50) throw Error(ErrorCode::invalid_field, "Each tag is at most 50 characters.");
    schemas::require_clean_text(piece, 50, "tags");
    if (std::find(tags.begin(), tags.end(), piece) == tags.end()) tags.push_back(piece);
    if (tags.size() > 10) throw Error(ErrorCode::invalid_field, "At most 10 tags.");
  }
  return tags;
}

std::string check_namespace(const std::string& raw) {
  bool ok = raw.size() >= 2 && raw.size() <= 64 && std::all_of(raw.begin(), raw.end(), [](char c) {
              return (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '-';
            });
  if (!ok) throw Error(ErrorCode::invalid_field, "The namespace must be 2-64 characters of a-z, 0-9 and '-'.");
  return raw;
}

std::string normalise_email(const std::string& raw) {
  schemas::require_clean_text(raw, 254, "email");
  std::string e = raw;
  for (auto& c : e) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
  auto at = e.find('@');
  bool ok = e.size() <= 254 && at != std::string::npos && at > 0 && at <= 64 && e.find('@', at + 1) == std::string::npos;
  if (ok) {
    auto domain = e.substr(at + 1);
    ok = domain.size() >= 3 && domain.find('.') != std::string::npos && domain.front() != '.' &&
         domain.back() != '.' && domain.find("..") == std::string::npos;
    for (unsigned char c : e)
      if (c <= 0x20 || c == 0x7f || c == '<' || c == '>' || c == '"' || c == ',' || c == ';' || c == '\\' ||
          c == '(' || c == ')' || c == '[' || c == ']')
        ok = false;
    for (unsigned char c : domain)
      if (!(std::isalnum(c) || c == '-' || c == '.')) ok = false;
  }
  if (!ok) throw Error(ErrorCode::invalid_field, "The field 'email' must be a valid email address.");
  return e;
}

// ---- admission --------------------------------------------------------------

Admission::Admission(AccountsService& service, Caller c, uint64_t reserved_bytes, int64_t taken_at)
    : caller(std::move(c)), service_(service), reserved_bytes_(reserved_bytes), taken_at_(taken_at) {}

Admission::~Admission() { settle(); }

void Admission::settle() {
  if (!settled_.exchange(true)) service_.release(*this, committed_);
}

void AccountsService::release(const Admission& a, bool committed) {
  if (a.refused) return;  // a replay-only admission took nothing
  const auto& t = config_.tiers.anonymous;
  if (!a.caller.account) {
    if (!committed)
      limiter_.refund("anon:" + rate_limit_subject(a.caller.ip), {{kHour, t.uploads_per_hour}, {kDay, t.uploads_per_day}}, a.taken_at_);
    return;
  }
  // A key's upload counts from its ready event (the ledger): the reservation
  // goes either way.
  ledger_.release(a.caller.owner(), a.reserved_bytes_);
}

AccountsService::AccountsService(AccountsConfig config, const GatewayConfig& gateway, storage::Bus& bus,
                                 storage::Db& db, storage::ImageIndex& index)
    : config_(std::move(config)),
      gateway_(gateway),
      bus_(bus),
      index_(index),
      store_(bus, db),
      ledger_(db, index, gateway.clock),
      limiter_(gateway.clock),
      mailer_(config_.mail),
      tasks_("accounts", 1, 256) {}

AccountsService::~AccountsService() { stop(); }

void AccountsService::start() {
  store_.start();
  running_ = true;
}

void AccountsService::stop() {
  if (!running_.exchange(false)) return;
  tasks_.stop();
  store_.stop();
}

std::string AccountsService::client_ip(const Request& request) const {
  return config_.proxies.client_ip(request.peer_ip, request.header("X-Forwarded-For"));
}

Caller AccountsService::authenticate(const Request& request) {
  Caller caller;
  caller.ip = client_ip(request);
  auto auth = request.header("Authorization");
  if (auth.empty()) return caller;
  auto space = auth.find(' ');
  std::string scheme(auth.substr(0, space));
  for (auto& c : scheme) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
  auto key = space == std::string_view::npos ? std::string_view{} : auth.substr(space + 1);
  while (!key.empty() && key.front() == ' ') key.remove_prefix(1);
  while (!key.empty() && key.back() == ' ') key.remove_suffix(1);
  if (scheme != "bearer" || !plausible_api_key(key))
    throw Error(ErrorCode::unauthorized, "Send the API key as 'Authorization: Bearer img_live_...'.");
  auto account = store_.by_key(key);
  if (!account) throw Error(ErrorCode::unauthorized, "The API key is unknown.");
  if (account->revoked) throw Error(ErrorCode::unauthorized, "The API key was revoked.");
  caller.account = std::move(account);
  return caller;
}

std::string AccountsService::usage_json(const schemas::Account& a) {
  const auto& plan = config_.tiers.plan(a.plan);
  auto u = ledger_.usage("key:" + a.key_id);
  return json{{"plan", plan.name},
              {"uploads_used", u.uploads},
              {"uploads_limit", plan.uploads_per_month},
              {"storage_used_bytes", u.bytes},
              {"storage_limit_bytes", plan.storage_bytes}}
      .dump();
}

std::shared_ptr<Admission> AccountsService::admit_replay_only(const Caller& caller, std::exception_ptr refusal) {
  auto a = std::make_shared<Admission>(*this, caller, 0, now());
  a->refused = std::move(refusal);
  a->max_bytes = max_file_bytes(caller);
  return a;
}

std::shared_ptr<Admission> AccountsService::admit(const Caller& caller, std::optional<uint64_t> body_bytes) {
  int64_t now = this->now();
  if (!caller.account) {
    const auto& t = config_.tiers.anonymous;
    if (auto wait = limiter_.take("anon:" + rate_limit_subject(caller.ip), {{kHour, t.uploads_per_hour}, {kDay, t.uploads_per_day}}))
      throw with_retry(ErrorCode::rate_limited,
                       "Anonymous uploads are limited to " + std::to_string(t.uploads_per_hour) + " an hour and " +
                           std::to_string(t.uploads_per_day) + " a day per address; an API key lifts this.",
                       *wait);
    auto a = std::make_shared<Admission>(*this, caller, 0, now);
    a->max_bytes = max_file_bytes(caller);
    a->expires_at = now + t.retention_days * kDay;
    return a;
  }
  const auto& account = *caller.account;
  const auto& plan = config_.tiers.plan(account.plan);
  uint64_t bytes = std::min(body_bytes.value_or(plan.max_file_bytes), plan.max_file_bytes);
  if (!ledger_.reserve(caller.owner(), plan.uploads_per_month, plan.storage_bytes, bytes)) {
    auto u = ledger_.usage(caller.owner());
    bool uploads_out = u.uploads + u.reserved_uploads + 1 > plan.uploads_per_month;
    Error e(ErrorCode::quota_exceeded,
            uploads_out ? "This key has used its " + std::to_string(plan.uploads_per_month) + " uploads this month."
                        : "This key's storage is full.");
    auto extra = json::parse(
        R"({"usage":)" + usage_json(account) + "}");
    if (!account.verified && plan.name == config_.tiers.default_plan)
      extra["action"] = {{"type", "verify"}, {"label", "Verify your email from the message we sent to unlock more"}};
    else
      extra["action"] = {{"type", "upgrade"}, {"label", "Upgrade the plan"}, {"url", gateway_.upgrade_link()}};
    e.extra_json = extra.dump();
    throw e;
  }
  auto a = std::make_shared<Admission>(*this, caller, bytes, now);
  a->max_bytes = max_file_bytes(caller);
  a->expires_at = account.verified ? 0 : now + config_.tiers.unverified_retention_days * kDay;
  return a;
}

uint64_t AccountsService::max_file_bytes(const Caller& caller) const {
  return caller.account ? config_.tiers.plan(caller.account->plan).max_file_bytes
                        : config_.tiers.anonymous.max_file_bytes;
}

// ---- keys -------------------------------------------------------------------

void AccountsService::create_key(const std::string& email, const std::string& name, const std::string& ip,
                                 std::function<void(KeyOutcome)> done, std::vector<std::string> abilities) {
  if (auto wait = limiter_.take("keys-ip:" + rate_limit_subject(ip), {{kHour, config_.keys_per_ip_per_hour}}))
    throw with_retry(ErrorCode::rate_limited, "Too many keys were created from this address; wait and try again.",
                     *wait);
  if (auto wait = limiter_.take("keys-email:" + email, {{kHour, config_.keys_per_email_per_hour}}))
    throw with_retry(ErrorCode::rate_limited, "Too many keys were requested for this email; wait and try again.",
                     *wait);
  {
    std::lock_guard lock(mutex_);
    int64_t unverified = pending_keys_[email];
    for (const auto& a : store_.by_email(email))
      if (!a.verified && !a.revoked) ++unverified;
    if (unverified >= config_.max_unverified_keys_per_email) {
      if (pending_keys_[email] == 0) pending_keys_.erase(email);
      throw Error(ErrorCode::key_limit_reached);
    }
    ++pending_keys_[email];
  }
  auto key = new_api_key();
  schemas::AccountEvent event;
  event.type = "created";
  event.at = now();
  auto& a = event.account;
  a.key_id = new_key_id();
  a.key_hash = key_hash(key);
  a.email = email;
  a.name = name;
  a.abilities = std::move(abilities);
  a.plan = config_.tiers.default_plan;
  a.created_at = event.at;
  a.version = 1;
  auto stored = [this, event, key, done = std::move(done)](std::optional<Error> err) {
    {
      std::lock_guard lock(mutex_);
      if (--pending_keys_[event.account.email] <= 0) pending_keys_.erase(event.account.email);
    }
    if (err) {
      Error down(ErrorCode::service_unavailable, "The key could not be stored; try again shortly.");
      down.retry_after_seconds = 5;
      return done(down);
    }
    store_.apply(event);
    const auto& acc = event.account;
    try {
      VerifyClaims claims{acc.key_id, acc.email, event.at + config_.verify_link_ttl_seconds};
      auto token = issue_verify_token(config_.token_secret, claims, event.at);
      // The configured public URL, never the request's Host header.
      auto link = gateway_.public_url + "/v1/keys/verify?token=" + token;
      mailer_.send({acc.email, "Verify your email for imgpipe",
                    "Hello,\r\n\r\nAn API key (" + acc.key_id + ") was created for this address.\r\n"
                    "Open this link to verify your email and make your uploads permanent:\r\n\r\n" + link +
                    "\r\n\r\nThe link works once and expires in " +
                    std::to_string(config_.verify_link_ttl_seconds / 86400) +
                    " days. If you did not ask for a key, ignore this message.\r\n"},
                   event.at);
    } catch (const std::exception& e) {
      log::error("verification_mail_failed", {{"key_id", acc.key_id}, {"error", e.what()}});
    }
    log::info("key_created", {{"key_id", acc.key_id}});
    done(CreatedKey{key, acc});
  };
  bus_.publish(storage::topics::accounts, a.key_id, schemas::encode(event), std::move(stored));
}

void AccountsService::verify_email(const std::string& token, std::function<void(VerifyOutcome)> done) {
  VerifyClaims claims;
  try {
    if (token.empty()) throw TokenError(TokenProblem::malformed);
    claims = check_verify_token(config_.token_secret, token, now());
  } catch (const TokenError& e) {
    return done({VerifyResult::invalid_link, e.what()});
  }
  auto account = store_.by_id(claims.key_id);
  if (!account || account->email != claims.email) return done({VerifyResult::unknown_key, {}});
  if (account->revoked) return done({VerifyResult::revoked, {}});
  if (account->verified) return done({VerifyResult::already_verified, {}});
  bool queued = tasks_.try_submit([this, claims, done] {
    try {
      std::vector<std::string> owners;
      for (auto a : store_.by_email(claims.email)) {
        if (a.verified || a.revoked) continue;
        schemas::AccountEvent event{"verified", now(), a};
        event.account.verified = true;
        event.account.verified_at = event.at;
        event.account.version = a.version + 1;
        bus_.publish_sync(storage::topics::accounts, a.key_id, schemas::encode(event), 10s);
        store_.apply(event);
        owners.push_back("key:" + a.key_id);
        log::info("key_verified", {{"key_id", a.key_id}});
      }
      done({VerifyResult::verified, {}});
      for (const auto& owner : owners) make_permanent(owner);
    } catch (const std::exception& e) {
      log::error("verification_failed", {{"error", e.what()}});
      done({VerifyResult::failed, {}});
    }
  });
  if (!queued) done({VerifyResult::busy, {}});
}

// Past uploads of a verified key: an `updated` event with expires_at 0 each.
void AccountsService::make_permanent(const std::string& owner) {
  for (const auto& id : ledger_.images_of(owner)) {
    auto record = index_.get(id);
    // Not yet ready: retention makes it permanent at its expiry (`updated`
    // events carry ready records only).
    if (!record || !record->ready() || record->expires_at == 0) continue;
    record->expires_at = 0;
    schemas::ImageEvent event;
    event.type = "updated";
    event.image_id = id;
    event.image = *record;
    try {
      bus_.publish_sync(storage::topics::images, schemas::event_key(event), schemas::encode(event), 10s);
    } catch (const std::exception& e) {
      log::error("make_permanent_failed", {{"image_id", id}, {"error", e.what()}});
    }
  }
}

void AccountsService::run_admin_task(std::function<void()> task) {
  if (!tasks_.try_submit(std::move(task))) throw Error(ErrorCode::service_unavailable, "Busy; try again shortly.");
}

bool AccountsService::owner_is_permanent(const std::string& owner) {
  if (owner.rfind("key:", 0) != 0) return false;
  auto account = store_.by_id(owner.substr(4));
  return account && account->verified;
}

// ---- admin ------------------------------------------------------------------

void AccountsService::check_admin(const Request& request) const {
  if (!is_loopback(request.peer_ip) || config_.admin_token.empty()) throw Error(ErrorCode::not_found);
  auto auth = request.header("Authorization");
  std::string_view presented = auth.rfind("Bearer ", 0) == 0 ? auth.substr(7) : std::string_view{};
  if (!constant_time_equal(key_hash(presented), key_hash(config_.admin_token)))
    throw Error(ErrorCode::unauthorized, "The admin token is missing or wrong (see <data-dir>/admin.token).");
}

void AccountsService::set_plan(const std::string& key_id, const std::string& plan,
                               std::function<void(AccountOutcome)> done) {
  auto account = store_.by_id(key_id);
  if (!account) throw Error(ErrorCode::not_found, "No key with this id.");
  if (!config_.tiers.has_plan(plan)) {
    std::string names;
    for (const auto& [n, _] : config_.tiers.plans) names += (names.empty() ? "" : ", ") + n;
    throw Error(ErrorCode::invalid_field, "Unknown plan '" + plan + "'; plans: " + names + ".");
  }
  schemas::AccountEvent event{"plan_changed", now(), *account};
  event.account.plan = plan;
  publish_change(std::move(event), std::move(done));
}

void AccountsService::revoke(const std::string& key_id, std::function<void(AccountOutcome)> done) {
  auto account = store_.by_id(key_id);
  if (!account) throw Error(ErrorCode::not_found, "No key with this id.");
  schemas::AccountEvent event{"revoked", now(), *account};
  event.account.revoked = true;
  publish_change(std::move(event), std::move(done));
}

void AccountsService::publish_change(schemas::AccountEvent event, std::function<void(AccountOutcome)> done) {
  event.account.version += 1;
  auto key_id = event.account.key_id;
  bus_.publish(storage::topics::accounts, key_id, schemas::encode(event),
               [this, event, done = std::move(done)](std::optional<Error> err) {
                 if (err) return done(*err);
                 store_.apply(event);
                 log::info("key_" + event.type, {{"key_id", event.account.key_id}, {"plan", event.account.plan}});
                 done(event.account);
               });
}

}  // namespace imgpipe::gateway::accounts
