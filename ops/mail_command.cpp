// imgpipe mail: the outbox every outgoing message is written to (also when
// it is sent over SMTP) with each message's delivery state, for operators
// and for tests.
#include <ctime>
#include <filesystem>
#include <fstream>
#include <iostream>
#include <sstream>
#include <string>
#include <vector>

#include "gateway/accounts/mailer.h"
#include "ops/account_commands.h"

namespace imgpipe::ops {
namespace {

constexpr const char* kMailUsage = R"(Usage: imgpipe mail <command> [--data-dir DIR]

The outbox: every message the server sends (email verification links) is
written to DIR/outbox/<id>.eml, mode 0600, whether or not --smtp-url is set,
with its delivery state in <id>.state.

Commands:
  ls          each message, oldest first: id, date, recipient, subject, then
              its delivery: state (pending, sending, sent, failed,
              outbox-only), attempts, next try or sent time (UTC), last error
  show ID     the whole message (headers and body)

Options:
  --data-dir DIR   the server's data dir (default ./data, or IMGPIPE_DATA_DIR)
)";

std::string header_of(const std::string& message, const std::string& name) {
  std::istringstream in(message);
  std::string line;
  while (std::getline(in, line)) {
    if (!line.empty() && line.back() == '\r') line.pop_back();
    if (line.empty()) break;
    if (line.rfind(name + ": ", 0) == 0) return line.substr(name.size() + 2);
  }
  return {};
}

std::string utc(int64_t t) {
  if (t <= 0) return "-";
  std::time_t tt = static_cast<std::time_t>(t);
  std::tm tm{};
  gmtime_r(&tt, &tm);
  char buf[32];
  std::strftime(buf, sizeof buf, "%Y-%m-%dT%H:%M:%SZ", &tm);
  return buf;
}

std::string slurp(const std::filesystem::path& p) {
  std::ifstream in(p, std::ios::binary);
  return {std::istreambuf_iterator<char>(in), {}};
}

}  // namespace

int mail_command(int argc, char** argv) {
  std::vector<std::string> positional;
  std::string data_dir = std::getenv("IMGPIPE_DATA_DIR") ? std::getenv("IMGPIPE_DATA_DIR") : "./data";
  for (int i = 1; i < argc; ++i) {
    std::string a = argv[i];
    if (a == "--help" || a == "-h") {
      std::cout << kMailUsage;
      return 0;
    }
    if (a == "--data-dir" && i + 1 < argc) data_dir = argv[++i];
    else if (a.rfind("--", 0) == 0) {
      std::cerr << "imgpipe mail: unknown option " << a << "\n\n" << kMailUsage;
      return 2;
    } else positional.push_back(a);
  }
  auto outbox = std::filesystem::path(data_dir) / "outbox";
  if (positional.size() == 1 && positional[0] == "ls") {
    for (const auto& e : gateway::accounts::read_outbox(outbox)) {
      auto m = slurp(e.message);
      const auto& d = e.delivery;
      std::cout << e.id << "  " << header_of(m, "Date") << "  " << header_of(m, "To") << "  " << header_of(m, "Subject")
                << "  state=" << d.state << " attempts=" << d.attempts;
      if (d.state == "sent") std::cout << " sent=" << utc(d.sent_at);
      else if (d.state == "pending") std::cout << " next_try=" << utc(d.next_try);
      if (!d.last_error.empty()) std::cout << " last_error=\"" << d.last_error << "\"";
      std::cout << "\n";
    }
    return 0;
  }
  if (positional.size() == 2 && positional[0] == "show") {
    auto id = positional[1];
    if (id.find('/') != std::string::npos || id.find("..") != std::string::npos) {
      std::cerr << "imgpipe mail: bad id\n";
      return 2;
    }
    auto file = outbox / (id + ".eml");
    if (!std::filesystem::exists(file)) {
      std::cerr << "imgpipe mail: no message " << id << " in " << outbox << "\n";
      return 1;
    }
    std::cout << slurp(file);
    return 0;
  }
  std::cerr << kMailUsage;
  return 2;
}

}  // namespace imgpipe::ops
