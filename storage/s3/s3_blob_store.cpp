#include "storage/s3/s3_blob_store.h"

#include <cstdio>
#include <fstream>
#include <random>
#include <regex>
#include <stdexcept>

#include "schemas/log.h"

namespace imgpipe::storage::s3 {

namespace {

void check_sha(const std::string& sha) {
  static const std::regex re("[0-9a-f]{64}");
  if (!std::regex_match(sha, re)) throw schemas::Error(schemas::ErrorCode::bad_request, "Invalid blob id.");
}

void check_name(const std::string& name) {
  static const std::regex re("[A-Za-z0-9._-]{1,200}");
  if (!std::regex_match(name, re) || name == "." || name == "..")
    throw schemas::Error(schemas::ErrorCode::bad_request, "Invalid object name.");
}

std::string random_hex(size_t bytes) {
  static thread_local std::mt19937_64 rng{std::random_device{}()};
  static const char* hex = "0123456789abcdef";
  std::string out;
  for (size_t i = 0; i < bytes; ++i) {
    const auto b = static_cast<unsigned>(rng() & 0xff);
    out += hex[b >> 4];
    out += hex[b & 15];
  }
  return out;
}

}  // namespace

ObjectWriter::ObjectWriter(S3Client& client, std::string key, size_t part_size)
    : client_(client), key_(std::move(key)), part_size_(part_size) {}

ObjectWriter::~ObjectWriter() {
  if (!done_) abort();
}

void ObjectWriter::write(std::string_view bytes) {
  hash_.update(bytes.data(), bytes.size());
  size_ += bytes.size();
  while (!bytes.empty()) {
    const size_t take = std::min(bytes.size(), part_size_ - buffer_.size());
    buffer_.append(bytes.substr(0, take));
    bytes.remove_prefix(take);
    if (buffer_.size() == part_size_) flush_part();
  }
}

void ObjectWriter::flush_part() {
  try {
    if (upload_id_.empty()) upload_id_ = client_.create_multipart(key_);
    etags_.push_back(client_.upload_part(key_, upload_id_, static_cast<int>(etags_.size()) + 1, buffer_));
    buffer_.clear();
  } catch (...) {
    abort();
    throw;
  }
}

ObjectWriter::Result ObjectWriter::finish() {
  if (done_) throw std::logic_error("ObjectWriter::finish called twice");
  try {
    if (upload_id_.empty()) {
      client_.put_object(key_, buffer_, /*create_only=*/false);
    } else {
      if (!buffer_.empty()) flush_part();
      client_.complete_multipart(key_, upload_id_, etags_);
    }
  } catch (...) {
    abort();
    throw;
  }
  done_ = true;
  buffer_.clear();
  return {hash_.hex(), size_};
}

void ObjectWriter::abort() noexcept {
  done_ = true;
  if (upload_id_.empty()) return;
  try {
    client_.abort_multipart(key_, upload_id_);
  } catch (const std::exception& e) {
    // The store's lifecycle rule (docs/s3.md) removes what is left.
    log::warn("s3_abort_failed", {{"key", key_}, {"error", e.what()}});
  }
  upload_id_.clear();
}

S3BlobStore::S3BlobStore(S3Config cfg, size_t part_size) : client_(std::move(cfg)), part_size_(part_size) {}

std::string S3BlobStore::key(const std::string& rel) const {
  const auto& prefix = client_.config().prefix;
  return prefix.empty() ? rel : prefix + "/" + rel;
}

std::string S3BlobStore::blob_key(const std::string& sha) const {
  check_sha(sha);
  return key("blobs/" + sha.substr(0, 2) + "/" + sha);
}
std::string S3BlobStore::staging_key(const std::string& name) const {
  check_name(name);
  return key("staging/" + name);
}
std::string S3BlobStore::manifest_key(const std::string& name) const {
  check_name(name);
  return key("manifests/" + name);
}

void S3BlobStore::check_writable() {
  const auto& cfg = client_.config();
  const std::string where = "s3://" + cfg.bucket + (cfg.prefix.empty() ? "" : "/" + cfg.prefix) + " at " + cfg.endpoint;
  try {
    client_.check_bucket();
    const std::string probe = key("staging/.write-check-" + random_hex(8));
    client_.put_object(probe, "imgpipe write check", false);
    client_.delete_object(probe);
  } catch (const S3Failure& e) {
    std::string why;
    if (e.s3_code == "NoSuchBucket" || e.status == 404)
      why = "the bucket does not exist";
    else if (e.s3_code == "InvalidAccessKeyId" || e.s3_code == "SignatureDoesNotMatch")
      why = "the credentials are wrong (" + e.s3_code + "; check AWS_ACCESS_KEY_ID and AWS_SECRET_ACCESS_KEY)";
    else if (e.status == 403)
      why = "access denied (" + e.s3_code + "; the key needs the permissions in docs/s3.md)";
    else
      why = "HTTP " + std::to_string(e.status) + " " + e.s3_code;
    throw std::runtime_error("blob store " + where + " is not usable: " + why);
  } catch (const schemas::Error& e) {
    throw std::runtime_error("blob store " + where + " is not reachable: " + e.what());
  }
}

std::string S3BlobStore::put(std::string_view bytes) {
  const std::string sha = sha256_hex(bytes);
  // Create-only: identical bytes already there are left as they are.
  client_.put_object(blob_key(sha), bytes, /*create_only=*/true);
  return sha;
}

bool S3BlobStore::contains(const std::string& sha) { return size_of(sha).has_value(); }

std::optional<uint64_t> S3BlobStore::size_of(const std::string& sha) { return client_.head_object(blob_key(sha)); }

std::optional<std::string> S3BlobStore::read_key(const std::string& k) {
  std::string out;
  if (!client_.get_object(k, [&](std::string_view chunk) { out.append(chunk); })) return std::nullopt;
  return out;
}

std::optional<std::string> S3BlobStore::read(const std::string& sha) { return read_key(blob_key(sha)); }

bool S3BlobStore::read_range(const std::string& sha, uint64_t offset, std::optional<uint64_t> length,
                             const std::function<void(std::string_view)>& sink) {
  return client_.get_object(blob_key(sha), sink, offset, length);
}

void S3BlobStore::remove(const std::string& sha) { client_.delete_object(blob_key(sha)); }

std::unique_ptr<ObjectWriter> S3BlobStore::stage(const std::string& name) {
  return std::make_unique<ObjectWriter>(client_, staging_key(name), part_size_);
}

std::optional<std::string> S3BlobStore::read_staged(const std::string& name) { return read_key(staging_key(name)); }

void S3BlobStore::remove_staged(const std::string& name) { client_.delete_object(staging_key(name)); }

void S3BlobStore::put_manifest(const std::string& name, std::string_view content) {
  client_.put_object(manifest_key(name), content, /*create_only=*/false);
}

std::optional<std::string> S3BlobStore::get_manifest(const std::string& name) { return read_key(manifest_key(name)); }

void S3BlobStore::remove_manifest(const std::string& name) { client_.delete_object(manifest_key(name)); }

namespace {
const char* folder_of(RemoteArea area) {
  return area == RemoteArea::blobs ? "blobs/" : area == RemoteArea::staging ? "staging/" : "manifests/";
}
}  // namespace

std::vector<RemoteEntry> S3BlobStore::list(RemoteArea area) {
  std::vector<RemoteEntry> out;
  for (auto& o : client_.list_objects(key(folder_of(area)))) {
    auto name = o.key.substr(o.key.rfind('/') + 1);  // blobs/ab/<sha256>: the sha256
    if (name.empty() || name.front() == '.') continue;  // the start-up write check's probe
    out.push_back({std::move(name), o.size, o.modified});
  }
  return out;
}

std::vector<RemoteUpload> S3BlobStore::list_unfinished(RemoteArea area) {
  std::vector<RemoteUpload> out;
  for (auto& u : client_.list_uploads(key(folder_of(area))))
    out.push_back({u.key.substr(u.key.rfind('/') + 1), std::move(u.upload_id), u.initiated});
  return out;
}

void S3BlobStore::abort_unfinished(RemoteArea area, const RemoteUpload& upload) {
  const auto k = area == RemoteArea::blobs ? blob_key(upload.name) : area == RemoteArea::staging
                                                                        ? staging_key(upload.name)
                                                                        : manifest_key(upload.name);
  client_.abort_multipart(k, upload.upload_id);
}

void S3BlobStore::put_blob(const std::string& sha, std::string_view bytes) {
  client_.put_object(blob_key(sha), bytes, /*create_only=*/true);
}

// Streams an object into a local file, flushed and closed before returning.
bool S3BlobStore::get_to_file(const std::string& k, const std::filesystem::path& file) {
  std::ofstream out(file, std::ios::binary | std::ios::trunc);
  auto local_failure = [&] {
    log::error("s3_local_write_failed", {{"file", file.string()}});
    return schemas::Error(schemas::ErrorCode::service_unavailable, "The file storage is unavailable.");
  };
  if (!out) throw local_failure();
  const bool found = client_.get_object(k, [&](std::string_view chunk) {
    out.write(chunk.data(), static_cast<std::streamsize>(chunk.size()));
    if (!out) throw local_failure();
  });
  out.close();
  if (!out) throw local_failure();
  return found;
}

bool S3BlobStore::get_blob_to(const std::string& sha, const std::filesystem::path& file) {
  return get_to_file(blob_key(sha), file);
}

bool S3BlobStore::get_staged_to(const std::string& name, const std::filesystem::path& file) {
  const auto tmp = file.parent_path() / ("." + file.filename().string() + ".fetch");
  bool found = false;
  try {
    found = get_to_file(staging_key(name), tmp);
  } catch (...) {
    std::remove(tmp.c_str());
    throw;
  }
  if (!found || std::rename(tmp.c_str(), file.c_str()) != 0) {
    std::remove(tmp.c_str());
    return false;
  }
  return true;
}

namespace {
class StagedObject : public RemoteWriter {
 public:
  explicit StagedObject(std::unique_ptr<ObjectWriter> writer) : writer_(std::move(writer)) {}
  void write(std::string_view bytes) override { writer_->write(bytes); }
  void finish() override { writer_->finish(); }

 private:
  std::unique_ptr<ObjectWriter> writer_;
};
}  // namespace

std::unique_ptr<RemoteWriter> S3BlobStore::open_staged(const std::string& name) {
  return std::make_unique<StagedObject>(stage(name));
}

}  // namespace imgpipe::storage::s3
