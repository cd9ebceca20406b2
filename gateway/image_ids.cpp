#include "gateway/image_ids.h"

#include <array>
#include <cctype>
#include <cstdint>

#include <openssl/rand.h>

#include "schemas/errors.h"

namespace imgpipe::gateway {
namespace {
constexpr std::string_view kAlphabet = "0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz";
constexpr size_t kIdLength = 12;
}  // namespace

std::string new_image_id() {
  std::string id;
  while (id.size() < kIdLength) {
    std::array<unsigned char, 32> bytes{};
    if (RAND_bytes(bytes.data(), bytes.size()) != 1) throw schemas::Error(schemas::ErrorCode::internal_error);
    for (unsigned char b : bytes)
      if (b < 248 && id.size() < kIdLength) id += kAlphabet[b % 62];  // 248 = 4*62: no modulo bias
  }
  return id;
}

bool plausible_image_id(std::string_view id) {
  if (id.empty() || id.size() > 64) return false;
  for (char c : id)
    if (!std::isalnum(static_cast<unsigned char>(c)) && c != '-' && c != '_') return false;
  return true;
}

std::string src_prefix(std::string_view id) {
  uint32_t h = 2166136261u;  // FNV-1a: stable across builds and machines
  for (char c : id) h = (h ^ static_cast<unsigned char>(c)) * 16777619u;
  return {kAlphabet[h % 62], kAlphabet[(h / 62) % 62]};
}

}  // namespace imgpipe::gateway
