#pragma once
// Where an S3-compatible bucket is and how to reach it: parsed from
// --blob-store s3://BUCKET/PREFIX, --s3-endpoint, --s3-region,
// --s3-path-style and the AWS_* credentials in the environment.

#include <chrono>
#include <string>
#include <string_view>

namespace imgpipe::storage::s3 {

struct S3Config {
  std::string endpoint;  // "https://s3.eu-west-1.amazonaws.com" or "http://127.0.0.1:9000"
  std::string region = "us-east-1";
  bool path_style = false;  // endpoint/bucket/key instead of bucket.endpoint/key
  std::string bucket;
  std::string prefix;  // no leading or trailing slash; may be empty
  // Never logged; from the environment.
  std::string access_key, secret_key, session_token;
  std::chrono::milliseconds connect_timeout{3000};
  std::chrono::milliseconds total_timeout{60000};  // one request, a part or a whole small object
  int attempts = 4;  // tries of one request on 5xx, throttling or a network error
  std::chrono::milliseconds first_backoff{200};  // doubled after each try
};

// True when `location` starts with s3://.
bool is_s3_location(std::string_view location);

// Parses "s3://BUCKET[/PREFIX]" into cfg.bucket and cfg.prefix; throws
// std::invalid_argument with a message fit for an operator on a bad value.
void parse_s3_location(std::string_view location, S3Config& cfg);

// Reads AWS_ACCESS_KEY_ID, AWS_SECRET_ACCESS_KEY and AWS_SESSION_TOKEN; throws
// std::invalid_argument when the first two are not both set.
void credentials_from_environment(S3Config& cfg);

}  // namespace imgpipe::storage::s3
