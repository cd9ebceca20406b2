// imgpipe keys: the operator's view of API keys. In the embedded mode the
// server holds the RocksDB lock, so this command never opens the index: it
// calls the running gateway's admin API (/admin/keys, loopback only) with the
// token the server keeps in <data-dir>/admin.token, at the address the
// server wrote to <data-dir>/admin.url. Against Kafka any gateway will do:
// what it changes goes onto imgpipe.accounts and reaches every gateway.
#include <cstring>
#include <filesystem>
#include <fstream>
#include <iomanip>
#include <iostream>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include "ops/account_commands.h"
#include "ops/admin_client.h"

namespace imgpipe::ops {
namespace {

constexpr const char* kKeysUsage = R"(Usage: imgpipe keys <command> [options]

Manage API keys on a running gateway (imgpipe serve or gateway).

Commands:
  ls                      every key: id, email, plan, verified, status, usage
  set-plan KEY_ID PLAN    move a key to a plan of the tier table (free, pro,
                          business, enterprise, or those of --plans-file)
  revoke KEY_ID           the key stops working at once (401 unauthorized)

Options:
  --data-dir DIR          the server's data dir (default ./data, or IMGPIPE_DATA_DIR):
                          the admin token and address are read from it
  --server URL            the gateway's address (default: DIR/admin.url)
  --admin-token-file F    the admin token (default: DIR/admin.token)
  --json                  print the server's JSON answer

How it works: the server holds its index open, so this command asks it over
its admin API, which answers only on loopback and only to the bearer of the
token the server generated in DIR/admin.token (mode 0600). See docs/accounts.md.
)";

std::string human_bytes(uint64_t b) {
  const char* units[] = {"B", "KB", "MB", "GB", "TB"};
  double v = static_cast<double>(b);
  int i = 0;
  while (v >= 1024 && i < 4) v /= 1024, ++i;
  std::ostringstream out;
  out << std::fixed << std::setprecision(i ? 1 : 0) << v << " " << units[i];
  return out.str();
}

}  // namespace

int keys_command(int argc, char** argv) {
  std::vector<std::string> positional;
  std::string data_dir = std::getenv("IMGPIPE_DATA_DIR") ? std::getenv("IMGPIPE_DATA_DIR") : "./data";
  std::string server, token_file;
  bool as_json = false;
  for (int i = 1; i < argc; ++i) {
    std::string a = argv[i];
    auto value = [&](const char* flag) -> std::string {
      if (i + 1 >= argc) {
        std::cerr << "imgpipe keys: " << flag << " needs a value\n";
        std::exit(2);
      }
      return argv[++i];
    };
    if (a == "--help" || a == "-h") {
      std::cout << kKeysUsage;
      return 0;
    } else if (a == "--data-dir") data_dir = value("--data-dir");
    else if (a == "--server") server = value("--server");
    else if (a == "--admin-token-file") token_file = value("--admin-token-file");
    else if (a == "--json") as_json = true;
    else if (a.rfind("--", 0) == 0) {
      std::cerr << "imgpipe keys: unknown option " << a << "\n\n" << kKeysUsage;
      return 2;
    } else positional.push_back(a);
  }
  if (positional.empty()) {
    std::cerr << kKeysUsage;
    return 2;
  }
  std::filesystem::path dir(data_dir);
  if (server.empty()) server = read_first_line(dir / "admin.url");
  auto token = read_first_line(token_file.empty() ? dir / "admin.token" : std::filesystem::path(token_file));
  if (server.empty() || token.empty()) {
    std::cerr << "imgpipe keys: no running server found in " << dir
              << " (admin.url and admin.token are written by imgpipe serve); use --data-dir or --server\n";
    return 1;
  }
  while (!server.empty() && server.back() == '/') server.pop_back();
  const auto& cmd = positional[0];
  AdminAnswer answer;
  if (cmd == "ls" && positional.size() == 1) answer = admin_call("GET", server + "/admin/keys", token, "");
  else if (cmd == "set-plan" && positional.size() == 3)
    answer = admin_call("POST", server + "/admin/keys/" + positional[1] + "/plan", token,
                  nlohmann::json{{"plan", positional[2]}}.dump());
  else if (cmd == "revoke" && positional.size() == 2)
    answer = admin_call("POST", server + "/admin/keys/" + positional[1] + "/revoke", token, "{}");
  else {
    std::cerr << "imgpipe keys: bad arguments\n\n" << kKeysUsage;
    return 2;
  }
  if (!answer.error.empty()) {
    std::cerr << "imgpipe keys: cannot reach " << server << ": " << answer.error << "\n";
    return 1;
  }
  auto body = nlohmann::json::parse(answer.body, nullptr, false);
  if (answer.status != 200) {
    std::cerr << "imgpipe keys: " << (body.is_object() ? body.value("message", answer.body) : answer.body) << " (HTTP "
              << answer.status << ")\n";
    return 1;
  }
  if (as_json) {
    std::cout << body.dump(2) << "\n";
    return 0;
  }
  if (cmd == "ls") {
    std::cout << std::left << std::setw(18) << "KEY_ID" << std::setw(32) << "EMAIL" << std::setw(12) << "PLAN"
              << std::setw(10) << "VERIFIED" << std::setw(9) << "STATUS" << std::setw(16) << "UPLOADS/MONTH"
              << "STORAGE\n";
    for (const auto& k : body.value("keys", nlohmann::json::array())) {
      const auto& u = k["usage"];
      std::cout << std::setw(18) << k.value("key_id", "") << std::setw(32) << k.value("email", "") << std::setw(12)
                << k.value("plan", "") << std::setw(10) << (k.value("verified", false) ? "yes" : "no") << std::setw(9)
                << (k.value("revoked", false) ? "revoked" : "active") << std::setw(16)
                << (std::to_string(u.value("uploads_used", 0)) + "/" + std::to_string(u.value("uploads_limit", 0)))
                << human_bytes(u.value("storage_used_bytes", uint64_t{0})) << " / "
                << human_bytes(u.value("storage_limit_bytes", uint64_t{0})) << "\n";
    }
  } else {
    std::cout << body.value("key_id", "") << ": plan " << body.value("plan", "") << ", "
              << (body.value("revoked", false) ? "revoked" : "active") << "\n";
  }
  return 0;
}

}  // namespace imgpipe::ops
