#include "storage/s3/s3_config.h"

#include <cstdlib>
#include <regex>
#include <stdexcept>

namespace imgpipe::storage::s3 {

bool is_s3_location(std::string_view location) { return location.starts_with("s3://"); }

void parse_s3_location(std::string_view location, S3Config& cfg) {
  if (!is_s3_location(location)) throw std::invalid_argument("a blob store location must start with s3://");
  std::string rest(location.substr(5));
  const auto slash = rest.find('/');
  cfg.bucket = rest.substr(0, slash);
  cfg.prefix = slash == std::string::npos ? "" : rest.substr(slash + 1);
  while (cfg.prefix.ends_with('/')) cfg.prefix.pop_back();
  // The bucket naming rules of S3; keys stay in a safe alphabet so the
  // signed path needs no escaping.
  static const std::regex bucket_re("[a-z0-9][a-z0-9.-]{1,61}[a-z0-9]");
  static const std::regex prefix_re("([A-Za-z0-9._-]+(/[A-Za-z0-9._-]+)*)?");
  if (!std::regex_match(cfg.bucket, bucket_re))
    throw std::invalid_argument("bad bucket name in " + std::string(location));
  if (!std::regex_match(cfg.prefix, prefix_re))
    throw std::invalid_argument("the prefix in " + std::string(location) + " may use only A-Z a-z 0-9 . _ - and /");
}

void credentials_from_environment(S3Config& cfg) {
  auto env = [](const char* name) {
    const char* v = std::getenv(name);
    return std::string(v ? v : "");
  };
  cfg.access_key = env("AWS_ACCESS_KEY_ID");
  cfg.secret_key = env("AWS_SECRET_ACCESS_KEY");
  cfg.session_token = env("AWS_SESSION_TOKEN");
  if (cfg.access_key.empty() || cfg.secret_key.empty())
    throw std::invalid_argument("an s3:// blob store needs AWS_ACCESS_KEY_ID and AWS_SECRET_ACCESS_KEY in the environment");
}

}  // namespace imgpipe::storage::s3
