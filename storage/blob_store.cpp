#include "storage/blob_store.h"

#include <fcntl.h>
#include <openssl/evp.h>
#include <spdlog/spdlog.h>
#include <sys/stat.h>
#include <unistd.h>

#include <atomic>
#include <cctype>
#include <cerrno>
#include <cstring>
#include <random>

#include "schemas/errors.h"

namespace imgpipe::storage {
namespace fs = std::filesystem;
using schemas::Error;
using schemas::ErrorCode;

namespace {

// A full disk (ENOSPC, EDQUOT) is a 507 for the caller, every other I/O
// failure (EIO, EACCES, ...) a 503; the path and errno go to the log only
// (a client never sees a path).
[[noreturn]] void io_failure(std::string_view what, const fs::path& path, int err) {
  spdlog::error("blob store: {} {}: {}", what, path.string(), std::strerror(err));
  if (err == ENOSPC || err == EDQUOT)
    throw Error(ErrorCode::insufficient_storage, "The server has no room to store this.");
  throw Error(ErrorCode::service_unavailable, "The file storage is unavailable.");
}

bool valid_sha256(const std::string& s) {
  if (s.size() != 64) return false;
  for (char c : s)
    if (!((c >= '0' && c <= '9') || (c >= 'a' && c <= 'f'))) return false;
  return true;
}

void require_sha256(const std::string& s) {
  if (!valid_sha256(s)) throw Error(ErrorCode::bad_request, "Invalid content hash.");
}

// Manifest names are chosen by our code, but never let one escape the folder.
void require_manifest_name(const std::string& name) {
  if (!BlobStore::is_manifest_name(name)) throw Error(ErrorCode::internal_error, "Invalid manifest name.");
}

// A unique temporary name in `dir`. Leading '.' so listings of blobs skip it.
fs::path temp_path(const fs::path& dir) {
  static const uint64_t seed = std::random_device{}() ^ (static_cast<uint64_t>(::getpid()) << 32);
  static std::atomic<uint64_t> counter{0};
  return dir / (".tmp-" + std::to_string(seed) + "-" + std::to_string(counter.fetch_add(1)));
}

class Fd {
 public:
  explicit Fd(int fd) : fd_(fd) {}
  ~Fd() {
    if (fd_ >= 0) ::close(fd_);
  }
  Fd(const Fd&) = delete;
  Fd& operator=(const Fd&) = delete;
  int get() const { return fd_; }
  // close(2) can report a deferred write error (NFS): check it.
  int release_close() {
    int fd = fd_;
    fd_ = -1;
    return ::close(fd);
  }

 private:
  int fd_;
};

void fsync_dir(const fs::path& dir) {
  Fd fd(::open(dir.c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC));
  if (fd.get() < 0) io_failure("open dir", dir, errno);
  if (::fsync(fd.get()) != 0) io_failure("fsync dir", dir, errno);
}

// Creates `dir` (one level below an existing parent) durably.
void ensure_dir(const fs::path& dir) {
  if (::mkdir(dir.c_str(), 0755) == 0) {
    fsync_dir(dir.parent_path());
    return;
  }
  if (errno != EEXIST) io_failure("mkdir", dir, errno);
}

// Writes `bytes` to `target` atomically: temp file in the same folder, fsync,
// rename over the target, fsync the folder.
void write_atomically(const fs::path& target, std::string_view bytes) {
  const auto dir = target.parent_path();
  const auto tmp = temp_path(dir);
  Fd fd(::open(tmp.c_str(), O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0644));
  if (fd.get() < 0) io_failure("create", tmp, errno);
  auto fail = [&](std::string_view what) {
    int err = errno;
    ::unlink(tmp.c_str());
    io_failure(what, tmp, err);
  };
  const char* p = bytes.data();
  size_t left = bytes.size();
  while (left > 0) {
    ssize_t n = ::write(fd.get(), p, left);
    if (n < 0) {
      if (errno == EINTR) continue;
      fail("write");
    }
    p += n;
    left -= static_cast<size_t>(n);
  }
  if (::fsync(fd.get()) != 0) fail("fsync");
  if (fd.release_close() != 0) fail("close");
  if (::rename(tmp.c_str(), target.c_str()) != 0) fail("rename");
  fsync_dir(dir);
}

std::optional<std::string> read_whole(const fs::path& path) {
  Fd fd(::open(path.c_str(), O_RDONLY | O_CLOEXEC));
  if (fd.get() < 0) {
    if (errno == ENOENT) return std::nullopt;
    io_failure("open", path, errno);
  }
  struct stat st {};
  if (::fstat(fd.get(), &st) != 0) io_failure("stat", path, errno);
  std::string out;
  out.reserve(static_cast<size_t>(st.st_size));
  char buf[1 << 16];
  for (;;) {
    ssize_t n = ::read(fd.get(), buf, sizeof buf);
    if (n < 0) {
      if (errno == EINTR) continue;
      io_failure("read", path, errno);
    }
    if (n == 0) break;
    out.append(buf, static_cast<size_t>(n));
  }
  return out;
}

// True if `path` exists; then its time becomes now (the sweeper's
// "recently needed"). A failed time update is harmless: the file is there.
bool touch(const fs::path& path) {
  if (::utimensat(AT_FDCWD, path.c_str(), nullptr, 0) == 0) return true;
  struct stat st {};
  return errno != ENOENT && ::stat(path.c_str(), &st) == 0;
}

void remove_file(const fs::path& path) {
  if (::unlink(path.c_str()) != 0) {
    if (errno == ENOENT) return;
    io_failure("unlink", path, errno);
  }
  fsync_dir(path.parent_path());
}

}  // namespace

// Blobs are never partially visible: a name under blobs/ always holds its
// complete content, so "exists" means "stored". Concurrent writers of the same
// bytes each write their own temp file and rename over one another; the
// content is identical, so the last rename wins harmlessly.
// Unreferenced blobs and stale .tmp-* files (a crash between create and
// rename) are collected by the leftover sweeper (leftover_sweeper.h).
BlobStore::BlobStore(fs::path root, fs::path staging)
    : root_(std::move(root)),
      blobs_(root_ / "blobs"),
      staging_(staging.empty() ? root_ / "staging" : std::move(staging)),
      manifests_(root_ / "manifests") {
  std::error_code ec;
  for (const auto& dir : {root_, blobs_, staging_, manifests_}) {
    fs::create_directories(dir, ec);
    if (ec) io_failure("create", dir, ec.value());
  }
  // All 256 fan-out folders up front, made durable once, so that a put never
  // races another writer's first mkdir of the same folder.
  static constexpr char digits[] = "0123456789abcdef";
  bool created = false;
  for (int i = 0; i < 256; ++i) {
    const auto dir = blobs_ / std::string{digits[i >> 4], digits[i & 0xf]};
    if (::mkdir(dir.c_str(), 0755) == 0)
      created = true;
    else if (errno != EEXIST)
      io_failure("mkdir", dir, errno);
  }
  if (created) {
    fsync_dir(blobs_);
    fsync_dir(root_);
  }
}

fs::path BlobStore::local_path(const std::string& sha256) const {
  require_sha256(sha256);
  return blobs_ / sha256.substr(0, 2) / sha256;
}

// Brings a blob from the remote store into blobs/ (temp file, rename), so
// callers that open files (libvips, the file responder) work unchanged.
bool BlobStore::fetch_blob(const std::string& sha256) const {
  const auto target = local_path(sha256);
  const auto tmp = temp_path(target.parent_path());
  bool found = false;
  try {
    found = remote_->get_blob_to(sha256, tmp) || copy_from_fallback(fs::path("blobs") / sha256.substr(0, 2) / sha256, tmp);
  } catch (...) {
    ::unlink(tmp.c_str());
    throw;
  }
  if (!found) {
    ::unlink(tmp.c_str());
    return false;
  }
  if (::rename(tmp.c_str(), target.c_str()) != 0) {
    int err = errno;
    ::unlink(tmp.c_str());
    io_failure("rename", target, err);
  }
  return true;
}

// During a move to a remote store (--blob-fallback DIR): what is not there
// yet is read from the old folder (same layout), so no request fails.
bool BlobStore::copy_from_fallback(const fs::path& relative, const fs::path& to) const {
  if (fallback_.empty()) return false;
  std::error_code ec;
  fs::copy_file(fallback_ / relative, to, fs::copy_options::overwrite_existing, ec);
  if (!ec) return true;
  if (ec == std::errc::no_such_file_or_directory) return false;
  io_failure("copy from --blob-fallback", fallback_ / relative, ec.value());
}

void BlobStore::set_remote(std::shared_ptr<RemoteBlobs> remote, uint64_t cache_bytes) {
  remote_ = std::move(remote);
  cache_ = remote_ ? std::make_unique<BlobCache>(blobs_, cache_bytes) : nullptr;
}

fs::path BlobStore::path_of(const std::string& sha256) const {
  auto path = local_path(sha256);
  if (!remote_) return path;
  struct stat st {};
  if (::stat(path.c_str(), &st) != 0 && (!fetch_blob(sha256) || ::stat(path.c_str(), &st) != 0))
    return path;  // in neither: the caller finds no file
  cache_->used(sha256, static_cast<uint64_t>(st.st_size));
  return path;
}

bool BlobStore::contains(const std::string& sha256) const {
  if (!valid_sha256(sha256)) return false;
  struct stat st {};
  if (::stat(local_path(sha256).c_str(), &st) == 0) return true;
  if (!remote_) return false;
  if (remote_->blob_size(sha256).has_value()) return true;
  const auto old = fallback_ / "blobs" / sha256.substr(0, 2) / sha256;
  return !fallback_.empty() && ::stat(old.c_str(), &st) == 0;
}

std::optional<uint64_t> BlobStore::size_of(const std::string& sha256) const {
  if (!valid_sha256(sha256)) return std::nullopt;
  struct stat st {};
  if (::stat(path_of(sha256).c_str(), &st) != 0) return std::nullopt;
  return static_cast<uint64_t>(st.st_size);
}

std::optional<std::string> BlobStore::read(const std::string& sha256) const {
  if (!valid_sha256(sha256)) return std::nullopt;
  return read_whole(path_of(sha256));
}

std::string BlobStore::put(std::string_view bytes) {
  auto sha = sha256_hex(bytes);
  std::shared_lock lock(sweep_mu_);
  if (remote_) {
    remote_->put_blob(sha, bytes);
    note_remote_put(sha);
    return sha;
  }
  const auto target = local_path(sha);
  if (touch(target)) return sha;
  ensure_dir(target.parent_path());
  write_atomically(target, bytes);
  return sha;
}

std::optional<uint64_t> BlobStore::remove_if_older(const fs::path& file, fs::file_time_type cutoff) {
  std::unique_lock lock(sweep_mu_);
  std::error_code ec;
  const auto at = fs::last_write_time(file, ec);
  if (ec || at >= cutoff) return std::nullopt;
  const auto size = fs::file_size(file, ec);
  if (::unlink(file.c_str()) != 0) return std::nullopt;
  return ec ? 0 : size;
}

// An hour covers any put() until the manifest or index entry that refers to
// the blob is written (from then on the sweeper sees the reference).
void BlobStore::note_remote_put(const std::string& sha256) {
  constexpr auto kRemembered = std::chrono::hours(1);
  const auto now = std::chrono::system_clock::now();
  std::lock_guard lock(puts_mu_);
  remote_puts_[sha256] = now;
  if (remote_puts_.size() % 4096 == 0)
    std::erase_if(remote_puts_, [&](const auto& p) { return p.second < now - kRemembered; });
}

std::vector<RemoteEntry> BlobStore::list_remote(RemoteArea area) const {
  return remote_ ? remote_->list(area) : std::vector<RemoteEntry>{};
}

std::vector<RemoteUpload> BlobStore::list_remote_uploads(RemoteArea area) const {
  return remote_ ? remote_->list_unfinished(area) : std::vector<RemoteUpload>{};
}

void BlobStore::abort_remote_upload(RemoteArea area, const RemoteUpload& upload) {
  if (remote_) remote_->abort_unfinished(area, upload);
}

bool BlobStore::remove_remote_if_older(RemoteArea area, const RemoteEntry& entry,
                                       std::chrono::system_clock::time_point cutoff) {
  std::unique_lock lock(sweep_mu_);
  if (!remote_ || entry.modified >= cutoff) return false;
  switch (area) {
    case RemoteArea::blobs: {
      {
        std::lock_guard puts(puts_mu_);
        auto it = remote_puts_.find(entry.name);
        if (it != remote_puts_.end() && it->second >= cutoff) return false;
      }
      remote_->remove_blob(entry.name);
      cache_->forget(entry.name);
      ::unlink(local_path(entry.name).c_str());  // its cached copy, if any
      break;
    }
    case RemoteArea::staging:
      remote_->remove_staged(entry.name);
      break;
    case RemoteArea::manifests:
      remote_->remove_manifest(entry.name);
      break;
  }
  return true;
}

void BlobStore::remove(const std::string& sha256) {
  if (!valid_sha256(sha256)) return;
  if (remote_) {
    remote_->remove_blob(sha256);
    cache_->forget(sha256);
  }
  remove_file(local_path(sha256));
}

void BlobStore::put_manifest(const std::string& name, std::string_view content) {
  require_manifest_name(name);
  if (remote_) return remote_->put_manifest(name, content);
  write_atomically(manifests_ / name, content);
}

std::optional<std::string> BlobStore::get_manifest(const std::string& name) const {
  require_manifest_name(name);
  if (!remote_) return read_whole(manifests_ / name);
  if (auto text = remote_->get_manifest(name)) return text;
  return fallback_.empty() ? std::nullopt : read_whole(fallback_ / "manifests" / name);
}

bool BlobStore::is_manifest_name(const std::string& name) {
  bool ok = !name.empty() && name.size() <= 200 && name.front() != '.';
  for (char c : name)
    if (!(std::isalnum(static_cast<unsigned char>(c)) || c == '.' || c == '_' || c == '-')) ok = false;
  return ok;
}

void BlobStore::remove_manifest(const std::string& name) {
  require_manifest_name(name);
  if (remote_) remote_->remove_manifest(name);
  std::error_code ignored;
  fs::remove(manifests_ / name, ignored);
}

std::unique_ptr<RemoteWriter> BlobStore::open_remote_staged(const std::string& name) {
  require_manifest_name(name);
  return remote_ ? remote_->open_staged(name) : nullptr;
}

bool BlobStore::fetch_staged(const std::string& name) {
  require_manifest_name(name);
  const auto path = staging_ / name;
  struct stat st {};
  if (::stat(path.c_str(), &st) == 0) return true;
  if (!remote_) return false;
  if (remote_->get_staged_to(name, path)) return true;
  const auto tmp = temp_path(staging_);
  if (copy_from_fallback(fs::path("staging") / name, tmp) && ::rename(tmp.c_str(), path.c_str()) == 0) return true;
  ::unlink(tmp.c_str());
  return false;
}

void BlobStore::remove_staged(const std::string& name) {
  require_manifest_name(name);
  if (remote_) remote_->remove_staged(name);
  std::error_code ignored;
  fs::remove(staging_ / name, ignored);
}

// --- sha256 through OpenSSL's EVP interface ---

namespace {
std::string to_hex(const unsigned char* d, unsigned n) {
  static constexpr char digits[] = "0123456789abcdef";
  std::string out(n * 2, '\0');
  for (unsigned i = 0; i < n; ++i) {
    out[2 * i] = digits[d[i] >> 4];
    out[2 * i + 1] = digits[d[i] & 0xf];
  }
  return out;
}

[[noreturn]] void crypto_failure() {
  spdlog::error("OpenSSL sha256 failed");
  throw Error(ErrorCode::internal_error);
}
}  // namespace

Sha256::Sha256() : ctx_(EVP_MD_CTX_new()) {
  if (ctx_ == nullptr || EVP_DigestInit_ex(static_cast<EVP_MD_CTX*>(ctx_), EVP_sha256(), nullptr) != 1) {
    EVP_MD_CTX_free(static_cast<EVP_MD_CTX*>(ctx_));
    crypto_failure();
  }
}

Sha256::~Sha256() { EVP_MD_CTX_free(static_cast<EVP_MD_CTX*>(ctx_)); }

void Sha256::update(const void* data, size_t size) {
  if (size > 0 && EVP_DigestUpdate(static_cast<EVP_MD_CTX*>(ctx_), data, size) != 1) crypto_failure();
}

std::string Sha256::hex() {
  unsigned char digest[EVP_MAX_MD_SIZE];
  unsigned len = 0;
  auto* ctx = static_cast<EVP_MD_CTX*>(ctx_);
  if (EVP_DigestFinal_ex(ctx, digest, &len) != 1) crypto_failure();
  // Ready for the next stream.
  if (EVP_DigestInit_ex(ctx, EVP_sha256(), nullptr) != 1) crypto_failure();
  return to_hex(digest, len);
}

std::string sha256_hex(std::string_view bytes) {
  Sha256 h;
  h.update(bytes.data(), bytes.size());
  return h.hex();
}

}  // namespace imgpipe::storage
