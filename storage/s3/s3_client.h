#pragma once
// A small S3 client on libcurl: SigV4 signing (libcurl's CURLOPT_AWS_SIGV4,
// with x-amz-content-sha256 sent explicitly), connect and total timeouts,
// retries with backoff on 5xx, throttling and network errors. Failures
// become schemas::Error: an unreachable store is service_unavailable (503,
// Retry-After), anything else S3Failure (internal_error) with the store's
// code for the operator's log. Keys are whole object keys (prefix included).
// Thread-safe: each request uses its own curl handle.

#include <chrono>
#include <cstdint>
#include <functional>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "schemas/errors.h"
#include "storage/s3/s3_config.h"

namespace imgpipe::storage::s3 {

// A refusal by the store that retrying does not cure (403, 404, 400...).
class S3Failure : public schemas::Error {
 public:
  S3Failure(long status, std::string s3_code, std::string what);
  long status;          // HTTP status, 0 for none
  std::string s3_code;  // e.g. "NoSuchBucket", "InvalidAccessKeyId"
};

// A multipart upload begun and neither completed nor aborted.
struct UploadInfo {
  std::string key, upload_id;
  std::chrono::system_clock::time_point initiated;  // to the second
};

struct ObjectInfo {
  std::string key;
  uint64_t size = 0;
  std::chrono::system_clock::time_point modified;  // to the second
};

class S3Client {
 public:
  explicit S3Client(S3Config cfg);
  const S3Config& config() const { return cfg_; }

  // PUT of a whole object. With create_only, an existing key is left as it
  // is (If-None-Match: *) and false is returned; true when written.
  bool put_object(const std::string& key, std::string_view bytes, bool create_only);
  // Size of the object, nullopt when there is none.
  std::optional<uint64_t> head_object(const std::string& key);
  // Streams bytes [offset, offset+length) (to the end without length) to
  // `sink` as they arrive; false when there is no such object.
  bool get_object(const std::string& key, const std::function<void(std::string_view)>& sink, uint64_t offset = 0,
                  std::optional<uint64_t> length = std::nullopt);
  // Deleting a missing key is not an error.
  void delete_object(const std::string& key);
  // Objects under `prefix` (ListObjectsV2, every page).
  std::vector<ObjectInfo> list_objects(const std::string& prefix);
  std::vector<std::string> list_keys(const std::string& prefix);

  // Multipart upload: create, upload parts (1-based, at least 5 MiB but the
  // last), complete with the parts' ETags in order, or abort.
  std::string create_multipart(const std::string& key);
  std::string upload_part(const std::string& key, const std::string& upload_id, int part, std::string_view bytes);
  void complete_multipart(const std::string& key, const std::string& upload_id, const std::vector<std::string>& etags);
  void abort_multipart(const std::string& key, const std::string& upload_id);
  // The multipart uploads begun and not finished under `prefix`
  // (ListMultipartUploads, every page), and just their keys.
  std::vector<UploadInfo> list_uploads(const std::string& prefix);
  std::vector<std::string> list_multipart_uploads(const std::string& prefix);

  // Lists one key under the prefix; throws S3Failure (NoSuchBucket, AccessDenied...) or
  // service_unavailable.
  void check_bucket();

 private:
  struct Request;
  struct Response;
  Response perform(Request& req);
  Response perform_once(Request& req, bool& retryable, std::string& failure);
  std::string url_for(const std::string& key, const std::string& query) const;

  S3Config cfg_;
};

}  // namespace imgpipe::storage::s3
