// imgpipe blobs migrate: copies a folder blob store (--blob-dir or a data
// dir) into an S3 store, object by object, each verified by sha256, skipping
// what is already there so that a run killed half-way resumes where it was.
// docs/operations.md walks through a move while the install serves.
#include <chrono>
#include <cstdio>
#include <filesystem>
#include <fstream>
#include <iostream>
#include <set>
#include <string>
#include <vector>

#include <boost/program_options.hpp>

#include "ops/maintenance_commands.h"
#include "ops/s3_store_setup.h"
#include "schemas/log.h"
#include "storage/blob_store.h"

namespace imgpipe::ops {
namespace {

namespace fs = std::filesystem;
namespace po = boost::program_options;

constexpr const char* kUsage = R"(Usage: imgpipe blobs migrate --from DIR --to s3://BUCKET/PREFIX [S3 options]

Copies every blob, staged upload and manifest of the folder store DIR (the
old --blob-dir, or the data dir) into the S3 store, in that order (a
manifest only after its blobs). Each copy is verified by sha256: a blob's
bytes must hash to its name before it is sent, and the store checks every
request's payload hash (x-amz-content-sha256). Objects already there with
the same size (blobs, staged files) or the same bytes (manifests) are
skipped, so a killed run is resumed by running it again (which first
aborts the multipart uploads the killed run left open on the keys it
copies: "aborted" in its lines). Progress goes to
stderr as JSON lines. It can run while the install serves: start the
gateways and workers with --blob-store and --blob-fallback DIR first.
Exits 0 when everything is in the store, 1 when anything failed.
Credentials: AWS_ACCESS_KEY_ID, AWS_SECRET_ACCESS_KEY (AWS_SESSION_TOKEN).
)";

struct Counts {
  uint64_t files = 0, copied = 0, skipped = 0, failed = 0, bytes = 0, aborted = 0;
};

class Migration {
 public:
  Migration(fs::path from, storage::s3::S3BlobStore& store) : from_(std::move(from)), store_(store) {}

  bool run() {
    auto blobs = list(from_ / "blobs", true);
    auto staged = list(from_ / "staging", false);
    auto manifests = list(from_ / "manifests", false);
    total_ = blobs.size() + staged.size() + manifests.size();
    log::info("migrate_start", {{"from", from_.string()}, {"blobs", blobs.size()}, {"staged", staged.size()},
                                {"manifests", manifests.size()}});
    abort_unfinished(blobs, staged);
    for (const auto& f : blobs) step("blob", f, [&] { return copy_blob(f); });
    for (const auto& f : staged) step("staged", f, [&] { return copy_staged(f); });
    for (const auto& f : manifests) step("manifest", f, [&] { return copy_manifest(f); });
    progress(true);
    return c_.failed == 0;
  }

 private:
  // Files of one area (blobs/ has one level of fan-out folders); temporary
  // files (a leading '.') are left out.
  static std::vector<fs::path> list(const fs::path& dir, bool fan_out) {
    std::vector<fs::path> out;
    std::error_code ec;
    for (fs::directory_iterator it(dir, ec), end; !ec && it != end; it.increment(ec)) {
      if (fan_out && it->is_directory()) {
        for (auto& f : list(it->path(), false)) out.push_back(std::move(f));
        continue;
      }
      if (it->is_regular_file() && it->path().filename().string().front() != '.') out.push_back(it->path());
    }
    return out;
  }

  // A run killed while it sent a large file left that file's multipart
  // upload open (its parts stored, no object). Only this command writes
  // these keys (content-addressed blobs, the old folder's staged names), so
  // their open uploads are ours to abort before the files go up again.
  void abort_unfinished(const std::vector<fs::path>& blobs, const std::vector<fs::path>& staged) {
    std::set<std::string> ours;
    auto add = [&](auto key_of, const fs::path& f) {
      try {
        ours.insert((store_.*key_of)(f.filename().string()));
      } catch (const std::exception&) {
        // A name that is no key: its copy fails and is reported on its turn.
      }
    };
    for (const auto& f : blobs) add(&storage::s3::S3BlobStore::blob_key, f);
    for (const auto& f : staged) add(&storage::s3::S3BlobStore::staging_key, f);
    const auto& prefix = store_.client().config().prefix;
    for (const char* area : {"blobs/", "staging/"})
      for (const auto& u : store_.client().list_uploads(prefix.empty() ? area : prefix + "/" + area)) {
        if (!ours.count(u.key)) continue;
        store_.client().abort_multipart(u.key, u.upload_id);
        ++c_.aborted;
        log::info("migrate_aborted_upload", {{"key", u.key}, {"upload_id", u.upload_id}});
      }
  }

  template <class Copy>
  void step(const char* kind, const fs::path& file, Copy copy) {
    ++c_.files;
    try {
      if (copy()) ++c_.copied;
      else ++c_.skipped;
    } catch (const std::exception& e) {
      ++c_.failed;
      log::error("migrate_failed", {{"kind", kind}, {"file", file.string()}, {"error", e.what()}});
    }
    progress(false);
  }

  // Streams `file` to `key`; the sha256 of what was read must be `expect`
  // (when given) before the object is completed, else nothing is written.
  void send(const fs::path& file, const std::string& key, const std::string& expect) {
    std::ifstream in(file, std::ios::binary);
    if (!in) throw std::runtime_error("cannot read the file");
    storage::s3::ObjectWriter writer(store_.client(), key, storage::s3::S3BlobStore::kDefaultPartSize);
    storage::Sha256 read_hash;
    std::string buffer(1 << 20, '\0');
    while (in.read(buffer.data(), static_cast<std::streamsize>(buffer.size())) || in.gcount() > 0) {
      const std::string_view chunk(buffer.data(), static_cast<size_t>(in.gcount()));
      read_hash.update(chunk.data(), chunk.size());
      writer.write(chunk);
      c_.bytes += chunk.size();
    }
    if (in.bad()) throw std::runtime_error("read error");
    // Checked before the object is completed: on a mismatch the writer is
    // dropped unfinished and the store keeps nothing (a multipart is aborted).
    if (!expect.empty() && read_hash.hex() != expect)
      throw std::runtime_error("the blob's bytes do not match its name (damaged on disk)");
    const auto sent = writer.finish();
    if (store_.client().head_object(key) != sent.size) throw std::runtime_error("the store does not hold what was sent");
  }

  bool copy_blob(const fs::path& file) {
    const auto sha = file.filename().string();
    const auto key = store_.blob_key(sha);  // throws on a name that is no sha256
    if (store_.client().head_object(key) == fs::file_size(file)) return false;
    send(file, key, sha);
    return true;
  }

  bool copy_staged(const fs::path& file) {
    const auto key = store_.staging_key(file.filename().string());
    if (store_.client().head_object(key) == fs::file_size(file)) return false;
    send(file, key, "");
    return true;
  }

  bool copy_manifest(const fs::path& file) {
    const auto name = file.filename().string();
    std::ifstream in(file, std::ios::binary);
    const std::string text((std::istreambuf_iterator<char>(in)), {});
    if (!in.good() && !in.eof()) throw std::runtime_error("cannot read the file");
    if (store_.get_manifest(name) == text) return false;
    store_.put_manifest(name, text);
    if (store_.get_manifest(name) != text) throw std::runtime_error("the store does not hold what was sent");
    c_.bytes += text.size();
    return true;
  }

  // A line every 2 s and the last one always.
  void progress(bool last) {
    const auto now = std::chrono::steady_clock::now();
    if (!last && now - last_line_ < std::chrono::seconds(2)) return;
    last_line_ = now;
    log::info(last ? "migrate_done" : "migrate_progress",
              {{"done", c_.files}, {"total", total_}, {"copied", c_.copied}, {"skipped", c_.skipped},
               {"failed", c_.failed}, {"aborted", c_.aborted}, {"bytes", c_.bytes}});
  }

  const fs::path from_;
  storage::s3::S3BlobStore& store_;
  Counts c_;
  uint64_t total_ = 0;
  std::chrono::steady_clock::time_point last_line_{};
};

}  // namespace

int blobs_command(int argc, char** argv) {
  if (argc < 2 || std::string(argv[1]) != "migrate") {
    std::cerr << kUsage;
    return 2;
  }
  std::string from;
  S3StoreFlags flags;
  po::options_description options("Options");
  options.add_options()("help,h", "this help")
      ("from", po::value(&from)->required(), "the folder store to copy (blobs/, staging/, manifests/ under it)")
      ("to", po::value(&flags.location)->required(), "s3://BUCKET/PREFIX, as given to --blob-store")
      ("s3-endpoint", po::value(&flags.endpoint), "S3 endpoint URL; default: AWS S3 in --s3-region")
      ("s3-region", po::value(&flags.region)->default_value(flags.region), "S3 region for signing")
      ("s3-path-style", po::bool_switch(&flags.path_style), "path-style addressing (endpoint/bucket/key)");
  try {
    po::variables_map vm;
    po::store(po::parse_command_line(argc - 1, argv + 1, options), vm);
    if (vm.count("help")) {
      std::cout << kUsage << "\n" << options << "\n";
      return 0;
    }
    po::notify(vm);
  } catch (const po::error& e) {
    std::cerr << "imgpipe blobs migrate: " << e.what() << "\n\n" << kUsage;
    return 2;
  }
  log::setup("info");
  if (!fs::is_directory(fs::path(from) / "blobs")) {
    std::cerr << "imgpipe blobs migrate: " << from << " has no blobs/ folder (give the old --blob-dir or data dir)\n";
    return 2;
  }
  try {
    auto store = open_s3_store(flags);
    return Migration(from, *store).run() ? 0 : 1;
  } catch (const std::exception& e) {
    log::error("fatal", {{"command", "blobs migrate"}, {"error", e.what()}});
    return 1;
  }
}

}  // namespace imgpipe::ops
