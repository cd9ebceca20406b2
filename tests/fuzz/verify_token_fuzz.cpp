// The verification-token checker on arbitrary tokens: it either throws
// TokenError or returns claims that have not expired. (A token the fuzzer
// did not get from issue_verify_token cannot carry a valid HMAC, but seeds
// are real tokens, so returning is allowed for those.)
#include <string>

#include "gateway/accounts/verify_token.h"

using namespace imgpipe::gateway::accounts;

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  static const std::string secret(32, 's');  // the seeds are issued with it (ops/fuzz --seed)
  constexpr int64_t now = 1'800'000'000;
  std::string token(reinterpret_cast<const char*>(data), size);
  try {
    auto claims = check_verify_token(secret, token, now);
    if (claims.expires_at <= now) __builtin_trap();
  } catch (const TokenError&) {
  } catch (const std::exception&) {
    __builtin_trap();  // anything else escaping would be a 500 on a public link
  }
  return 0;
}
