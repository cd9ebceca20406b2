#include "gateway/accounts/mailer.h"

#include <algorithm>
#include <chrono>
#include <cstring>
#include <ctime>
#include <fstream>
#include <iterator>

#include <curl/curl.h>
#include <nlohmann/json.hpp>

#include "gateway/accounts/secrets.h"
#include "schemas/log.h"

namespace imgpipe::gateway::accounts {
namespace {

namespace fs = std::filesystem;
using json = nlohmann::json;

int64_t wall_now() {
  return std::chrono::duration_cast<std::chrono::seconds>(std::chrono::system_clock::now().time_since_epoch()).count();
}

std::string slurp(const fs::path& p) {
  std::ifstream in(p, std::ios::binary);
  return {std::istreambuf_iterator<char>(in), {}};
}

std::string header_of(const std::string& message, const std::string& name) {
  size_t pos = 0;
  while (pos < message.size()) {
    auto end = message.find("\r\n", pos);
    if (end == std::string::npos || end == pos) break;
    auto line = message.substr(pos, end - pos);
    if (line.rfind(name + ": ", 0) == 0) return line.substr(name.size() + 2);
    pos = end + 2;
  }
  return {};
}

json to_json(const Delivery& d) {
  return {{"state", d.state},       {"to", d.to},           {"attempts", d.attempts}, {"created", d.created},
          {"next_try", d.next_try}, {"sent_at", d.sent_at}, {"last_error", d.last_error}};
}

Delivery from_json(const json& j) {
  Delivery d;
  d.state = j.value("state", "pending");
  d.to = j.value("to", "");
  d.attempts = j.value("attempts", 0);
  d.created = j.value("created", int64_t{0});
  d.next_try = j.value("next_try", int64_t{0});
  d.sent_at = j.value("sent_at", int64_t{0});
  d.last_error = j.value("last_error", "");
  return d;
}

struct Upload {
  const std::string* data;
  size_t offset = 0;
};

size_t read_message(char* buffer, size_t size, size_t count, void* user) {
  auto* up = static_cast<Upload*>(user);
  size_t n = std::min(size * count, up->data->size() - up->offset);
  std::memcpy(buffer, up->data->data() + up->offset, n);
  up->offset += n;
  return n;
}

// Aborts an attempt when the mailer stops, so shutdown never waits on a slow mail server.
int abort_when_stopping(void* stopping, curl_off_t, curl_off_t, curl_off_t, curl_off_t) {
  return static_cast<const std::atomic<bool>*>(stopping)->load() ? 1 : 0;
}

std::string address_of(const std::string& from) {
  auto lt = from.find('<');
  auto gt = from.find('>');
  return lt != std::string::npos && gt != std::string::npos && gt > lt ? from.substr(lt, gt - lt + 1) : "<" + from + ">";
}

}  // namespace

std::vector<OutboxEntry> read_outbox(const fs::path& outbox) {
  std::vector<OutboxEntry> out;
  std::error_code ec;
  for (const auto& e : fs::directory_iterator(outbox, ec)) {
    if (e.path().extension() != ".eml") continue;
    OutboxEntry entry{e.path().stem().string(), e.path(), {}};
    auto state = slurp(fs::path(e.path()).replace_extension(".state"));
    auto j = json::parse(state, nullptr, false);
    if (j.is_object()) entry.delivery = from_json(j);
    else {
      // Died between writing the message and its state: still to be sent.
      auto to = header_of(slurp(e.path()), "To");
      entry.delivery.to = to.size() > 2 ? to.substr(1, to.size() - 2) : to;
      entry.delivery.created = entry.delivery.next_try = wall_now();
    }
    out.push_back(std::move(entry));
  }
  std::sort(out.begin(), out.end(), [](const auto& a, const auto& b) { return a.id < b.id; });
  return out;
}

Mailer::Mailer(MailConfig config) : config_(std::move(config)) {
  fs::create_directories(config_.outbox);
  fs::permissions(config_.outbox, fs::perms::owner_all, fs::perm_options::replace);
  if (config_.smtp_url.empty()) return;
  // Resume what a previous run left: pending messages, and any it was sending when it died.
  for (auto& e : read_outbox(config_.outbox))
    if (e.delivery.state == "pending" || e.delivery.state == "sending") {
      e.delivery.state = "pending";
      due_.emplace(e.id, e.delivery);
    }
  thread_ = std::thread([this] { run(); });
}

Mailer::~Mailer() {
  {
    std::lock_guard lock(mutex_);
    stopping_ = true;
  }
  wake_.notify_all();
  if (thread_.joinable()) thread_.join();
}

std::string Mailer::render(const Mail& mail, int64_t now) const {
  std::time_t t = static_cast<std::time_t>(now);
  std::tm tm{};
  gmtime_r(&t, &tm);
  char date[64];
  std::strftime(date, sizeof date, "%a, %d %b %Y %H:%M:%S +0000", &tm);
  return "Date: " + std::string(date) + "\r\nMessage-ID: <" + random_base62(20) + "@imgpipe>\r\nFrom: " + config_.from +
         "\r\nTo: <" + mail.to + ">\r\nSubject: " + mail.subject +
         "\r\nMIME-Version: 1.0\r\nContent-Type: text/plain; charset=utf-8\r\n\r\n" + mail.body;
}

void Mailer::save(const std::string& id, const Delivery& d) {
  write_private_file(config_.outbox / (id + ".state"), to_json(d).dump() + "\n");
}

std::string Mailer::send(const Mail& mail, int64_t now) {
  auto id = std::to_string(now) + "-" + random_base62(8);
  Delivery d;
  d.to = mail.to;
  d.created = d.next_try = wall_now();
  if (config_.smtp_url.empty()) d.state = "outbox-only";
  // The message first: a crash before its state leaves it pending (see read_outbox).
  write_private_file(config_.outbox / (id + ".eml"), render(mail, now));
  save(id, d);
  if (!config_.smtp_url.empty()) {
    {
      std::lock_guard lock(mutex_);
      due_.emplace(id, d);
    }
    wake_.notify_one();
  }
  return id;
}

std::string Mailer::deliver(const Delivery& d, const std::string& id, bool& permanent) {
  auto message = slurp(config_.outbox / (id + ".eml"));
  if (message.empty()) {
    permanent = true;
    return "the message file is missing or empty";
  }
  CURL* curl = curl_easy_init();
  if (!curl) return "curl_easy_init failed";
  Upload up{&message};
  curl_slist* rcpt = curl_slist_append(nullptr, ("<" + d.to + ">").c_str());
  curl_easy_setopt(curl, CURLOPT_URL, config_.smtp_url.c_str());
  curl_easy_setopt(curl, CURLOPT_MAIL_FROM, address_of(config_.from).c_str());
  curl_easy_setopt(curl, CURLOPT_MAIL_RCPT, rcpt);
  curl_easy_setopt(curl, CURLOPT_READFUNCTION, read_message);
  curl_easy_setopt(curl, CURLOPT_READDATA, &up);
  curl_easy_setopt(curl, CURLOPT_UPLOAD, 1L);
  curl_easy_setopt(curl, CURLOPT_USE_SSL, static_cast<long>(CURLUSESSL_TRY));
  curl_easy_setopt(curl, CURLOPT_CONNECTTIMEOUT, 10L);
  curl_easy_setopt(curl, CURLOPT_TIMEOUT, 60L);
  curl_easy_setopt(curl, CURLOPT_NOSIGNAL, 1L);
  curl_easy_setopt(curl, CURLOPT_NOPROGRESS, 0L);
  curl_easy_setopt(curl, CURLOPT_XFERINFOFUNCTION, abort_when_stopping);
  curl_easy_setopt(curl, CURLOPT_XFERINFODATA, &stopping_);
  CURLcode rc = curl_easy_perform(curl);
  long smtp_code = 0;
  curl_easy_getinfo(curl, CURLINFO_RESPONSE_CODE, &smtp_code);
  curl_slist_free_all(rcpt);
  curl_easy_cleanup(curl);
  if (rc == CURLE_OK) return {};
  permanent = smtp_code >= 500 && smtp_code < 600;
  std::string error = curl_easy_strerror(rc);
  if (smtp_code) error += " (SMTP " + std::to_string(smtp_code) + ")";
  return error;
}

void Mailer::run() {
  for (;;) {
    std::string id;
    Delivery d;
    {
      std::unique_lock lock(mutex_);
      for (;;) {
        if (stopping_) return;
        auto next = std::min_element(due_.begin(), due_.end(),
                                     [](const auto& a, const auto& b) { return a.second.next_try < b.second.next_try; });
        if (next == due_.end()) {
          wake_.wait(lock);
          continue;
        }
        auto wait = next->second.next_try - wall_now();
        if (wait <= 0) {
          id = next->first;
          d = next->second;
          due_.erase(next);
          break;
        }
        wake_.wait_for(lock, std::chrono::seconds(wait));
      }
    }
    // `sending` is on disk before the first byte goes out: a restart that finds it knows an attempt was cut short.
    d.state = "sending";
    ++d.attempts;
    try {
      save(id, d);
    } catch (const std::exception& e) {
      log::error("mail_state_write_failed", {{"mail_id", id}, {"error", e.what()}});
    }
    bool permanent = false;
    auto error = deliver(d, id, permanent);
    auto now = wall_now();
    bool stopped_midway = stopping_ && !error.empty();
    if (error.empty()) {
      d.state = "sent";
      d.sent_at = now;
      d.last_error.clear();
      // The recipient is personal data and the message holds a live link: log neither.
      log::info("mail_sent", {{"mail_id", id}, {"attempts", d.attempts}});
    } else if (stopped_midway) {
      d.state = "pending";  // cut short by shutdown: the next start tries again
      d.last_error = "interrupted by shutdown";
    } else {
      d.last_error = error;
      if (permanent || now - d.created >= config_.give_up_seconds) {
        d.state = "failed";
        log::error("mail_failed", {{"mail_id", id}, {"attempts", d.attempts}, {"error", error}});
      } else {
        int64_t delay = config_.retry_min_seconds;
        for (int i = 1; i < d.attempts && delay < config_.retry_max_seconds; ++i) delay *= 2;
        d.state = "pending";
        d.next_try = now + std::min<int64_t>(delay, config_.retry_max_seconds);
        log::warn("mail_send_failed", {{"mail_id", id}, {"attempts", d.attempts}, {"error", error},
                                       {"retry_in_s", d.next_try - now}});
      }
    }
    try {
      save(id, d);
    } catch (const std::exception& e) {
      log::error("mail_state_write_failed", {{"mail_id", id}, {"error", e.what()}});
    }
    if (d.state == "pending" && !stopped_midway) {
      std::lock_guard lock(mutex_);
      due_.emplace(id, d);
    }
  }
}

}  // namespace imgpipe::gateway::accounts
