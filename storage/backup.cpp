#include "storage/backup.h"

#include <fstream>
#include <set>
#include <stdexcept>
#include <string_view>
#include <vector>

#include <nlohmann/json.hpp>

#include "schemas/messages.h"
#include "storage/db.h"

namespace imgpipe::storage::backup {
namespace {

namespace fs = std::filesystem;

constexpr const char* kDoneFile = "BACKUP.json";

bool empty_or_absent(const fs::path& dir) {
  std::error_code ec;
  return !fs::exists(dir, ec) || (fs::is_directory(dir, ec) && fs::is_empty(dir, ec));
}

// Hard link when the filesystem allows, else a copy; true when linked.
bool link_or_copy(const fs::path& from, const fs::path& to) {
  fs::create_directories(to.parent_path());
  std::error_code ec;
  fs::create_hard_link(from, to, ec);
  if (!ec) return true;
  fs::copy_file(from, to, fs::copy_options::overwrite_existing);
  return false;
}

// The blob files under `root` in BlobStore's layout (blobs/ab/<sha256>), relative to it.
fs::path blob_relative(const std::string& sha256) { return fs::path("blobs") / sha256.substr(0, 2) / sha256; }

bool plausible_sha256(const std::string& s) {
  return s.size() == 64 && s.find_first_not_of("0123456789abcdef") == std::string::npos;
}

void add_blobs(const schemas::ImageRecord& r, std::set<std::string>& into) {
  if (plausible_sha256(r.blob)) into.insert(r.blob);
  for (const auto& v : r.variants)
    if (plausible_sha256(v.blob)) into.insert(v.blob);
}

}  // namespace

void write_checkpoint(Db& db, const fs::path& to) {
  if (!empty_or_absent(to)) throw std::runtime_error(to.string() + " is not empty");
  fs::create_directories(to);
  db.checkpoint(to / "index");
}

Summary copy_blobs(const fs::path& to, const fs::path& blob_root, const fs::path& token_secret,
                   const OnProgress& progress) {
  Summary summary;
  std::set<std::string> blobs, images;
  {
    // The checkpoint is a database of its own: open it here, read what it references.
    auto snapshot = Db::open(to / "index");
    for (const char* family : {cf::images, cf::variants})
      snapshot->scan(family, "", [&](std::string_view key, std::string_view value) {
        if (std::string_view(family) == cf::images) images.insert(std::string(key));
        add_blobs(schemas::decode_record(std::string(value)), blobs);
        return true;
      });
  }
  summary.images = images.size();
  // The workers' resume manifests (<image id>.json, workers/steps/job_context.h) of the
  // snapshot's images: a replayed job then resumes instead of looking for a staged file.
  std::vector<fs::path> files;
  for (const auto& id : images) {
    auto manifest = fs::path("manifests") / (id + ".json");
    if (fs::exists(blob_root / manifest)) {
      files.push_back(manifest);
      if (auto j = nlohmann::json::parse(std::ifstream(blob_root / manifest), nullptr, false); j.is_object())
        add_blobs(schemas::decode_record(j.dump()), blobs);
    }
  }
  for (const auto& b : blobs) files.push_back(blob_relative(b));

  Progress p{"blobs", 0, files.size(), 0};
  for (const auto& rel : files) {
    auto from = blob_root / rel;
    if (!fs::exists(from))
      throw std::runtime_error("the snapshot references " + rel.string() + ", which is no longer in " +
                               blob_root.string() + "; run the backup again");
    (link_or_copy(from, to / rel) ? summary.linked : summary.copied)++;
    summary.bytes += fs::file_size(from);
    ++summary.files;
    p.done = summary.files;
    p.bytes = summary.bytes;
    if (progress) progress(p);
  }
  if (fs::exists(token_secret)) {
    fs::copy_file(token_secret, to / "token.secret", fs::copy_options::overwrite_existing);
    fs::permissions(to / "token.secret", fs::perms::owner_read | fs::perms::owner_write, fs::perm_options::replace);
  }
  nlohmann::json done = {{"version", 1},   {"images", summary.images}, {"files", summary.files},
                         {"bytes", summary.bytes}};
  std::ofstream(to / kDoneFile) << done.dump(2) << "\n";
  return summary;
}

Summary restore(const fs::path& from, const fs::path& data_dir, const OnProgress& progress) {
  if (!fs::exists(from / kDoneFile))
    throw std::runtime_error(from.string() + " is not a complete backup (no " + kDoneFile + ")");
  if (!empty_or_absent(data_dir)) throw std::runtime_error(data_dir.string() + " is not empty");
  auto done = nlohmann::json::parse(std::ifstream(from / kDoneFile), nullptr, false);
  Summary summary;
  summary.images = done.is_object() ? done.value("images", uint64_t{0}) : 0;
  std::vector<fs::path> files;
  for (const auto& e : fs::recursive_directory_iterator(from))
    if (e.is_regular_file() && e.path().filename() != kDoneFile) files.push_back(fs::relative(e.path(), from));
  Progress p{"restore", 0, files.size(), 0};
  for (const auto& rel : files) {
    auto source = from / rel;
    auto target = data_dir / rel;
    // RocksDB rewrites its MANIFEST, CURRENT, OPTIONS and log files in place
    // or appends to them: those are copied, so the backup stays as it was.
    // Table files and blobs never change: linked.
    const bool immutable = *rel.begin() != "index" || rel.extension() == ".sst";
    if (immutable) (link_or_copy(source, target) ? summary.linked : summary.copied)++;
    else {
      fs::create_directories(target.parent_path());
      fs::copy_file(source, target);
      ++summary.copied;
    }
    summary.bytes += fs::file_size(source);
    ++summary.files;
    p.done = summary.files;
    p.bytes = summary.bytes;
    if (progress) progress(p);
  }
  return summary;
}

}  // namespace imgpipe::storage::backup
