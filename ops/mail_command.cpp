// imgpipe mail: the outbox every outgoing message is written to (also when
// it is sent over SMTP), for operators without a mail server and for tests.
#include <algorithm>
#include <filesystem>
#include <fstream>
#include <iostream>
#include <sstream>
#include <string>
#include <vector>

#include "ops/account_commands.h"

namespace imgpipe::ops {
namespace {

constexpr const char* kMailUsage = R"(Usage: imgpipe mail <command> [--data-dir DIR]

The outbox: every message the server sends (email verification links) is
written to DIR/outbox/<id>.eml, mode 0600, whether or not --smtp-url is set.

Commands:
  ls          id, date, recipient and subject of each message, oldest first
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
    std::vector<std::filesystem::path> files;
    std::error_code ec;
    for (const auto& e : std::filesystem::directory_iterator(outbox, ec))
      if (e.path().extension() == ".eml") files.push_back(e.path());
    std::sort(files.begin(), files.end());
    for (const auto& f : files) {
      auto m = slurp(f);
      std::cout << f.stem().string() << "  " << header_of(m, "Date") << "  " << header_of(m, "To") << "  "
                << header_of(m, "Subject") << "\n";
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
