#pragma once
// A store of record behind the local BlobStore (storage/s3/ implements it on
// an S3 bucket). With one set, blobs, staged uploads and manifests live
// there and the local folder only caches blobs that were read.

#include <chrono>
#include <cstdint>
#include <filesystem>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

namespace imgpipe::storage {

// An object written piece by piece as its bytes arrive. Destroyed without
// finish(), it leaves nothing behind (a multipart upload is aborted).
class RemoteWriter {
 public:
  virtual ~RemoteWriter() = default;
  virtual void write(std::string_view bytes) = 0;
  virtual void finish() = 0;  // durable in the store once it returns
};

enum class RemoteArea { blobs, staging, manifests };

// One object of an area: a blob's sha256 or a staged upload's or manifest's name.
struct RemoteEntry {
  std::string name;
  uint64_t size = 0;
  std::chrono::system_clock::time_point modified;
};

// A multipart upload begun in an area and neither completed nor aborted: a
// process killed mid-upload leaves one, its parts kept by the store and
// seen by no object listing.
struct RemoteUpload {
  std::string name, upload_id;
  std::chrono::system_clock::time_point initiated;
};

class RemoteBlobs {
 public:
  virtual ~RemoteBlobs() = default;
  // Create-only: identical bytes already there are left as they are.
  virtual void put_blob(const std::string& sha256, std::string_view bytes) = 0;
  virtual std::optional<uint64_t> blob_size(const std::string& sha256) = 0;
  // Streams the blob into `file` (created or truncated); false when there is none.
  virtual bool get_blob_to(const std::string& sha256, const std::filesystem::path& file) = 0;
  virtual void remove_blob(const std::string& sha256) = 0;

  // Staged uploads by file name: streamed in as they arrive, fetched into a
  // local file by the worker that takes the job.
  virtual std::unique_ptr<RemoteWriter> open_staged(const std::string& name) = 0;
  virtual bool get_staged_to(const std::string& name, const std::filesystem::path& file) = 0;
  virtual void remove_staged(const std::string& name) = 0;

  virtual void put_manifest(const std::string& name, std::string_view content) = 0;
  virtual std::optional<std::string> get_manifest(const std::string& name) = 0;
  virtual void remove_manifest(const std::string& name) = 0;

  // Everything in one area, for the leftover sweeper.
  virtual std::vector<RemoteEntry> list(RemoteArea area) = 0;
  // The unfinished multipart uploads of one area, and the abort of one.
  virtual std::vector<RemoteUpload> list_unfinished(RemoteArea area) = 0;
  virtual void abort_unfinished(RemoteArea area, const RemoteUpload& upload) = 0;
};

}  // namespace imgpipe::storage
