#pragma once
// Outgoing mail (the verification link). Every message is written to the
// outbox, <data-dir>/outbox/<id>.eml (mode 0600: it holds a live link), which
// `imgpipe mail ls|show` reads; with --smtp-url it is also sent over SMTP
// (libcurl) from a background thread, so no request waits on a mail server.

#include <condition_variable>
#include <deque>
#include <filesystem>
#include <mutex>
#include <string>
#include <thread>

namespace imgpipe::gateway::accounts {

struct MailConfig {
  std::filesystem::path outbox;  // <data-dir>/outbox
  std::string smtp_url;          // --smtp-url smtp://host:port or smtps://user:pass@host; empty: outbox only
  std::string from = "imgpipe <noreply@localhost>";  // --smtp-from
};

struct Mail {
  std::string to, subject, body;
};

class Mailer {
 public:
  explicit Mailer(MailConfig config);
  ~Mailer();
  // Writes the outbox file now (throws on failure), queues the SMTP delivery.
  // Returns the outbox id.
  std::string send(const Mail& mail, int64_t now);

 private:
  void run();
  std::string render(const Mail& mail, int64_t now) const;

  MailConfig config_;
  std::mutex mutex_;
  std::condition_variable wake_;
  std::deque<std::pair<std::string, std::string>> queue_;  // (to, rendered message)
  bool stopping_ = false;
  std::thread thread_;
};

}  // namespace imgpipe::gateway::accounts
