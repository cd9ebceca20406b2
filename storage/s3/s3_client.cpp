#include "storage/s3/s3_client.h"

#include <curl/curl.h>

#include <algorithm>
#include <cstdlib>
#include <ctime>
#include <cctype>
#include <map>
#include <memory>
#include <mutex>
#include <random>
#include <regex>
#include <thread>

#include "schemas/log.h"
#include "storage/blob_store.h"

namespace imgpipe::storage::s3 {

using schemas::Error;
using schemas::ErrorCode;

namespace {

constexpr std::string_view kEmptySha = "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855";
constexpr int kUnavailableRetryAfterS = 5;

void curl_init_once() {
  static std::once_flag once;
  std::call_once(once, [] {
    if (curl_global_init(CURL_GLOBAL_DEFAULT) != CURLE_OK) throw Error(ErrorCode::internal_error);
  });
}

// AWS URI encoding of a query value: unreserved characters stay, the rest %XX.
std::string aws_encode(std::string_view s) {
  static const char* hex = "0123456789ABCDEF";
  std::string out;
  for (unsigned char c : s) {
    if (std::isalnum(c) || c == '-' || c == '_' || c == '.' || c == '~') {
      out += static_cast<char>(c);
    } else {
      out += '%';
      out += hex[c >> 4];
      out += hex[c & 15];
    }
  }
  return out;
}

// The text of every <tag>...</tag> in a response body (flat S3 XML).
std::vector<std::string> xml_all(const std::string& body, const std::string& tag) {
  std::vector<std::string> out;
  const std::string open = "<" + tag + ">", close = "</" + tag + ">";
  size_t pos = 0;
  while ((pos = body.find(open, pos)) != std::string::npos) {
    const size_t start = pos + open.size();
    const size_t end = body.find(close, start);
    if (end == std::string::npos) break;
    out.push_back(body.substr(start, end - start));
    pos = end + close.size();
  }
  return out;
}

std::string xml_first(const std::string& body, const std::string& tag) {
  auto all = xml_all(body, tag);
  return all.empty() ? "" : all.front();
}

Error unavailable(const std::string& why) {
  log::warn("s3_unavailable", {{"reason", why}});
  Error e(ErrorCode::service_unavailable, "The blob store is unavailable.");
  e.retry_after_seconds = kUnavailableRetryAfterS;
  return e;
}

}  // namespace

S3Failure::S3Failure(long status_, std::string s3_code_, std::string what)
    : Error(ErrorCode::internal_error, std::move(what)), status(status_), s3_code(std::move(s3_code_)) {}

struct S3Client::Request {
  std::string method = "GET";
  std::string key;
  std::string query;  // already sorted and encoded
  std::vector<std::string> headers;
  std::optional<std::string_view> body;  // sent as is
  std::string payload_sha;               // hex sha256 of body (or of nothing)
  std::string range;                     // "a-b" for CURLOPT_RANGE
  const std::function<void(std::string_view)>* sink = nullptr;  // streams a 2xx body
  bool delivered = false;  // the sink got bytes: no retry after that
  std::exception_ptr sink_error;  // what the sink threw, rethrown to the caller
};

struct S3Client::Response {
  long status = 0;
  std::string body;  // when there is no sink, or on an error status
  std::map<std::string, std::string> headers;  // names lowercase
};

S3Client::S3Client(S3Config cfg) : cfg_(std::move(cfg)) {
  curl_init_once();
  if (cfg_.endpoint.empty()) cfg_.endpoint = "https://s3." + cfg_.region + ".amazonaws.com";
  while (cfg_.endpoint.ends_with('/')) cfg_.endpoint.pop_back();
}

std::string S3Client::url_for(const std::string& key, const std::string& query) const {
  std::string url;
  if (cfg_.path_style) {
    url = cfg_.endpoint + "/" + cfg_.bucket + (key.empty() ? "" : "/" + key);
  } else {
    const auto scheme_end = cfg_.endpoint.find("://");
    const size_t host_at = scheme_end == std::string::npos ? 0 : scheme_end + 3;
    url = cfg_.endpoint.substr(0, host_at) + cfg_.bucket + "." + cfg_.endpoint.substr(host_at) + "/" + key;
  }
  if (!query.empty()) url += "?" + query;
  return url;
}

S3Client::Response S3Client::perform(Request& req) {
  auto backoff = cfg_.first_backoff;
  std::string failure;
  for (int attempt = 1;; ++attempt) {
    bool retryable = false;
    Response resp = perform_once(req, retryable, failure);
    if (!retryable) return resp;
    if (attempt >= cfg_.attempts || req.delivered) throw unavailable(failure);
    log::warn("s3_retry", {{"method", req.method}, {"key", req.key}, {"attempt", attempt}, {"reason", failure}});
    // Full jitter: concurrent clients do not retry in step.
    static thread_local std::mt19937 rng{std::random_device{}()};
    std::uniform_int_distribution<long> d(backoff.count() / 2, backoff.count());
    std::this_thread::sleep_for(std::chrono::milliseconds(d(rng)));
    backoff *= 2;
  }
}

namespace {

struct Transfer {
  CURL* curl;
  S3Client* client;
  std::string_view upload;
  size_t uploaded = 0;
  std::string* body;
  const std::function<void(std::string_view)>* sink;
  bool* delivered;
  std::exception_ptr* sink_error;
  std::map<std::string, std::string>* headers;
};

size_t on_read(char* buf, size_t size, size_t n, void* p) {
  auto* t = static_cast<Transfer*>(p);
  const size_t len = std::min(size * n, t->upload.size() - t->uploaded);
  std::copy_n(t->upload.data() + t->uploaded, len, buf);
  t->uploaded += len;
  return len;
}

size_t on_write(char* data, size_t size, size_t n, void* p) {
  auto* t = static_cast<Transfer*>(p);
  long status = 0;
  curl_easy_getinfo(t->curl, CURLINFO_RESPONSE_CODE, &status);
  const std::string_view chunk(data, size * n);
  if (t->sink && status / 100 == 2) {
    *t->delivered = true;
    try {
      (*t->sink)(chunk);
    } catch (...) {
      *t->sink_error = std::current_exception();
      return 0;  // the reader gave up: curl aborts with CURLE_WRITE_ERROR
    }
  } else if (t->body->size() < (t->sink ? 64 * 1024 : SIZE_MAX)) {
    t->body->append(chunk);
  }
  return chunk.size();
}

size_t on_header(char* data, size_t size, size_t n, void* p) {
  auto* t = static_cast<Transfer*>(p);
  std::string line(data, size * n);
  const auto colon = line.find(':');
  if (colon != std::string::npos) {
    std::string name = line.substr(0, colon);
    std::transform(name.begin(), name.end(), name.begin(), [](unsigned char c) { return std::tolower(c); });
    std::string value = line.substr(colon + 1);
    const auto b = value.find_first_not_of(" \t");
    const auto e = value.find_last_not_of(" \t\r\n");
    (*t->headers)[name] = b == std::string::npos ? "" : value.substr(b, e - b + 1);
  }
  return size * n;
}

}  // namespace

S3Client::Response S3Client::perform_once(Request& req, bool& retryable, std::string& failure) {
  std::unique_ptr<CURL, decltype(&curl_easy_cleanup)> curl(curl_easy_init(), &curl_easy_cleanup);
  if (!curl) throw Error(ErrorCode::internal_error, "The blob store client could not start.");
  Response resp;
  Transfer t{curl.get(), this, req.body.value_or(std::string_view{}), 0, &resp.body, req.sink, &req.delivered,
             &req.sink_error, &resp.headers};
  CURL* c = curl.get();
  const std::string url = url_for(req.key, req.query);
  const std::string sigv4 = "aws:amz:" + cfg_.region + ":s3";
  curl_easy_setopt(c, CURLOPT_URL, url.c_str());
  curl_easy_setopt(c, CURLOPT_AWS_SIGV4, sigv4.c_str());
  curl_easy_setopt(c, CURLOPT_USERNAME, cfg_.access_key.c_str());
  curl_easy_setopt(c, CURLOPT_PASSWORD, cfg_.secret_key.c_str());
  curl_easy_setopt(c, CURLOPT_CONNECTTIMEOUT_MS, static_cast<long>(cfg_.connect_timeout.count()));
  curl_easy_setopt(c, CURLOPT_TIMEOUT_MS, static_cast<long>(cfg_.total_timeout.count()));
  curl_easy_setopt(c, CURLOPT_NOSIGNAL, 1L);
  curl_easy_setopt(c, CURLOPT_PROTOCOLS_STR, "http,https");
  curl_easy_setopt(c, CURLOPT_WRITEFUNCTION, on_write);
  curl_easy_setopt(c, CURLOPT_WRITEDATA, &t);
  curl_easy_setopt(c, CURLOPT_HEADERFUNCTION, on_header);
  curl_easy_setopt(c, CURLOPT_HEADERDATA, &t);
  if (req.method == "HEAD") {
    curl_easy_setopt(c, CURLOPT_NOBODY, 1L);
  } else if (req.body) {
    curl_easy_setopt(c, CURLOPT_UPLOAD, 1L);
    curl_easy_setopt(c, CURLOPT_READFUNCTION, on_read);
    curl_easy_setopt(c, CURLOPT_READDATA, &t);
    curl_easy_setopt(c, CURLOPT_INFILESIZE_LARGE, static_cast<curl_off_t>(req.body->size()));
    if (req.method != "PUT") curl_easy_setopt(c, CURLOPT_CUSTOMREQUEST, req.method.c_str());
  } else if (req.method != "GET") {
    curl_easy_setopt(c, CURLOPT_CUSTOMREQUEST, req.method.c_str());
  }
  if (!req.range.empty()) curl_easy_setopt(c, CURLOPT_RANGE, req.range.c_str());
  // An "Expect:" header to suppress 100-continue would be signed but not
  // sent (SignatureDoesNotMatch); a short wait for the 100 instead.
  curl_easy_setopt(c, CURLOPT_EXPECT_100_TIMEOUT_MS, 200L);

  curl_slist* list = nullptr;
  const std::string sha_header =
      "x-amz-content-sha256: " + (req.payload_sha.empty() ? std::string(kEmptySha) : req.payload_sha);
  list = curl_slist_append(list, sha_header.c_str());
  std::string token_header;
  if (!cfg_.session_token.empty()) {
    token_header = "x-amz-security-token: " + cfg_.session_token;
    list = curl_slist_append(list, token_header.c_str());
  }
  for (const auto& h : req.headers) list = curl_slist_append(list, h.c_str());
  std::unique_ptr<curl_slist, decltype(&curl_slist_free_all)> headers(list, &curl_slist_free_all);
  curl_easy_setopt(c, CURLOPT_HTTPHEADER, list);

  const CURLcode rc = curl_easy_perform(c);
  curl_easy_getinfo(c, CURLINFO_RESPONSE_CODE, &resp.status);
  if (rc != CURLE_OK) {
    if (req.sink_error) std::rethrow_exception(req.sink_error);
    retryable = true;
    failure = curl_easy_strerror(rc);
    return resp;
  }
  const std::string code = xml_first(resp.body, "Code");
  if (resp.status >= 500 || resp.status == 429 || code == "SlowDown" || code == "RequestTimeout") {
    retryable = true;
    failure = "HTTP " + std::to_string(resp.status) + (code.empty() ? "" : " " + code);
  }
  return resp;
}

namespace {

// Throws for a status the caller does not expect.
[[noreturn]] void refuse(const char* what, const std::string& key, long status, const std::string& body) {
  std::string code = xml_first(body, "Code");
  if (code.empty()) code = status == 403 ? "AccessDenied" : status == 404 ? "NoSuchBucket" : "";
  log::error("s3_refused", {{"op", what}, {"key", key}, {"status", status}, {"code", code}});
  throw S3Failure(status, code, "The blob store refused the request.");
}

}  // namespace

bool S3Client::put_object(const std::string& key, std::string_view bytes, bool create_only) {
  Request req;
  req.method = "PUT";
  req.key = key;
  req.body = bytes;
  req.payload_sha = sha256_hex(bytes);
  if (create_only) req.headers.push_back("If-None-Match: *");
  const auto resp = perform(req);
  if (resp.status == 412 && create_only) return false;
  if (resp.status / 100 != 2) refuse("put", key, resp.status, resp.body);
  return true;
}

std::optional<uint64_t> S3Client::head_object(const std::string& key) {
  Request req;
  req.method = "HEAD";
  req.key = key;
  const auto resp = perform(req);
  if (resp.status == 404) return std::nullopt;
  if (resp.status / 100 != 2) refuse("head", key, resp.status, resp.body);
  const auto it = resp.headers.find("content-length");
  return it == resp.headers.end() ? 0 : std::stoull(it->second);
}

bool S3Client::get_object(const std::string& key, const std::function<void(std::string_view)>& sink, uint64_t offset,
                          std::optional<uint64_t> length) {
  Request req;
  req.key = key;
  req.sink = &sink;
  if (length && *length == 0) return head_object(key).has_value();
  if (offset > 0 || length)
    req.range = std::to_string(offset) + "-" + (length ? std::to_string(offset + *length - 1) : "");
  const auto resp = perform(req);
  if (resp.status == 404) return false;
  if (resp.status == 416) return true;  // a range past the end: nothing to stream
  if (resp.status / 100 != 2) refuse("get", key, resp.status, resp.body);
  return true;
}

void S3Client::delete_object(const std::string& key) {
  Request req;
  req.method = "DELETE";
  req.key = key;
  const auto resp = perform(req);
  if (resp.status / 100 != 2 && resp.status != 404) refuse("delete", key, resp.status, resp.body);
}

namespace {
// ListObjectsV2's LastModified, e.g. 2026-11-27T15:05:48.000Z; the epoch if unreadable.
std::chrono::system_clock::time_point parse_iso8601(const std::string& text) {
  std::tm tm{};
  if (::strptime(text.c_str(), "%Y-%m-%dT%H:%M:%S", &tm) == nullptr) return {};
  return std::chrono::system_clock::from_time_t(::timegm(&tm));
}
}  // namespace

std::vector<std::string> S3Client::list_keys(const std::string& prefix) {
  std::vector<std::string> keys;
  for (auto& o : list_objects(prefix)) keys.push_back(std::move(o.key));
  return keys;
}

std::vector<ObjectInfo> S3Client::list_objects(const std::string& prefix) {
  std::vector<ObjectInfo> objects;
  std::string token;
  for (;;) {
    Request req;
    req.query = (token.empty() ? "" : "continuation-token=" + aws_encode(token) + "&") +
                "list-type=2&prefix=" + aws_encode(prefix);
    const auto resp = perform(req);
    if (resp.status / 100 != 2) refuse("list", prefix, resp.status, resp.body);
    for (const auto& entry : xml_all(resp.body, "Contents")) {
      ObjectInfo o;
      o.key = xml_first(entry, "Key");
      o.size = std::strtoull(xml_first(entry, "Size").c_str(), nullptr, 10);
      o.modified = parse_iso8601(xml_first(entry, "LastModified"));
      objects.push_back(std::move(o));
    }
    if (xml_first(resp.body, "IsTruncated") != "true") return objects;
    token = xml_first(resp.body, "NextContinuationToken");
    if (token.empty()) return objects;
  }
}

std::string S3Client::create_multipart(const std::string& key) {
  Request req;
  req.method = "POST";
  req.key = key;
  req.query = "uploads=";
  req.body = std::string_view{};
  const auto resp = perform(req);
  if (resp.status / 100 != 2) refuse("create_multipart", key, resp.status, resp.body);
  const auto id = xml_first(resp.body, "UploadId");
  if (id.empty()) throw S3Failure(resp.status, "", "The blob store gave no upload id.");
  return id;
}

std::string S3Client::upload_part(const std::string& key, const std::string& upload_id, int part,
                                  std::string_view bytes) {
  Request req;
  req.method = "PUT";
  req.key = key;
  req.query = "partNumber=" + std::to_string(part) + "&uploadId=" + aws_encode(upload_id);
  req.body = bytes;
  req.payload_sha = sha256_hex(bytes);
  const auto resp = perform(req);
  if (resp.status / 100 != 2) refuse("upload_part", key, resp.status, resp.body);
  const auto it = resp.headers.find("etag");
  if (it == resp.headers.end()) throw S3Failure(resp.status, "", "The blob store gave no part ETag.");
  return it->second;
}

void S3Client::complete_multipart(const std::string& key, const std::string& upload_id,
                                  const std::vector<std::string>& etags) {
  std::string xml = "<CompleteMultipartUpload>";
  for (size_t i = 0; i < etags.size(); ++i)
    xml += "<Part><PartNumber>" + std::to_string(i + 1) + "</PartNumber><ETag>" + etags[i] + "</ETag></Part>";
  xml += "</CompleteMultipartUpload>";
  Request req;
  req.method = "POST";
  req.key = key;
  req.query = "uploadId=" + aws_encode(upload_id);
  req.body = xml;
  req.payload_sha = sha256_hex(xml);
  const auto resp = perform(req);
  // A 200 may still carry an <Error> (the store failed while assembling).
  if (resp.status / 100 != 2 || resp.body.find("<Error>") != std::string::npos)
    refuse("complete_multipart", key, resp.status, resp.body);
}

void S3Client::abort_multipart(const std::string& key, const std::string& upload_id) {
  Request req;
  req.method = "DELETE";
  req.key = key;
  req.query = "uploadId=" + aws_encode(upload_id);
  const auto resp = perform(req);
  if (resp.status / 100 != 2 && resp.status != 404) refuse("abort_multipart", key, resp.status, resp.body);
}

std::vector<UploadInfo> S3Client::list_uploads(const std::string& prefix) {
  std::vector<UploadInfo> uploads;
  std::string key_marker, id_marker;
  for (;;) {
    Request req;
    req.query = (key_marker.empty() ? "" : "key-marker=" + aws_encode(key_marker) + "&") + "prefix=" +
                aws_encode(prefix) + (id_marker.empty() ? "" : "&upload-id-marker=" + aws_encode(id_marker)) +
                "&uploads=";
    const auto resp = perform(req);
    if (resp.status / 100 != 2) refuse("list_multipart", prefix, resp.status, resp.body);
    for (const auto& entry : xml_all(resp.body, "Upload"))
      uploads.push_back({xml_first(entry, "Key"), xml_first(entry, "UploadId"),
                         parse_iso8601(xml_first(entry, "Initiated"))});
    if (xml_first(resp.body, "IsTruncated") != "true") return uploads;
    key_marker = xml_first(resp.body, "NextKeyMarker");
    id_marker = xml_first(resp.body, "NextUploadIdMarker");
    if (key_marker.empty()) return uploads;
  }
}

std::vector<std::string> S3Client::list_multipart_uploads(const std::string& prefix) {
  std::vector<std::string> keys;
  for (auto& u : list_uploads(prefix)) keys.push_back(std::move(u.key));
  return keys;
}

void S3Client::check_bucket() {
  // A one-key listing rather than HEAD: a refusal then carries its code
  // (NoSuchBucket, InvalidAccessKeyId, SignatureDoesNotMatch...).
  Request req;
  req.query = "list-type=2&max-keys=1&prefix=" + aws_encode(cfg_.prefix);
  const auto resp = perform(req);
  if (resp.status / 100 != 2) refuse("head_bucket", "", resp.status, resp.body);
}

}  // namespace imgpipe::storage::s3
