#include "gateway/accounts/accounts_service.h"

#include <algorithm>
#include <cctype>

#include <nlohmann/json.hpp>

#include "gateway/accounts/secrets.h"
#include "gateway/accounts/verify_token.h"
#include "gateway/api_responses.h"
#include "gateway/image_ids.h"
#include "gateway/error_response.h"
#include "gateway/viewer_page.h"
#include "schemas/log.h"
#include "schemas/text_rules.h"

namespace imgpipe::gateway::accounts {

using schemas::Error;
using schemas::ErrorCode;
using json = nlohmann::json;
using namespace std::chrono_literals;

namespace {

constexpr int64_t kHour = 3600, kDay = 86400;

Response page(int status, const std::string& title, const std::string& text) {
  auto r = Response::html(status, "<!doctype html><html><head><meta charset=\"utf-8\"><title>" + html_escape(title) +
                                      "</title><meta name=\"viewport\" content=\"width=device-width\"></head>"
                                      "<body style=\"font-family:sans-serif;max-width:36em;margin:4em auto\"><h1>" +
                                      html_escape(title) + "</h1><p>" + html_escape(text) + "</p></body></html>");
  r.set("Cache-Control", "no-store");
  r.set("X-Content-Type-Options", "nosniff");
  r.set("Referrer-Policy", "no-referrer");  // the link carries a token
  r.set("Content-Security-Policy", "default-src 'none'; style-src 'unsafe-inline'");
  return r;
}

Error with_retry(ErrorCode code, std::string message, int64_t seconds) {
  Error e(code, std::move(message));
  e.retry_after_seconds = std::max<int64_t>(1, seconds);
  return e;
}

json account_view(const schemas::Account& a) {
  return {{"key_id", a.key_id},     {"email", a.email},         {"name", a.name},
          {"plan", a.plan},         {"verified", a.verified},   {"revoked", a.revoked},
          {"created_at", a.created_at}, {"verified_at", a.verified_at}};
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

Admission::~Admission() { service_.release(*this, committed_); }

void AccountsService::release(const Admission& a, bool committed) {
  const auto& t = config_.tiers.anonymous;
  if (!a.caller.account) {
    if (!committed)
      limiter_.refund("anon:" + a.caller.ip, {{kHour, t.uploads_per_hour}, {kDay, t.uploads_per_day}}, a.taken_at_);
    return;
  }
  // A key's upload counts from its ready event (the ledger): the reservation
  // goes either way.
  ledger_.release(a.caller.owner(), a.reserved_bytes_);
}

AccountsService::AccountsService(AccountsConfig config, const GatewayConfig& gateway, storage::Bus& bus,
                                 storage::Db& db, storage::ImageIndex& index, storage::BlobStore& blobs)
    : config_(std::move(config)),
      gateway_(gateway),
      bus_(bus),
      db_(db),
      index_(index),
      blobs_(blobs),
      store_(bus, db),
      ledger_(db, index, gateway.clock),
      limiter_(gateway.clock),
      mailer_(config_.mail),
      tasks_("accounts", 1, 256) {}

AccountsService::~AccountsService() { stop(); }

void AccountsService::start() {
  store_.start();
  std::lock_guard lock(sweeper_mutex_);
  running_ = true;
  sweeper_ = std::thread([this] { run_sweeper(); });
}

void AccountsService::stop() {
  {
    std::lock_guard lock(sweeper_mutex_);
    if (!running_) return;
    running_ = false;
  }
  sweeper_wake_.notify_all();
  if (sweeper_.joinable()) sweeper_.join();
  tasks_.stop();
  store_.stop();
}

Caller AccountsService::authenticate(const Request& request) {
  Caller caller;
  caller.ip = config_.proxies.client_ip(request.peer_ip, request.header("X-Forwarded-For"));
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

std::shared_ptr<Admission> AccountsService::admit(const Caller& caller, std::optional<uint64_t> body_bytes) {
  int64_t now = this->now();
  if (!caller.account) {
    const auto& t = config_.tiers.anonymous;
    if (auto wait = limiter_.take("anon:" + caller.ip, {{kHour, t.uploads_per_hour}, {kDay, t.uploads_per_day}}))
      throw with_retry(ErrorCode::rate_limited,
                       "Anonymous uploads are limited to " + std::to_string(t.uploads_per_hour) + " an hour and " +
                           std::to_string(t.uploads_per_day) + " a day per address; an API key lifts this.",
                       *wait);
    auto a = std::make_shared<Admission>(*this, caller, 0, now);
    a->max_bytes = t.max_file_bytes;
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
      extra["action"] = {{"type", "upgrade"}, {"label", "Upgrade the plan"}, {"url", gateway_.upgrade_url}};
    e.extra_json = extra.dump();
    throw e;
  }
  auto a = std::make_shared<Admission>(*this, caller, bytes, now);
  a->max_bytes = plan.max_file_bytes;
  a->expires_at = account.verified ? 0 : now + config_.tiers.unverified_retention_days * kDay;
  return a;
}

// ---- routes -----------------------------------------------------------------

bool AccountsService::handle(const Request& request, Respond& respond) {
  const auto& p = request.path;
  if (p == "/v1/keys") {
    if (request.method != "POST") throw Error(ErrorCode::method_not_allowed, "Create a key with POST.");
    create_key(request, respond);  // a copy: the caller answers with it if this throws
    return true;
  }
  if (p == "/v1/keys/verify") {
    if (request.method != "GET" && request.method != "HEAD") throw Error(ErrorCode::method_not_allowed);
    verify_email(request, respond);
    return true;
  }
  if (p == "/v1/images" || p.rfind("/v1/images/", 0) == 0) {
    images(request, respond);
    return true;
  }
  if (p == "/admin/keys" || p.rfind("/admin/keys/", 0) == 0) {
    admin(request, respond);
    return true;
  }
  return false;
}

void AccountsService::create_key(const Request& request, Respond respond) {
  auto body = json::parse(request.body, nullptr, false);
  if (body.is_discarded() || !body.is_object())
    throw Error(ErrorCode::bad_request, "The body must be a JSON object like {\"email\": \"you@example.com\"}.");
  auto email_field = body.find("email");
  if (email_field == body.end() || !email_field->is_string())
    throw Error(ErrorCode::invalid_field, "The field 'email' is required.");
  auto email = normalise_email(email_field->get<std::string>());
  std::string name;
  if (auto n = body.find("name"); n != body.end() && !n->is_null()) {
    if (!n->is_string() || n->get<std::string>().size() > 100)
      throw Error(ErrorCode::invalid_field, "The field 'name' must be a string of at most 100 characters.");
    name = schemas::clean_text(n->get<std::string>(), 100);
  }
  auto ip = config_.proxies.client_ip(request.peer_ip, request.header("X-Forwarded-For"));
  if (auto wait = limiter_.take("keys-ip:" + ip, {{kHour, config_.keys_per_ip_per_hour}}))
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
  a.plan = config_.tiers.default_plan;
  a.created_at = event.at;
  a.version = 1;
  auto done = [this, event, key, respond](std::optional<Error> err) {
    {
      std::lock_guard lock(mutex_);
      if (--pending_keys_[event.account.email] <= 0) pending_keys_.erase(event.account.email);
    }
    if (err) {
      Error down(ErrorCode::service_unavailable, "The key could not be stored; try again shortly.");
      down.retry_after_seconds = 5;
      return respond(error_response(down));
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
    const auto& plan = config_.tiers.plan(acc.plan);
    json body = {{"key", key},
                 {"key_id", acc.key_id},
                 {"status", "active"},
                 {"verified", false},
                 {"limits",
                  {{"uploads", plan.uploads_per_month},
                   {"storage_mb", plan.storage_bytes >> 20},
                   {"retention_days", config_.tiers.unverified_retention_days}}},
                 {"message", "Key active. Check your email to verify and unlock permanent storage."}};
    auto r = Response::json(201, body.dump());
    r.set("Cache-Control", "no-store");
    respond(std::move(r));
  };
  bus_.publish(storage::topics::accounts, a.key_id, schemas::encode(event), std::move(done));
}

void AccountsService::verify_email(const Request& request, Respond respond) {
  auto token = request.query_param("token").value_or("");
  VerifyClaims claims;
  try {
    if (token.empty()) throw TokenError(TokenProblem::malformed);
    claims = check_verify_token(config_.token_secret, token, now());
  } catch (const TokenError& e) {
    return respond(page(400, "This link does not work", std::string(e.what()) +
                                                            " Create a new key to get a fresh link."));
  }
  auto account = store_.by_id(claims.key_id);
  if (!account || account->email != claims.email)
    return respond(page(400, "This link does not work", "The key this link was made for does not exist."));
  if (account->revoked) return respond(page(400, "This link does not work", "The key was revoked."));
  if (account->verified)
    return respond(page(400, "This link was already used", "The email address is already verified."));
  bool queued = tasks_.try_submit([this, claims, respond] {
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
      respond(page(200, "Email verified",
                   "Your keys are verified: everything uploaded with them, before and from now on, is kept "
                   "permanently."));
      for (const auto& owner : owners) make_permanent(owner);
    } catch (const std::exception& e) {
      log::error("verification_failed", {{"error", e.what()}});
      respond(page(503, "Please try again", "The verification could not be saved; open the link again shortly."));
    }
  });
  if (!queued) respond(page(503, "Please try again", "The server is busy; open the link again shortly."));
}

// Past uploads of a verified key: an `updated` event with expires_at 0 each.
void AccountsService::make_permanent(const std::string& owner) {
  for (const auto& id : ledger_.images_of(owner)) {
    auto record = index_.get(id);
    if (!record || record->expires_at == 0) continue;
    record->expires_at = 0;
    schemas::ImageEvent event;
    event.type = "updated";
    event.image_id = id;
    event.image = *record;
    try {
      bus_.publish_sync(storage::topics::images, id, schemas::encode(event), 10s);
    } catch (const std::exception& e) {
      log::error("make_permanent_failed", {{"image_id", id}, {"error", e.what()}});
    }
  }
}

// Loopback only, and the bearer of <data-dir>/admin.token: what `imgpipe keys` calls.
void AccountsService::admin(const Request& request, Respond respond) {
  if (!is_loopback(request.peer_ip) || config_.admin_token.empty()) throw Error(ErrorCode::not_found);
  auto auth = request.header("Authorization");
  std::string_view presented = auth.rfind("Bearer ", 0) == 0 ? auth.substr(7) : std::string_view{};
  if (!constant_time_equal(key_hash(presented), key_hash(config_.admin_token)))
    throw Error(ErrorCode::unauthorized, "The admin token is missing or wrong (see <data-dir>/admin.token).");
  const auto& p = request.path;
  if (p == "/admin/keys") {
    if (request.method != "GET") throw Error(ErrorCode::method_not_allowed);
    json list = json::array();
    for (const auto& a : store_.all()) {
      auto view = account_view(a);
      view["usage"] = json::parse(usage_json(a));
      list.push_back(view);
    }
    return respond(Response::json(200, json{{"keys", list}}.dump()));
  }
  // /admin/keys/{id}/plan, /admin/keys/{id}/revoke
  auto rest = p.substr(std::string("/admin/keys/").size());
  auto slash = rest.find('/');
  if (slash == std::string::npos) throw Error(ErrorCode::not_found);
  auto key_id = rest.substr(0, slash);
  auto action = rest.substr(slash + 1);
  if (request.method != "POST") throw Error(ErrorCode::method_not_allowed);
  if (action != "plan" && action != "revoke") throw Error(ErrorCode::not_found);
  auto account = store_.by_id(key_id);
  if (!account) throw Error(ErrorCode::not_found, "No key with this id.");
  schemas::AccountEvent event{action == "plan" ? "plan_changed" : "revoked", now(), *account};
  if (action == "plan") {
    auto body = json::parse(request.body, nullptr, false);
    auto plan = body.is_object() ? body.value("plan", "") : "";
    if (!config_.tiers.has_plan(plan)) {
      std::string names;
      for (const auto& [n, _] : config_.tiers.plans) names += (names.empty() ? "" : ", ") + n;
      throw Error(ErrorCode::invalid_field, "Unknown plan '" + plan + "'; plans: " + names + ".");
    }
    event.account.plan = plan;
  } else {
    event.account.revoked = true;
  }
  event.account.version = account->version + 1;
  bus_.publish(storage::topics::accounts, key_id, schemas::encode(event),
               [this, event, respond](std::optional<Error> err) {
                 if (err) return respond(error_response(*err));
                 store_.apply(event);
                 log::info("key_" + event.type, {{"key_id", event.account.key_id}, {"plan", event.account.plan}});
                 respond(Response::json(200, account_view(event.account).dump()));
               });
}

// A key's own images. The owner comes from the key, never from the request:
// another key's image, or an anonymous one, is 404 like one that never was.
void AccountsService::images(const Request& request, Respond respond) {
  auto caller = authenticate(request);
  if (!caller.account) throw Error(ErrorCode::unauthorized, "Listing and deleting images needs an API key.");
  const auto owner = caller.owner();
  const auto& p = request.path;
  bool get = request.method == "GET" || request.method == "HEAD";
  if (p == "/v1/images" || p == "/v1/images/") {
    if (!get) throw Error(ErrorCode::method_not_allowed);
    auto ns = request.query_param("namespace").value_or("");
    auto tag = request.query_param("tag").value_or("");
    for (auto& c : tag) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
    long limit = 100;
    if (auto l = request.query_param("limit")) {
      try {
        limit = std::stol(*l);
      } catch (const std::exception&) {
        limit = 0;
      }
      if (limit < 1 || limit > 1000) throw Error(ErrorCode::invalid_field, "limit must be 1-1000.");
    }
    std::vector<schemas::ImageRecord> records;
    for (const auto& id : ledger_.images_of(owner)) {
      auto r = index_.get(id);
      if (!r || r->owner != owner || gateway_.expired(*r)) continue;
      if (!ns.empty() && r->ns != ns) continue;
      if (!tag.empty() && std::find(r->tags.begin(), r->tags.end(), tag) == r->tags.end()) continue;
      records.push_back(std::move(*r));
    }
    std::sort(records.begin(), records.end(), [](const auto& a, const auto& b) {
      return a.created_at != b.created_at ? a.created_at > b.created_at : a.id < b.id;
    });
    json list = json::array();
    for (const auto& r : records) {
      if (static_cast<long>(list.size()) >= limit) break;
      list.push_back(json::parse(upload_response(gateway_, r, false)));
    }
    auto resp = Response::json(200, json{{"images", list}, {"count", list.size()}}.dump());
    resp.set("Cache-Control", "no-store");
    return respond(std::move(resp));
  }
  auto id = p.substr(std::string("/v1/images/").size());
  auto record = plausible_image_id(id) ? index_.get(id) : std::nullopt;
  if (!record || record->owner != owner || gateway_.expired(*record))
    throw Error(ErrorCode::not_found, "No image with this id.");
  if (get) {
    auto resp = Response::json(200, upload_response(gateway_, *record, false));
    resp.set("Cache-Control", "no-store");
    return respond(std::move(resp));
  }
  if (request.method != "DELETE") throw Error(ErrorCode::method_not_allowed);
  schemas::ImageEvent event;
  event.type = "deleted";
  event.image_id = id;
  bus_.publish(storage::topics::images, id, schemas::encode(event), [id, respond](std::optional<Error> err) {
    if (err) return respond(error_response(*err));
    log::info("image_deleted", {{"image_id", id}});
    respond(Response::json(200, json{{"id", id}, {"deleted", true}}.dump()));
  });
}

// ---- retention --------------------------------------------------------------

bool AccountsService::owner_is_permanent(const std::string& owner) {
  if (owner.rfind("key:", 0) != 0) return false;
  auto account = store_.by_id(owner.substr(4));
  return account && account->verified;
}

void AccountsService::sweep() {
  int64_t now = this->now();
  for (;;) {
    auto ids = index_.expired(now, 100);
    if (ids.empty()) break;
    for (const auto& id : ids) {
      schemas::ImageEvent event;
      event.image_id = id;
      auto record = index_.get(id);
      if (record && owner_is_permanent(record->owner)) {
        // Verified after this event was written: make it permanent instead.
        record->expires_at = 0;
        event.type = "updated";
        event.image = *record;
      } else {
        event.type = "deleted";
        log::info("image_expired", {{"image_id", id}});
      }
      bus_.publish_sync(storage::topics::images, id, schemas::encode(event), 10s);
    }
    // Wait until our own index applied them, or the next tick does it.
    bool applied = false;
    for (int i = 0; i < 50 && !applied; ++i) {
      applied = index_.expired(now, 1).empty() || index_.expired(now, 1).front() != ids.front();
      if (!applied) std::this_thread::sleep_for(100ms);
    }
    if (!applied) break;
  }
  ledger_.collect_orphans(blobs_, config_.blob_grace_seconds);
}

void AccountsService::run_sweeper() {
  std::unique_lock lock(sweeper_mutex_);
  while (running_) {
    sweeper_wake_.wait_for(lock, std::chrono::seconds(config_.sweep_interval_seconds), [this] { return !running_; });
    if (!running_) break;
    lock.unlock();
    try {
      if (store_.caught_up() && (!index_ready_ || index_ready_())) sweep();
    } catch (const std::exception& e) {
      log::warn("sweep_failed", {{"error", e.what()}});
    }
    lock.lock();
  }
}

}  // namespace imgpipe::gateway::accounts
