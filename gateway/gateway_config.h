#pragma once
// Configuration of the gateway role (flags: ops/cli_options.cpp).

#include <chrono>
#include <cstddef>
#include <cstdint>
#include <string>

namespace imgpipe::gateway {

struct GatewayConfig {
  std::string public_url = "http://127.0.0.1:8080";  // --public-url: viewer pages, links in emails
  std::string src_url;                               // --src-url: image URLs (default: public_url)
  uint64_t anonymous_max_bytes = 20ull << 20;        // the anonymous tier's file limit (20 MB)
  int64_t anonymous_retention_days = 30;
  std::chrono::seconds ingest_timeout{60};           // --ingest-timeout: wait for `ready` at most this long
  size_t render_threads = 2;                         // --render-threads: on-demand variant renders at once
  size_t render_queue = 64;                          // renders waiting; more answer 503
  size_t max_pending_ingests = 256;                  // uploads waiting for a worker; more answer 503
  std::string upgrade_url = "https://img.pro/api/quick-start";  // shown to anonymous callers
  std::string instance_id;                           // this gateway, for reply_to and logs

  const std::string& image_base() const { return src_url.empty() ? public_url : src_url; }
};

}  // namespace imgpipe::gateway
