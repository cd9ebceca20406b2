#pragma once
// Outgoing mail (the verification link), through a persisted outbox.
//
// Every message is written to <data-dir>/outbox/<id>.eml (mode 0600: it holds
// a live link) with its delivery state beside it in <id>.state (JSON, replaced
// atomically). With --smtp-url a background thread delivers it over SMTP
// (libcurl), so no request waits on a mail server: a failed attempt is retried
// with exponential backoff (--smtp-retry-min doubling up to --smtp-retry-max)
// until the server takes it, across restarts, and a message the server took is
// never sent again. A 5xx answer (the server refuses it for good) or a message
// older than give_up_seconds ends as `failed`.
//
// Crash between the server's "250 OK" to DATA and writing `sent`: the message
// is found in `sending` on restart and sent again, with the same Message-ID
// (at-least-once, in that window of a few milliseconds only). The other
// choice, at-most-once, would lose the mail whenever the process dies during
// any attempt (connect, transfer: seconds), and a lost verification mail
// locks the user out, while a duplicate with the same Message-ID is dropped
// by most mail stores and is harmless when it is not.

#include <atomic>
#include <condition_variable>
#include <cstdint>
#include <filesystem>
#include <map>
#include <mutex>
#include <string>
#include <thread>
#include <vector>

namespace imgpipe::gateway::accounts {

struct MailConfig {
  std::filesystem::path outbox;  // <data-dir>/outbox
  std::string smtp_url;          // --smtp-url smtp://host:port or smtps://user:pass@host; empty: outbox only
  std::string from = "imgpipe <noreply@localhost>";  // --smtp-from
  int retry_min_seconds = 10;                         // --smtp-retry-min: the first retry's delay
  int retry_max_seconds = 3600;                       // --smtp-retry-max: backoff cap
  int64_t give_up_seconds = 7 * 86400;                // the verification link's lifetime: later it is useless
};

struct Mail {
  std::string to, subject, body;
};

// One message's delivery, as persisted in <id>.state and shown by `imgpipe mail ls`.
struct Delivery {
  // pending: waiting for its next try; sending: an attempt is under way (found
  // on start: the process died during it); sent; failed: given up;
  // outbox-only: no --smtp-url when it was written.
  std::string state = "pending";
  std::string to;
  int attempts = 0;
  int64_t created = 0, next_try = 0, sent_at = 0;  // Unix seconds, real time
  std::string last_error;
};

struct OutboxEntry {
  std::string id;
  std::filesystem::path message;  // <id>.eml
  Delivery delivery;
};

// Every message of an outbox, oldest first. A message whose state file is
// missing (the process died between the two writes) reads as pending.
std::vector<OutboxEntry> read_outbox(const std::filesystem::path& outbox);

class Mailer {
 public:
  explicit Mailer(MailConfig config);
  ~Mailer();
  // Writes the outbox files now (throws on failure) and wakes the sender.
  // `now` dates the message (the accounts clock). Returns the outbox id.
  std::string send(const Mail& mail, int64_t now);

 private:
  void run();
  std::string render(const Mail& mail, int64_t now) const;
  void save(const std::string& id, const Delivery& d);
  // One SMTP transaction; empty on success, else the error. `permanent`: a 5xx answer.
  std::string deliver(const Delivery& d, const std::string& id, bool& permanent);

  MailConfig config_;
  std::mutex mutex_;
  std::condition_variable wake_;
  std::map<std::string, Delivery> due_;  // id -> delivery, pending ones only
  std::atomic<bool> stopping_ = false;  // also read by libcurl's progress callback
  std::thread thread_;
};

}  // namespace imgpipe::gateway::accounts
