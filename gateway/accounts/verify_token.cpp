#include "gateway/accounts/verify_token.h"

#include <openssl/crypto.h>
#include <openssl/evp.h>
#include <openssl/hmac.h>

#include <jwt/jwt.hpp>

#include "gateway/accounts/secrets.h"

namespace imgpipe::gateway::accounts {

const char* describe(TokenProblem p) {
  switch (p) {
    case TokenProblem::malformed: return "The link is damaged or incomplete.";
    case TokenProblem::bad_algorithm: return "The link was not signed by this server.";
    case TokenProblem::bad_signature: return "The link was altered or not signed by this server.";
    case TokenProblem::expired: return "The link has expired.";
    case TokenProblem::wrong_audience: return "The link is not an email verification link.";
  }
  return "The link is invalid.";
}

namespace {

std::string b64url_decode(std::string_view s) {
  for (char c : s)
    if (!(std::isalnum(static_cast<unsigned char>(c)) || c == '-' || c == '_')) throw TokenError(TokenProblem::malformed);
  try {
    return jwt::base64_uri_decode(s.data(), s.size());
  } catch (const std::exception&) {
    throw TokenError(TokenProblem::malformed);
  }
}

std::string hmac_sha256(const std::string& key, std::string_view data) {
  unsigned char out[EVP_MAX_MD_SIZE];
  unsigned int len = 0;
  if (!HMAC(EVP_sha256(), key.data(), static_cast<int>(key.size()), reinterpret_cast<const unsigned char*>(data.data()),
            data.size(), out, &len))
    throw TokenError(TokenProblem::bad_signature);
  return std::string(reinterpret_cast<char*>(out), len);
}

}  // namespace

std::string issue_verify_token(const std::string& key, const VerifyClaims& claims, int64_t now) {
  using namespace jwt::params;
  jwt::jwt_object obj{algorithm("HS256"), secret(key)};
  obj.add_claim("iss", "imgpipe")
      .add_claim("aud", kVerifyAudience)
      .add_claim("sub", claims.key_id)
      .add_claim("email", claims.email)
      .add_claim("iat", now)
      .add_claim("exp", claims.expires_at);
  return obj.signature();
}

VerifyClaims check_verify_token(const std::string& key, const std::string& token, int64_t now) {
  if (token.size() > 4096) throw TokenError(TokenProblem::malformed);
  auto dot1 = token.find('.');
  auto dot2 = dot1 == std::string::npos ? dot1 : token.find('.', dot1 + 1);
  if (dot2 == std::string::npos || token.find('.', dot2 + 1) != std::string::npos)
    throw TokenError(TokenProblem::malformed);
  auto header = nlohmann::json::parse(b64url_decode(std::string_view(token).substr(0, dot1)), nullptr, false);
  if (header.is_discarded() || !header.is_object()) throw TokenError(TokenProblem::malformed);
  auto alg = header.find("alg");
  if (alg == header.end() || !alg->is_string() || alg->get<std::string>() != "HS256")
    throw TokenError(TokenProblem::bad_algorithm);
  auto signature = b64url_decode(std::string_view(token).substr(dot2 + 1));
  auto expected = hmac_sha256(key, std::string_view(token).substr(0, dot2));
  if (!constant_time_equal(signature, expected)) throw TokenError(TokenProblem::bad_signature);

  // Authentic from here on: cpp-jwt parses it and checks the audience; exp
  // is checked against our clock below (the library would use the system's).
  jwt::jwt_object decoded;
  try {
    using namespace jwt::params;
    decoded = jwt::decode(token, algorithms({"HS256"}), secret(key), verify(true), aud(kVerifyAudience));
  } catch (const jwt::TokenExpiredError&) {
    throw TokenError(TokenProblem::expired);
  } catch (const jwt::InvalidAudienceError&) {
    throw TokenError(TokenProblem::wrong_audience);
  } catch (const jwt::InvalidAlgorithmError&) {
    throw TokenError(TokenProblem::bad_algorithm);
  } catch (const std::exception&) {
    throw TokenError(TokenProblem::malformed);
  }
  const auto& payload = decoded.payload();
  if (!payload.has_claim("aud")) throw TokenError(TokenProblem::wrong_audience);
  if (!payload.has_claim("exp") || !payload.has_claim("sub") || !payload.has_claim("email"))
    throw TokenError(TokenProblem::malformed);
  VerifyClaims claims;
  try {
    claims.key_id = payload.get_claim_value<std::string>("sub");
    claims.email = payload.get_claim_value<std::string>("email");
    claims.expires_at = payload.get_claim_value<int64_t>("exp");
  } catch (const std::exception&) {
    throw TokenError(TokenProblem::malformed);
  }
  if (claims.expires_at <= now) throw TokenError(TokenProblem::expired);
  return claims;
}

}  // namespace imgpipe::gateway::accounts
