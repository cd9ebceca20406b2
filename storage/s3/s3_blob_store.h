#pragma once
// The blob store's operations on an S3 bucket, with the folder store's
// layout under the prefix: blobs/ab/<sha256> (content-addressed, written
// create-only), staging/<name> and manifests/<name>. Large objects go up as
// multipart uploads, aborted when the write fails or is abandoned.

#include <cstdint>
#include <functional>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "storage/blob_store.h"
#include "storage/remote_blobs.h"
#include "storage/s3/s3_client.h"

namespace imgpipe::storage::s3 {

// Streams one object up: buffers a part, sends a single create-only PUT when
// the whole object fits in one part, a multipart upload otherwise. Hashes
// the bytes on the way. Destroyed without finish(), or when a part fails, it
// aborts the multipart upload so no parts are left behind.
class ObjectWriter {
 public:
  ObjectWriter(S3Client& client, std::string key, size_t part_size);
  ~ObjectWriter();
  ObjectWriter(const ObjectWriter&) = delete;
  ObjectWriter& operator=(const ObjectWriter&) = delete;

  void write(std::string_view bytes);
  struct Result {
    std::string sha256;
    uint64_t size = 0;
  };
  // Makes the object durable; returns the sha256 and size of what was written.
  Result finish();

 private:
  void flush_part();
  void abort() noexcept;

  S3Client& client_;
  std::string key_;
  size_t part_size_;
  std::string buffer_;
  std::string upload_id_;
  std::vector<std::string> etags_;
  Sha256 hash_;
  uint64_t size_ = 0;
  bool done_ = false;
};

class S3BlobStore : public RemoteBlobs {
 public:
  // Parts of 8 MiB (S3 wants at least 5 MiB for all parts but the last).
  static constexpr size_t kDefaultPartSize = 8 * 1024 * 1024;
  explicit S3BlobStore(S3Config cfg, size_t part_size = kDefaultPartSize);

  // At start: the bucket answers and an object can be written and removed
  // under the prefix. Throws std::runtime_error with a message for the
  // operator (wrong credentials, missing bucket, no permission, unreachable).
  void check_writable();

  // Stores `bytes` create-only; returns their sha256. Idempotent.
  std::string put(std::string_view bytes);
  bool contains(const std::string& sha256);
  std::optional<uint64_t> size_of(const std::string& sha256);
  std::optional<std::string> read(const std::string& sha256);
  // Streams [offset, offset+length) to sink; false when there is no such blob.
  bool read_range(const std::string& sha256, uint64_t offset, std::optional<uint64_t> length,
                  const std::function<void(std::string_view)>& sink);
  void remove(const std::string& sha256);

  // A writer to staging/<name>: an upload streamed in as it arrives.
  std::unique_ptr<ObjectWriter> stage(const std::string& name);
  std::optional<std::string> read_staged(const std::string& name);
  void remove_staged(const std::string& name) override;

  void put_manifest(const std::string& name, std::string_view content) override;
  std::optional<std::string> get_manifest(const std::string& name) override;
  void remove_manifest(const std::string& name) override;
  std::vector<RemoteEntry> list(RemoteArea area) override;
  std::vector<RemoteUpload> list_unfinished(RemoteArea area) override;
  void abort_unfinished(RemoteArea area, const RemoteUpload& upload) override;

  // RemoteBlobs, for BlobStore::set_remote.
  void put_blob(const std::string& sha256, std::string_view bytes) override;
  std::optional<uint64_t> blob_size(const std::string& sha256) override { return size_of(sha256); }
  bool get_blob_to(const std::string& sha256, const std::filesystem::path& file) override;
  void remove_blob(const std::string& sha256) override { remove(sha256); }
  std::unique_ptr<RemoteWriter> open_staged(const std::string& name) override;
  bool get_staged_to(const std::string& name, const std::filesystem::path& file) override;

  // Object keys, for the claim check in a job and for tools.
  std::string blob_key(const std::string& sha256) const;
  std::string staging_key(const std::string& name) const;
  std::string manifest_key(const std::string& name) const;

  S3Client& client() { return client_; }

 private:
  std::string key(const std::string& rel) const;
  std::optional<std::string> read_key(const std::string& key);
  bool get_to_file(const std::string& key, const std::filesystem::path& file);

  S3Client client_;
  size_t part_size_;
};

}  // namespace imgpipe::storage::s3
