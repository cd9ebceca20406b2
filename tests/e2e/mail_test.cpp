// Mail that arrives: verification mail goes over SMTP to a real SMTP server
// on loopback (ops/smtp/server.py, aiosmtpd), started and stopped by the test.
// While that server is down, key creation still answers 201, the message
// waits in the outbox (`imgpipe mail ls` shows its state), is retried, and
// arrives exactly once when the server comes back, across restarts.
#include <sys/socket.h>

#include <regex>

#include "tests/e2e/child_process.h"
#include "tests/e2e/harness.h"

namespace imgpipe::e2e {
namespace {

using json = nlohmann::json;

// The SMTP server on `port`; every message it takes is a file in dir().
class SmtpServer {
 public:
  SmtpServer() : port_(free_port()) {
    char tmpl[] = "/tmp/imgpipe-smtp.XXXXXX";
    if (!mkdtemp(tmpl)) throw std::runtime_error("mkdtemp failed");
    dir_ = tmpl;
  }
  ~SmtpServer() {
    stop();
    if (!std::getenv("IMGPIPE_TEST_KEEP")) fs::remove_all(dir_);
  }
  void start() {
    child_ = std::make_unique<ChildProcess>(
        std::vector<std::string>{"/usr/bin/python3", (source_dir() / "ops/smtp/server.py").string(), "--port",
                                 std::to_string(port_), "--dir", (dir_ / "mail").string()},
        dir_ / "server.log");
    child_->start();
    bool up = eventually([&] { return !raw_exchange(port_, "QUIT\r\n", 5s).empty(); }, 30s);
    if (!up) throw std::runtime_error("SMTP server did not start: " + child_->tail());
  }
  void stop() {
    if (child_) child_->term();
    child_.reset();
  }
  int port() const { return port_; }
  std::string url() const { return "smtp://127.0.0.1:" + std::to_string(port_); }
  // Every message received, oldest first.
  std::vector<std::string> messages() const {
    std::vector<fs::path> files;
    std::error_code ec;
    for (const auto& e : fs::directory_iterator(dir_ / "mail", ec))
      if (e.path().extension() == ".eml") files.push_back(e.path());
    std::sort(files.begin(), files.end());
    std::vector<std::string> out;
    for (const auto& f : files) out.push_back(read_file(f));
    return out;
  }

 private:
  int port_;
  fs::path dir_;
  std::unique_ptr<ChildProcess> child_;
};

std::string header(const std::string& message, const std::string& name) {
  std::smatch m;
  if (std::regex_search(message, m, std::regex("(^|\r?\n)" + name + ": ([^\r\n]*)"))) return m[2].str();
  return {};
}

std::string link_in(const std::string& message) {
  std::smatch m;
  return std::regex_search(message, m, std::regex(R"(https?://\S+/v1/keys/verify\?token=[A-Za-z0-9_.\-]+)")) ? m.str()
                                                                                                             : "";
}

Response create_key(const ServerProcess& s, const std::string& email) {
  return post_json(s.url("/v1/keys"), json{{"email", email}});
}

std::string cli(const ServerProcess& s, std::vector<std::string> args) {
  args.insert(args.begin(), imgpipe_binary().string());
  args.insert(args.end(), {"--data-dir", s.data_dir().string()});
  return run(args, 30s).out;
}

bool key_verified(const ServerProcess& s, const std::string& key_id) {
  auto answer = json::parse(cli(s, {"keys", "ls", "--json"}), nullptr, false);
  if (!answer.is_object()) return false;
  for (const auto& k : answer.value("keys", json::array()))
    if (k.value("key_id", "") == key_id) return k.value("verified", false);
  return false;
}

// The `mail ls` line of the message to `email`.
std::string mail_line(const ServerProcess& s, const std::string& email) {
  auto out = cli(s, {"mail", "ls"});
  std::istringstream in(out);
  std::string line;
  while (std::getline(in, line))
    if (line.find("<" + email + ">") != std::string::npos) return line;
  return {};
}

int attempts_of(const std::string& line) {
  std::smatch m;
  return std::regex_search(line, m, std::regex(R"(attempts=(\d+))")) ? std::stoi(m[1].str()) : 0;
}

TEST(Mail, VerificationMailArrivesWithAWorkingLink) {
  SmtpServer smtp;
  smtp.start();
  ServerOptions options;
  options.extra_args = {"--smtp-url", smtp.url(), "--smtp-from", "imgpipe <noreply@imgpipe.test>"};
  ServerProcess s(options);
  s.start();
  auto r = create_key(s, "alice@example.com");
  ASSERT_EQ(r.status, 201) << r.describe();
  auto key_id = r.json().value("key_id", "");

  ASSERT_TRUE(eventually([&] { return smtp.messages().size() == 1; }, 60s)) << s.log_tail();
  auto m = smtp.messages()[0];
  EXPECT_EQ(header(m, "X-Envelope-To"), "alice@example.com") << m;
  EXPECT_EQ(header(m, "To"), "<alice@example.com>");
  EXPECT_EQ(header(m, "From"), "imgpipe <noreply@imgpipe.test>");
  EXPECT_EQ(header(m, "Subject"), "Verify your email for imgpipe");
  EXPECT_NE(m.find(key_id), std::string::npos);
  // The API key itself never travels by mail.
  EXPECT_EQ(m.find(r.json().value("key", "")), std::string::npos);

  auto link = link_in(m);
  ASSERT_EQ(link.rfind(s.base_url() + "/v1/keys/verify?token=", 0), 0u) << m;
  EXPECT_FALSE(key_verified(s, key_id));
  auto page = http_get(link);
  EXPECT_EQ(page.status, 200) << page.describe();
  EXPECT_TRUE(key_verified(s, key_id));

  EXPECT_TRUE(eventually([&] { return mail_line(s, "alice@example.com").find("state=sent attempts=1") != std::string::npos; }))
      << cli(s, {"mail", "ls"});
  EXPECT_EQ(s.stop(), 0);
}

TEST(Mail, WaitsInTheOutboxWhileTheServerIsDownAndArrivesOnce) {
  SmtpServer smtp;  // not started yet: nothing listens on its port
  ServerOptions options;
  options.extra_args = {"--smtp-url", smtp.url(), "--smtp-retry-min", "1", "--smtp-retry-max", "2"};
  ServerProcess s(options);
  s.start();
  auto r = create_key(s, "bob@example.com");
  ASSERT_EQ(r.status, 201) << r.describe();

  // Tried, failed, retried: pending with the error and when it tries next
  // (between attempts; during one the outbox says state=sending).
  std::string line;
  ASSERT_TRUE(eventually([&] {
    line = mail_line(s, "bob@example.com");
    return attempts_of(line) >= 2 && line.find("state=pending") != std::string::npos;
  }, 60s)) << line;
  EXPECT_NE(line.find("next_try="), std::string::npos) << line;
  EXPECT_NE(line.find("last_error=\"Couldn't connect"), std::string::npos) << line;

  // The pending state survives a restart; then the mail server comes back.
  ASSERT_EQ(s.stop(), 0);
  s.start();
  smtp.start();
  ASSERT_TRUE(eventually([&] { return smtp.messages().size() == 1; }, 60s)) << cli(s, {"mail", "ls"});
  ASSERT_TRUE(eventually([&] { return mail_line(s, "bob@example.com").find("state=sent") != std::string::npos; }))
      << cli(s, {"mail", "ls"});
  EXPECT_EQ(header(smtp.messages()[0], "X-Envelope-To"), "bob@example.com");
  EXPECT_FALSE(link_in(smtp.messages()[0]).empty());

  // Never twice: after another restart, a new key's mail arrives (so the
  // sender has gone through its outbox) and the first one did not come again.
  ASSERT_EQ(s.stop(), 0);
  s.start();
  ASSERT_EQ(create_key(s, "carol@example.com").status, 201);
  ASSERT_TRUE(eventually([&] { return smtp.messages().size() >= 2; }, 60s)) << cli(s, {"mail", "ls"});
  auto all = smtp.messages();
  ASSERT_EQ(all.size(), 2u);
  EXPECT_EQ(header(all[0], "X-Envelope-To"), "bob@example.com");
  EXPECT_EQ(header(all[1], "X-Envelope-To"), "carol@example.com");
  EXPECT_EQ(s.stop(), 0);
}

}  // namespace
}  // namespace imgpipe::e2e
