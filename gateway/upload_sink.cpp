#include "gateway/upload_sink.h"

#include <cerrno>
#include <span>

#include "schemas/errors.h"
#include "workers/image/format.h"

namespace imgpipe::gateway {
namespace {
using schemas::Error;
using schemas::ErrorCode;
constexpr size_t kMagicBytes = 64;
constexpr size_t kWriteBatch = 256 * 1024;

// A full staging disk is a 507 (free space, then retry); anything else a 503.
[[noreturn]] void staging_failed(int err) {
  if (err == ENOSPC || err == EDQUOT)
    throw Error(ErrorCode::insufficient_storage, "The upload could not be staged: the server's disk is full.");
  throw Error(ErrorCode::service_unavailable, "The upload could not be staged.");
}
}  // namespace

UploadSink::UploadSink(storage::BlobStore& blobs, std::string staged_name, std::string boundary,
                       uint64_t max_file_bytes, std::function<void(StagedUpload, Respond)> on_complete)
    : blobs_(blobs), max_file_bytes_(max_file_bytes), on_complete_(std::move(on_complete)) {
  staged_.file_name = std::move(staged_name);
  path_ = blobs_.staging_dir() / staged_.file_name;
  MultipartParser::Callbacks cb;
  cb.on_part_begin = [this](const MultipartPart& part) {
    field_ = nullptr;
    if (part.name == "file") {
      begin_file(part);
      return true;
    }
    if (part.name == "name") field_ = &staged_.name;
    else if (part.name == "tags") field_ = &staged_.tags;
    else if (part.name == "namespace") field_ = &staged_.ns;
    else if (part.name == "caption") field_ = &staged_.caption;
    else if (part.name == "labels") field_ = &staged_.labels;
    else if (part.name == "metadata") field_ = &staged_.metadata;
    else if (part.name == "ttl") field_ = &staged_.ttl;
    else if (part.name == "public") {
      staged_.has_public = true;
      field_ = &staged_.is_public;
    }
    if (field_ != nullptr && !seen_fields_.insert(part.name).second)
      throw Error(ErrorCode::bad_request, "The multipart field '" + part.name + "' is sent more than once.");
    return field_ != nullptr;  // unknown fields are skipped
  };
  cb.on_part_data = [this](const char* data, size_t size) {
    if (field_) field_->append(data, size);
    else file_data(data, size);
  };
  cb.on_part_end = [this] {
    if (!field_ && file_ && !magic_checked_) check_magic();
    field_ = nullptr;
  };
  parser_ = std::make_unique<MultipartParser>(std::move(boundary), std::move(cb));
}

UploadSink::~UploadSink() {
  if (file_) std::fclose(file_);
  remote_.reset();  // unfinished: aborted in the store
  if (!done_) {
    std::error_code ignored;
    std::filesystem::remove(path_, ignored);  // aborted: leave nothing behind
  }
}

void UploadSink::begin_file(const MultipartPart& part) {
  if (seen_file_) throw Error(ErrorCode::bad_request, "Send exactly one 'file' part.");
  seen_file_ = true;
  staged_.original_filename = part.filename.value_or("");
  staged_.content_type = part.content_type;
  pending_.reserve(kWriteBatch);
  // Workers on other machines read it from there; a failure is a 503.
  remote_ = blobs_.open_remote_staged(staged_.file_name);
  if (remote_) return;
  file_ = std::fopen(path_.c_str(), "wb");
  if (!file_) staging_failed(errno);
  std::setvbuf(file_, nullptr, _IONBF, 0);  // pending_ is the buffer
}

void UploadSink::file_data(const char* data, size_t size) {
  staged_.bytes += size;
  if (staged_.bytes > max_file_bytes_)
    throw Error(ErrorCode::file_too_large,
                "The file is larger than the limit of " + std::to_string(max_file_bytes_ / (1024 * 1024)) + " MB.");
  if (!magic_checked_) {
    head_.append(data, std::min(size, kMagicBytes - std::min(head_.size(), kMagicBytes)));
    if (head_.size() >= kMagicBytes) check_magic();
  }
  pending_.append(data, size);
  if (pending_.size() >= kWriteBatch) write_pending();
}

void UploadSink::write_pending() {
  if (pending_.empty()) return;
  hash_.update(pending_.data(), pending_.size());
  if (remote_)
    remote_->write(pending_);
  else if (std::fwrite(pending_.data(), 1, pending_.size(), file_) != pending_.size()) staging_failed(errno);
  pending_.clear();
}

// Decided from the bytes, never from the file name or the declared type.
void UploadSink::check_magic() {
  magic_checked_ = true;
  auto bytes = std::span(reinterpret_cast<const uint8_t*>(head_.data()), head_.size());
  if (!workers::image::sniff(bytes)) throw Error(ErrorCode::unsupported_format);
}

void UploadSink::write(const char* data, size_t size) { parser_->feed(data, size); }

void UploadSink::finish(Respond respond) {
  parser_->finish();
  if (!seen_file_) throw Error(ErrorCode::bad_request, "The multipart field 'file' is missing.");
  if (!magic_checked_) check_magic();
  write_pending();
  // No fsync here: a 201 waits for the worker to store the normalised original
  // durably, and a staged file lost to a machine crash before that fails its
  // sha256 check, so nobody was ever told it was kept (docs/architecture.md).
  if (remote_) {
    remote_->finish();  // a failure is a 503 and no job is sent
  } else {
    int err = std::fflush(file_) == 0 ? 0 : errno;
    if (std::fclose(file_) != 0 && err == 0) err = errno;
    file_ = nullptr;
    if (err != 0) staging_failed(err);
  }
  staged_.sha256 = hash_.hex();
  done_ = true;
  const std::string name = staged_.file_name;
  try {
    on_complete_(std::move(staged_), std::move(respond));
  } catch (...) {
    // Refused after the body arrived (a bad tag, a full bus): no job will
    // claim the staged file, here or in the remote store's staging area.
    try {
      blobs_.remove_staged(name);
    } catch (...) {  // the store unreachable: the leftover sweeper takes it later
    }
    throw;
  }
}

}  // namespace imgpipe::gateway
