#include "gateway/idempotency.h"

#include <openssl/hmac.h>

#include <algorithm>
#include <cctype>

#include <nlohmann/json.hpp>

#include "gateway/image_fields.h"
#include "schemas/errors.h"
#include "storage/blob_store.h"

namespace imgpipe::gateway {
namespace {

using schemas::Error;
using schemas::ErrorCode;

constexpr std::string_view kAlphabet = "0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz";
constexpr size_t kIdLength = 12;
constexpr size_t kMaxKey = 255;

Error conflict(const std::string& message) { return Error(ErrorCode::idempotency_key_conflict, message); }

constexpr int64_t kFailureBindsSeconds = 24 * 3600;

// The failure a failed record's key is bound to: one about the request itself
// (an image that does not decode, a URL whose server refused), answered again
// for a day. One that told the client to retry (Retry-After: time-outs, the
// queue or the disk away) or a fault of ours (500) binds nothing.
std::optional<Error> binding_failure(const schemas::ImageRecord& record, int64_t now) {
  if (!record.failure || now >= record.created_at + kFailureBindsSeconds) return std::nullopt;
  Error failure = schemas::error_from_code(record.failure->code, record.failure->message);
  if (failure.info().retryable || failure.info().http_status == 500) return std::nullopt;
  return failure;
}

}  // namespace

std::optional<std::string> IdempotentCreates::key_of(const Request& head) {
  bool present = false;
  for (const auto& [name, value] : head.headers)
    if (name.size() == 15 && std::equal(name.begin(), name.end(), "idempotency-key",
                                        [](char a, char b) { return std::tolower(static_cast<unsigned char>(a)) == b; }))
      present = true;
  if (!present) return std::nullopt;
  auto key = std::string(head.header("Idempotency-Key"));
  bool printable = !key.empty() && key.size() <= kMaxKey;
  for (unsigned char c : key) printable = printable && c > 0x20 && c < 0x7f;
  if (!printable) bad_field("Idempotency-Key", "1-255 printable ASCII characters without spaces");
  return key;
}

std::string IdempotentCreates::fingerprint(const nlohmann::json& fields) {
  auto text = fields.dump();  // object keys sorted: canonical
  storage::Sha256 hash;
  hash.update(text.data(), text.size());
  return hash.hex();
}

std::string IdempotentCreates::image_id(const std::string& owner, const std::string& key) const {
  // The bytes of HMAC(secret, owner \0 key \0 round) drawn like new_image_id()
  // draws random ones (below 248 = 4 * 62: no modulo bias).
  std::string id;
  for (int round = 0; id.size() < kIdLength; ++round) {
    const std::string data = owner + '\0' + key + '\0' + std::to_string(round);
    unsigned char mac[EVP_MAX_MD_SIZE];
    unsigned int len = 0;
    if (!HMAC(EVP_sha256(), secret_.data(), static_cast<int>(secret_.size()),
              reinterpret_cast<const unsigned char*>(data.data()), data.size(), mac, &len))
      throw Error(ErrorCode::internal_error);
    for (unsigned int i = 0; i < len && id.size() < kIdLength; ++i)
      if (mac[i] < 248) id += kAlphabet[mac[i] % 62];
  }
  return id;
}

IdempotentCreates::Start IdempotentCreates::begin(const std::string& owner, const std::string& image_id,
                                                  const std::string& fingerprint, int64_t now) {
  if (auto record = index_.get(image_id)) {
    const auto failure = record->status == schemas::kFailed ? binding_failure(*record, now) : std::nullopt;
    // A failed first attempt that binds nothing: the key runs again (the
    // failed record is replaced by the new attempt's).
    if (record->status != schemas::kFailed || failure) {
      if (record->owner != owner || record->request_hash != fingerprint)
        throw conflict("This Idempotency-Key was used with a different request.");
      if (failure) return {std::nullopt, failure, nullptr};
      // Processing: the first attempt is in flight, here or on another
      // gateway (its `accepted` event reached this index).
      if (!record->ready()) throw Error(ErrorCode::idempotency_key_in_progress);
      return {std::move(record), std::nullopt, nullptr};
    }
  }
  if (index_.was_deleted(image_id))
    throw conflict("The image created with this Idempotency-Key was deleted; send a new key.");
  std::lock_guard lock(mu_);
  auto [it, fresh] = in_flight_.emplace(image_id, fingerprint);
  if (!fresh) {
    if (it->second != fingerprint) throw conflict("This Idempotency-Key was used with a different request.");
    throw Error(ErrorCode::idempotency_key_in_progress);
  }
  return {std::nullopt, std::nullopt, std::shared_ptr<Claim>(new Claim{*this, image_id})};
}

void IdempotentCreates::check(const schemas::ImageRecord& record, const std::string& fingerprint) {
  if (record.request_hash != fingerprint) throw conflict("This Idempotency-Key was used with a different request.");
}

void IdempotentCreates::release(const std::string& image_id) {
  std::lock_guard lock(mu_);
  in_flight_.erase(image_id);
}

}  // namespace imgpipe::gateway
