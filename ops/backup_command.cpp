// imgpipe backup / restore. The running server owns its RocksDB, so `backup`
// asks it (loopback admin API, POST /admin/backup, the admin token) to write
// a checkpoint into the target folder, then copies the blobs that checkpoint
// references itself, with progress; `restore` needs no server. See
// storage/backup.h for the folder's layout and why the snapshot is consistent.
#include <algorithm>
#include <cstdlib>
#include <filesystem>
#include <iostream>
#include <string>

#include <nlohmann/json.hpp>

#include "ops/admin_client.h"
#include "ops/maintenance_commands.h"
#include "storage/backup.h"

namespace imgpipe::ops {
namespace {

namespace fs = std::filesystem;

constexpr const char* kBackupUsage = R"(Usage: imgpipe backup --to DIR [--data-dir DATA] [--server URL] [--admin-token-file F]

Takes a consistent snapshot of a RUNNING server: its index (images, keys,
usage and, on the embedded bus, the topics) as a RocksDB checkpoint of one
moment, plus every blob that snapshot references (hard links when DIR is on
the data dir's filesystem, copies otherwise). Uploads go on meanwhile; what
arrives after the checkpoint is not in the backup. DIR must be absent or
empty; BACKUP.json is written last (a folder without it is incomplete).

Options:
  --to DIR                 the backup folder (created)
  --data-dir DATA          the server's data dir (default ./data, or IMGPIPE_DATA_DIR):
                           its admin.url, admin.token and token.secret are read
  --server URL             the server's address (default: DATA/admin.url)
  --admin-token-file F     the admin token (default: DATA/admin.token)
)";

constexpr const char* kRestoreUsage = R"(Usage: imgpipe restore --from DIR --data-dir NEW

Brings a backup made by `imgpipe backup` back as a new data dir; then start
a server on it (imgpipe serve --data-dir NEW). NEW must be absent or empty.
Files are hard-linked where possible (blobs and table files never change in
place), the index's changing files are copied.
)";

// Progress on stderr, about ten lines per run, and the last one always.
storage::backup::OnProgress printer(const char* verb) {
  return [verb, last = uint64_t{0}](const storage::backup::Progress& p) mutable {
    uint64_t step = std::max<uint64_t>(1, p.total / 10);
    if (p.done != p.total && p.done - last < step) return;
    last = p.done;
    std::cerr << "imgpipe " << verb << ": " << p.phase << " " << p.done << "/" << p.total << " files, " << p.bytes
              << " bytes\n";
  };
}

struct Args {
  std::string to, from, data_dir, server, token_file;
};

bool parse(int argc, char** argv, const char* usage, Args& a) {
  a.data_dir = std::getenv("IMGPIPE_DATA_DIR") ? std::getenv("IMGPIPE_DATA_DIR") : "";
  for (int i = 1; i < argc; ++i) {
    std::string flag = argv[i];
    if (flag == "--help" || flag == "-h") {
      std::cout << usage;
      std::exit(0);
    }
    if (i + 1 >= argc) {
      std::cerr << usage;
      return false;
    }
    std::string value = argv[++i];
    if (flag == "--to") a.to = value;
    else if (flag == "--from") a.from = value;
    else if (flag == "--data-dir") a.data_dir = value;
    else if (flag == "--server") a.server = value;
    else if (flag == "--admin-token-file") a.token_file = value;
    else {
      std::cerr << "unknown option " << flag << "\n\n" << usage;
      return false;
    }
  }
  return true;
}

}  // namespace

int backup_command(int argc, char** argv) {
  Args a;
  if (!parse(argc, argv, kBackupUsage, a) || a.to.empty()) {
    if (a.to.empty()) std::cerr << "imgpipe backup: --to DIR is required\n";
    return 2;
  }
  fs::path data(a.data_dir.empty() ? "./data" : a.data_dir);
  auto server = a.server.empty() ? read_first_line(data / "admin.url") : a.server;
  auto token = read_first_line(a.token_file.empty() ? data / "admin.token" : fs::path(a.token_file));
  if (server.empty() || token.empty()) {
    std::cerr << "imgpipe backup: no running server found in " << data
              << " (admin.url and admin.token are written by imgpipe serve); use --data-dir or --server\n";
    return 1;
  }
  while (!server.empty() && server.back() == '/') server.pop_back();
  auto to = fs::absolute(a.to).lexically_normal();
  try {
    auto answer = admin_call("POST", server + "/admin/backup", token, nlohmann::json{{"to", to.string()}}.dump(), 300);
    if (answer.status != 200) {
      std::cerr << "imgpipe backup: the server did not take the checkpoint: "
                << (answer.error.empty() ? std::to_string(answer.status) + " " + answer.body : answer.error) << "\n";
      return 1;
    }
    auto reply = nlohmann::json::parse(answer.body, nullptr, false);
    fs::path blob_root = reply.is_object() ? reply.value("blob_root", "") : "";
    std::cerr << "imgpipe backup: index checkpoint written to " << (to / "index").string() << "\n";
    auto s = storage::backup::copy_blobs(to, blob_root, data / "token.secret", printer("backup"));
    std::cout << "backup: " << s.images << " images, " << s.files << " files (" << s.linked << " linked, " << s.copied
              << " copied), " << s.bytes << " bytes in " << to.string() << "\n";
    return 0;
  } catch (const std::exception& e) {
    std::cerr << "imgpipe backup: " << e.what() << "\n";
    return 1;
  }
}

int restore_command(int argc, char** argv) {
  Args a;
  if (!parse(argc, argv, kRestoreUsage, a) || a.from.empty() || a.data_dir.empty()) {
    std::cerr << "imgpipe restore: --from DIR and --data-dir NEW are required\n";
    return 2;
  }
  try {
    auto s = storage::backup::restore(a.from, a.data_dir, printer("restore"));
    std::cout << "restore: " << s.images << " images, " << s.files << " files (" << s.linked << " linked, " << s.copied
              << " copied) into " << a.data_dir << "; start it with: imgpipe serve --data-dir " << a.data_dir << "\n";
    return 0;
  } catch (const std::exception& e) {
    std::cerr << "imgpipe restore: " << e.what() << "\n";
    return 1;
  }
}

}  // namespace imgpipe::ops
