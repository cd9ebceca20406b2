#include "gateway/accounts/secrets.h"

#include <fcntl.h>
#include <unistd.h>

#include <fstream>
#include <sstream>
#include <stdexcept>

#include <openssl/crypto.h>
#include <openssl/rand.h>

#include "storage/blob_store.h"

namespace imgpipe::gateway::accounts {
namespace {

constexpr std::string_view kAlphabet = "0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz";

void fill_random(unsigned char* out, size_t n) {
  if (RAND_bytes(out, static_cast<int>(n)) != 1) throw std::runtime_error("the system random generator failed");
}

}  // namespace

std::string random_base62(size_t n) {
  std::string out;
  out.reserve(n);
  unsigned char buf[64];
  while (out.size() < n) {
    fill_random(buf, sizeof buf);
    for (unsigned char b : buf) {
      if (b >= 248) continue;  // 248 = 4 * 62: keeps the distribution uniform
      out.push_back(kAlphabet[b % 62]);
      if (out.size() == n) break;
    }
  }
  return out;
}

std::string random_hex(size_t bytes) {
  std::string raw(bytes, '\0');
  fill_random(reinterpret_cast<unsigned char*>(raw.data()), bytes);
  static constexpr char kHex[] = "0123456789abcdef";
  std::string out;
  for (unsigned char c : raw) {
    out.push_back(kHex[c >> 4]);
    out.push_back(kHex[c & 15]);
  }
  return out;
}

std::string new_api_key() { return std::string(kKeyPrefix) + random_base62(kKeyRandomChars); }
std::string new_key_id() { return "key_" + random_base62(12); }

bool plausible_api_key(std::string_view key) {
  if (key.substr(0, kKeyPrefix.size()) != kKeyPrefix) return false;
  auto rest = key.substr(kKeyPrefix.size());
  if (rest.size() < 32 || rest.size() > 128) return false;
  for (char c : rest)
    if (kAlphabet.find(c) == std::string_view::npos) return false;
  return true;
}

std::string key_hash(std::string_view key) { return storage::sha256_hex(key); }

bool constant_time_equal(std::string_view a, std::string_view b) {
  if (a.size() != b.size()) return false;  // lengths are public (hashes, fixed-size MACs)
  return CRYPTO_memcmp(a.data(), b.data(), a.size()) == 0;
}

void write_private_file(const std::filesystem::path& file, std::string_view content) {
  auto tmp = file;
  tmp += ".tmp";
  int fd = ::open(tmp.c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
  if (fd < 0) throw std::runtime_error("cannot write " + file.string());
  bool ok = ::write(fd, content.data(), content.size()) == static_cast<ssize_t>(content.size()) && ::fsync(fd) == 0;
  ::close(fd);
  if (!ok) throw std::runtime_error("cannot write " + file.string());
  std::filesystem::rename(tmp, file);
}

std::string load_or_create_secret(const std::filesystem::path& file, size_t random_bytes) {
  if (std::filesystem::exists(file)) {
    std::ifstream in(file);
    std::string secret;
    in >> secret;
    if (secret.size() >= 32) return secret;
    throw std::runtime_error(file.string() + " holds a secret shorter than 32 characters");
  }
  auto secret = random_hex(random_bytes);
  write_private_file(file, secret + "\n");
  return secret;
}

}  // namespace imgpipe::gateway::accounts
