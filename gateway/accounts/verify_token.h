#pragma once
// The one-click email verification link's token: a JWT signed with HS256
// (cpp-jwt), audience and exp required. Before cpp-jwt sees a token we check
// the header names HS256 and recompute the signature with OpenSSL HMAC,
// comparing with CRYPTO_memcmp: Debian's cpp-jwt 1.4 compares signatures
// with a plain string compare, which leaks timing. `alg: none` and every
// other algorithm are refused before any claim is read.

#include <cstdint>
#include <string>

namespace imgpipe::gateway::accounts {

inline constexpr const char* kVerifyAudience = "imgpipe:verify-email";

struct VerifyClaims {
  std::string key_id;  // sub
  std::string email;
  int64_t expires_at = 0;
};

// Why a token was refused; each gets its own page.
enum class TokenProblem { malformed, bad_algorithm, bad_signature, expired, wrong_audience };
const char* describe(TokenProblem p);

struct TokenError : std::exception {
  explicit TokenError(TokenProblem p) : problem(p) {}
  const char* what() const noexcept override { return describe(problem); }
  TokenProblem problem;
};

std::string issue_verify_token(const std::string& secret, const VerifyClaims& claims, int64_t now);
// Throws TokenError. `now` comes from the gateway's clock (exp is checked against it).
VerifyClaims check_verify_token(const std::string& secret, const std::string& token, int64_t now);

}  // namespace imgpipe::gateway::accounts
