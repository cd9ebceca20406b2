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
                                                  const std::string& fingerprint) {
  // A failed first attempt binds nothing: the key runs again (the failed
  // record is replaced by the new attempt's).
  if (auto record = index_.get(image_id); record && record->status != schemas::kFailed) {
    if (record->owner != owner || record->request_hash != fingerprint)
      throw conflict("This Idempotency-Key was used with a different request.");
    // Processing: the first attempt is in flight, here or on another gateway
    // (its `accepted` event reached this index).
    if (!record->ready()) throw Error(ErrorCode::idempotency_key_in_progress);
    return {std::move(record), nullptr};
  }
  if (index_.was_deleted(image_id))
    throw conflict("The image created with this Idempotency-Key was deleted; send a new key.");
  std::lock_guard lock(mu_);
  auto [it, fresh] = in_flight_.emplace(image_id, fingerprint);
  if (!fresh) {
    if (it->second != fingerprint) throw conflict("This Idempotency-Key was used with a different request.");
    throw Error(ErrorCode::idempotency_key_in_progress);
  }
  return {std::nullopt, std::shared_ptr<Claim>(new Claim{*this, image_id})};
}

void IdempotentCreates::check(const schemas::ImageRecord& record, const std::string& fingerprint) {
  if (record.request_hash != fingerprint) throw conflict("This Idempotency-Key was used with a different request.");
}

void IdempotentCreates::release(const std::string& image_id) {
  std::lock_guard lock(mu_);
  in_flight_.erase(image_id);
}

}  // namespace imgpipe::gateway
