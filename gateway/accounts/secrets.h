#pragma once
// API keys, ids and secrets: generation from the OpenSSL CSPRNG, hashing,
// constant-time comparison, and the secret files kept in the data dir.

#include <cstddef>
#include <filesystem>
#include <string>
#include <string_view>

namespace imgpipe::gateway::accounts {

inline constexpr std::string_view kKeyPrefix = "img_live_";
inline constexpr size_t kKeyRandomChars = 40;  // base62: ~238 bits

// `n` characters of [0-9A-Za-z], uniformly (rejection sampling over RAND_bytes).
std::string random_base62(size_t n);
std::string random_hex(size_t bytes);

std::string new_api_key();  // img_live_ + 40 base62
std::string new_key_id();   // key_ + 12 base62
// The shape of a key (prefix, length, alphabet); says nothing about whether it exists.
bool plausible_api_key(std::string_view key);
// What is stored and looked up: sha256(key), lowercase hex. Never the key.
std::string key_hash(std::string_view key);

// CRYPTO_memcmp: the time taken does not depend on where the inputs differ.
bool constant_time_equal(std::string_view a, std::string_view b);

// Reads the secret in `file`, or creates it (random, mode 0600) when absent.
std::string load_or_create_secret(const std::filesystem::path& file, size_t random_bytes = 32);
// Writes `content` to `file` with mode 0600 (temp file, fsync, rename).
void write_private_file(const std::filesystem::path& file, std::string_view content);

}  // namespace imgpipe::gateway::accounts
