#pragma once
// Backups of a data dir: a consistent snapshot of a running server and its
// restore into a new data dir (`imgpipe backup`, `imgpipe restore`).
//
// A backup folder holds
//   index/              a RocksDB checkpoint: images, keys, usage and, on the
//                       embedded bus, the topics themselves, all of one moment
//   blobs/ab/<sha256>   every blob an image or variant of that checkpoint names
//   manifests/          the workers' resume manifests of those images
//   token.secret        so verification links sent before still work
//   BACKUP.json         written last: a folder without it is not a backup
//
// Two steps, because one process owns the RocksDB: write_checkpoint() runs in
// the server (the admin API calls it), copy_blobs() in any process afterwards.
// Blobs are immutable and content-addressed, so a blob the checkpoint names
// was complete before the checkpoint was taken; the running server only
// removes one after it has been unreferenced for --blob-grace (10 min by
// default), which bounds how long the blob step may take. A blob that is gone
// anyway fails the backup by name: never a silently partial backup.
// Files are hard-linked where source and target share a filesystem (blobs and
// table files never change in place), copied otherwise.

#include <cstdint>
#include <filesystem>
#include <functional>
#include <string>

namespace imgpipe::storage {

class Db;

namespace backup {

struct Progress {
  std::string phase;  // "blobs", "index"
  uint64_t done = 0, total = 0;  // files
  uint64_t bytes = 0;            // bytes of the files done
};
using OnProgress = std::function<void(const Progress&)>;

struct Summary {
  uint64_t images = 0;  // image records in the snapshot
  uint64_t files = 0;   // blob and manifest files
  uint64_t bytes = 0;
  uint64_t linked = 0, copied = 0;
};

// In the process that owns `db`: `to`/index. `to` must be absent or empty.
void write_checkpoint(Db& db, const std::filesystem::path& to);

// The blobs (and manifests) the checkpoint in `to` references, from the blob
// store at `blob_root`, plus `token_secret` when it exists; then BACKUP.json.
Summary copy_blobs(const std::filesystem::path& to, const std::filesystem::path& blob_root,
                   const std::filesystem::path& token_secret, const OnProgress& progress);

// A complete backup `from` into `data_dir` (absent or empty), in the layout
// `imgpipe serve --data-dir` expects. Throws std::runtime_error on an
// incomplete backup or a non-empty target.
Summary restore(const std::filesystem::path& from, const std::filesystem::path& data_dir, const OnProgress& progress);

}  // namespace backup
}  // namespace imgpipe::storage
