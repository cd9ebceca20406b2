// imgpipe: the command's entry point. Each subcommand lives in its own file.
#include <cstring>
#include <iostream>
#include <string_view>

#include "gateway/docs/openapi.h"
#include "gateway/docs/reference.h"
#include "ops/account_commands.h"
#include "ops/maintenance_commands.h"
#include "ops/serve_command.h"
#include "ops/topics_command.h"
#include "schemas/errors.h"

namespace {

constexpr const char* kUsage = R"(imgpipe — a self-hosted image host that speaks the img.pro API

Usage: imgpipe <command> [options]     (imgpipe <command> --help for its options)

Commands:
  serve     gateway and workers in one process (the default way to run;
            embedded durable bus, or --kafka HOST:PORT)
  gateway   the HTTP gateway alone, against Kafka (--kafka)
  worker    the image workers alone, against Kafka (--kafka)
  topics    create or check the Kafka topics (topics create --kafka HOST:PORT)
  reindex   rebuild a gateway's index from the images topic (offline)
  replay    re-run past ingest jobs from an offset or a time
  backup    snapshot a running server into a folder (backup --to DIR)
  restore   bring a backup back into a new data dir (restore --from DIR --data-dir NEW)
  blobs     move a folder blob store into S3 (blobs migrate --from DIR --to s3://BUCKET/PREFIX)
  keys      list API keys, change a key's plan, revoke a key (on a running server)
  mail      the outbox of verification mail and its delivery (mail ls, mail show ID)
  errors    print the error reference (every code, HTTP status and action)
  openapi   print the OpenAPI 3.1 document (--public-url URL sets its server)
  version   print the version

Quick start:
  imgpipe serve --listen 127.0.0.1:8080 --data-dir ./data --public-url http://127.0.0.1:8080
  curl -F "file=@photo.jpg" http://127.0.0.1:8080/v1/upload
)";

constexpr const char* kErrorsUsage = R"(Usage: imgpipe errors

Prints the error reference as Markdown: every error code, its HTTP status,
its message and the action a caller should take (docs/errors.md is this output).
)";

constexpr const char* kOpenapiUsage = R"(Usage: imgpipe openapi [--public-url URL]

Prints the OpenAPI 3.1 document of both API shapes as JSON (what a server
serves at /openapi.json). --public-url sets the document's server URL.
)";

bool is_help(const char* arg) { return !std::strcmp(arg, "--help") || !std::strcmp(arg, "-h"); }

}  // namespace

int main(int argc, char** argv) {
  if (argc < 2 || !std::strcmp(argv[1], "--help") || !std::strcmp(argv[1], "-h") || !std::strcmp(argv[1], "help")) {
    std::cout << kUsage;
    return argc < 2 ? 2 : 0;
  }
  std::string_view command = argv[1];
  if (command == "serve" || command == "gateway" || command == "worker")
    return imgpipe::ops::serve_command(argv[1], argc - 1, argv + 1);
  if (command == "topics") return imgpipe::ops::topics_command(argc - 1, argv + 1);
  if (command == "reindex") return imgpipe::ops::reindex_command(argc - 1, argv + 1);
  if (command == "replay") return imgpipe::ops::replay_command(argc - 1, argv + 1);
  if (command == "backup") return imgpipe::ops::backup_command(argc - 1, argv + 1);
  if (command == "restore") return imgpipe::ops::restore_command(argc - 1, argv + 1);
  if (command == "blobs") return imgpipe::ops::blobs_command(argc - 1, argv + 1);
  if (command == "keys") return imgpipe::ops::keys_command(argc - 1, argv + 1);
  if (command == "mail") return imgpipe::ops::mail_command(argc - 1, argv + 1);
  if (command == "errors") {
    if (argc == 3 && is_help(argv[2])) return std::cout << kErrorsUsage, 0;
    if (argc != 2) return std::cerr << "imgpipe errors: takes no arguments\n\n" << kErrorsUsage, 2;
    std::cout << imgpipe::gateway::docs::error_reference_markdown();
    return 0;
  }
  if (command == "openapi") {
    if (argc == 3 && is_help(argv[2])) return std::cout << kOpenapiUsage, 0;
    const bool with_url = argc == 4 && !std::strcmp(argv[2], "--public-url");
    if (argc != 2 && !with_url) return std::cerr << "imgpipe openapi: unknown arguments\n\n" << kOpenapiUsage, 2;
    std::cout << imgpipe::gateway::docs::openapi_document(with_url ? argv[3] : "").dump(2) << "\n";
    return 0;
  }
  if (command == "version" || command == "--version") {
    std::cout << "imgpipe 0.1.0\n";
    return 0;
  }
  std::cerr << "imgpipe: unknown command '" << command << "'\n\n" << kUsage;
  return 2;
}
