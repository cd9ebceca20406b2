#pragma once
// Idempotent creates: `Idempotency-Key` on POST /v1/images, /v1/upload and
// /v1/import (docs/api.md "Idempotency"). The image id is derived from the
// owner and the key (HMAC-SHA256 with the gateways' shared token secret), so
// a retry names the same image on whichever gateway it reaches:
//   - the image is ready (in this gateway's index): the same request is
//     answered with it again, a different one is 409 idempotency_key_conflict;
//   - the first attempt is in flight: 409 idempotency_key_in_progress with
//     Retry-After (another request: conflict), known from this gateway's
//     claims or, on any gateway, from the image's `processing` record (the
//     first gateway publishes `accepted` before the job);
//   - the first attempt failed with an answer about the request itself (not
//     one that said to retry, not a 500): for a day, the same request gets
//     that error again and another one 409 conflict; after that, or after a
//     failure of ours, the key runs again;
//   - in flight elsewhere but its `accepted` not applied here yet: the
//     retry's job carries the same id, and the worker's own idempotency (one
//     manifest per id) announces the first job's image for it; its
//     fingerprint then decides replay or conflict.
// "The same request" is the same fingerprint: a SHA-256 over the parsed
// fields and the file's bytes (not the raw body), stored in the record.

#include <memory>
#include <mutex>
#include <optional>
#include <string>
#include <unordered_map>

#include <nlohmann/json_fwd.hpp>

#include "gateway/http/http_types.h"
#include "schemas/errors.h"
#include "schemas/messages.h"
#include "storage/image_index.h"

namespace imgpipe::gateway {

class IdempotentCreates {
 public:
  IdempotentCreates(std::string secret, storage::ImageIndex& index) : secret_(std::move(secret)), index_(index) {}

  // The header's key: 1-255 printable ASCII characters (else 422); nullopt when absent.
  static std::optional<std::string> key_of(const Request& head);
  // SHA-256 of the canonical JSON of the request's parsed fields.
  static std::string fingerprint(const nlohmann::json& fields);

  // The image id this owner's key names: 12 characters, like new_image_id().
  std::string image_id(const std::string& owner, const std::string& key) const;

  // A create in flight on this gateway; released when the last copy is dropped.
  struct Claim;
  // Before a job for `image_id` (`now`: the job's created_at): the image or
  // the failure to answer with again, or a claim to go ahead with. Throws
  // 409 conflict (another request, or its image was deleted) or 409 in progress.
  struct Start {
    std::optional<schemas::ImageRecord> replay;
    std::optional<schemas::Error> failure;
    std::shared_ptr<Claim> claim;
  };
  Start begin(const std::string& owner, const std::string& image_id, const std::string& fingerprint, int64_t now);
  // After the worker's outcome: the image must be this request's (a job for
  // the same id from another gateway may have made it); 409 conflict if not.
  static void check(const schemas::ImageRecord& record, const std::string& fingerprint);

 private:
  void release(const std::string& image_id);

  std::string secret_;
  storage::ImageIndex& index_;
  std::mutex mu_;
  std::unordered_map<std::string, std::string> in_flight_;  // image id -> fingerprint
};

struct IdempotentCreates::Claim {
  IdempotentCreates& owner;
  std::string image_id;
  ~Claim() { owner.release(image_id); }
};

}  // namespace imgpipe::gateway
