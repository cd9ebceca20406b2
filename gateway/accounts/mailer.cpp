#include "gateway/accounts/mailer.h"

#include <ctime>

#include <curl/curl.h>

#include "gateway/accounts/secrets.h"
#include "schemas/log.h"

namespace imgpipe::gateway::accounts {

Mailer::Mailer(MailConfig config) : config_(std::move(config)) {
  std::filesystem::create_directories(config_.outbox);
  std::filesystem::permissions(config_.outbox, std::filesystem::perms::owner_all,
                               std::filesystem::perm_options::replace);
  if (!config_.smtp_url.empty()) thread_ = std::thread([this] { run(); });
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
  return "Date: " + std::string(date) + "\r\nMessage-ID: <" + random_base62(20) + "@imgpipe>\r\nFrom: " + config_.from + "\r\nTo: <" + mail.to + ">\r\nSubject: " +
         mail.subject + "\r\nMIME-Version: 1.0\r\nContent-Type: text/plain; charset=utf-8\r\n\r\n" + mail.body;
}

std::string Mailer::send(const Mail& mail, int64_t now) {
  auto id = std::to_string(now) + "-" + random_base62(8);
  auto message = render(mail, now);
  write_private_file(config_.outbox / (id + ".eml"), message);
  if (!config_.smtp_url.empty()) {
    {
      std::lock_guard lock(mutex_);
      queue_.emplace_back(mail.to, message);
    }
    wake_.notify_one();
  }
  return id;
}

namespace {

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

std::string address_of(const std::string& from) {
  auto lt = from.find('<');
  auto gt = from.find('>');
  return lt != std::string::npos && gt != std::string::npos && gt > lt ? from.substr(lt, gt - lt + 1) : "<" + from + ">";
}

}  // namespace

void Mailer::run() {
  for (;;) {
    std::pair<std::string, std::string> item;
    {
      std::unique_lock lock(mutex_);
      wake_.wait(lock, [this] { return stopping_ || !queue_.empty(); });
      if (queue_.empty()) return;
      item = std::move(queue_.front());
      queue_.pop_front();
    }
    CURL* curl = curl_easy_init();
    if (!curl) continue;
    Upload up{&item.second};
    curl_slist* rcpt = curl_slist_append(nullptr, ("<" + item.first + ">").c_str());
    curl_easy_setopt(curl, CURLOPT_URL, config_.smtp_url.c_str());
    curl_easy_setopt(curl, CURLOPT_MAIL_FROM, address_of(config_.from).c_str());
    curl_easy_setopt(curl, CURLOPT_MAIL_RCPT, rcpt);
    curl_easy_setopt(curl, CURLOPT_READFUNCTION, read_message);
    curl_easy_setopt(curl, CURLOPT_READDATA, &up);
    curl_easy_setopt(curl, CURLOPT_UPLOAD, 1L);
    curl_easy_setopt(curl, CURLOPT_USE_SSL, static_cast<long>(CURLUSESSL_TRY));
    curl_easy_setopt(curl, CURLOPT_TIMEOUT, 30L);
    curl_easy_setopt(curl, CURLOPT_NOSIGNAL, 1L);
    CURLcode rc = curl_easy_perform(curl);
    curl_slist_free_all(rcpt);
    curl_easy_cleanup(curl);
    // The recipient is personal data and the message holds a live link: log neither.
    if (rc != CURLE_OK) log::warn("mail_send_failed", {{"error", curl_easy_strerror(rc)}});
    else log::info("mail_sent");
  }
}

}  // namespace imgpipe::gateway::accounts
