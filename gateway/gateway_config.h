#pragma once
// Configuration of the gateway role (flags: ops/serve_options.cpp and
// ops/account_options.cpp, each also IMGPIPE_<NAME> in the environment).

#include <chrono>
#include <cstddef>
#include <cstdint>
#include <functional>
#include <memory>
#include <string>
#include <vector>

#include "gateway/accounts/clock.h"
#include "schemas/messages.h"

namespace imgpipe::gateway {

struct GatewayConfig {
  std::string public_url = "http://127.0.0.1:8080";  // --public-url: viewer pages, links in emails
  std::string src_url;                               // --src-url: image URLs (default: public_url)
  std::chrono::seconds ingest_timeout{60};           // --ingest-timeout: wait for `ready` at most this long
  size_t render_threads = 2;                         // --render-threads: on-demand variant renders at once
  size_t render_queue = 64;                          // renders waiting; more answer 503
  uint64_t src_cache_bytes = 64ull << 20;            // --src-cache-mb: hot src blobs (<= 1 MB each) kept in memory; 0: off
  size_t max_pending_ingests = 256;                  // uploads waiting for a worker; more answer 503
  std::string upgrade_url;                           // --upgrade-url: where anonymous callers get a key (default: upgrade_link())
  int64_t sweep_interval_seconds = 60;               // --sweep-interval: the retention sweeper's period
  int64_t processing_timeout_seconds = 3600;         // --processing-timeout: an image still processing this long after it was accepted is given up as failed
  int64_t blob_grace_seconds = 600;                  // --blob-grace: an unreferenced blob is kept this long (uploads racing a delete)
  std::string instance_id;                           // this gateway, for reply_to and logs
  uint64_t min_free_disk_bytes = 64ull << 20;        // --min-free-disk-mb: less free than this, and creates answer 507 (gateway/disk_room.h)
  std::vector<std::string> disk_dirs;                // the folders whose filesystems that watches (set by serve)
  // Every time-based decision (limits, quotas, expiry, tokens). Tests inject
  // an offset with --clock-file (gateway/accounts/clock.h).
  std::shared_ptr<const accounts::Clock> clock = accounts::system_clock();

  // Set where the accounts service is made (ops/serve_command.cpp): the images of a verified key never expire,
  // whatever expires_at a late event (variants of an upload in flight) carries.
  std::function<bool(const std::string& owner)> owner_is_permanent;

  // Past its retention: no longer served, and the sweeper deletes it.
  bool expired(const schemas::ImageRecord& r) const {
    return r.expires_at != 0 && r.expires_at <= clock->now() && !(owner_is_permanent && owner_is_permanent(r.owner));
  }

  const std::string& image_base() const { return src_url.empty() ? public_url : src_url; }
  // The upgrade link of anonymous answers and error actions: --upgrade-url,
  // or this instance's own key page.
  std::string upgrade_link() const { return upgrade_url.empty() ? public_url + "/keys" : upgrade_url; }
};

}  // namespace imgpipe::gateway
