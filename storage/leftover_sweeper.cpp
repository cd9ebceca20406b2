#include "storage/leftover_sweeper.h"

#include <spdlog/spdlog.h>

#include <filesystem>
#include <map>
#include <set>
#include <unordered_set>
#include <vector>

#include "schemas/messages.h"

namespace imgpipe::storage {
namespace fs = std::filesystem;
namespace {

using namespace std::chrono_literals;

bool is_temp(const fs::path& p) { return p.filename().string().rfind(".tmp-", 0) == 0; }

// The files of ingest jobs the worker group has not committed: queued or
// running. `complete` is false when the topic could not be read to its end;
// then nothing that a job might need is removed.
struct PendingJobs {
  bool complete = false;
  std::set<std::string> staged_names;  // file names in the staging folder
  std::set<std::string> image_ids;
};

PendingJobs pending_jobs(Bus& bus, const std::string& group) {
  PendingJobs out;
  std::map<int32_t, int64_t> from, until;
  for (const auto& p : bus.describe(topics::ingest, group)) {
    const int64_t start = std::max(p.committed >= 0 ? p.committed : p.low, p.low);
    if (start < p.high) {
      from[p.partition] = start;
      until[p.partition] = p.high;
    }
  }
  if (until.empty()) {
    out.complete = true;
    return out;
  }
  auto reader = bus.read(topics::ingest, StartAt::from_offsets(from));
  while (!until.empty()) {
    auto m = reader->poll(5s);
    if (!m) return out;  // incomplete
    auto it = until.find(m->partition);
    if (it == until.end()) continue;
    try {
      auto job = schemas::decode_ingest_job(m->value);
      out.image_ids.insert(job.image_id);
      if (!job.staged_path.empty()) out.staged_names.insert(fs::path(job.staged_path).filename().string());
      out.staged_names.insert(job.image_id + ".import");
    } catch (const std::exception&) {
      // A malformed job names no file.
    }
    if (m->offset + 1 >= it->second) until.erase(it);
  }
  reader->close();
  out.complete = true;
  return out;
}

void add_refs(std::unordered_set<std::string>& refs, std::string_view record_json) {
  try {
    auto r = schemas::decode_record(std::string(record_json));
    if (!r.blob.empty()) refs.insert(r.blob);
    for (const auto& v : r.variants) refs.insert(v.blob);
  } catch (const std::exception&) {
    // Unreadable: refers to nothing we can name.
  }
}

uint64_t folder_bytes(const fs::path& dir) {
  uint64_t total = 0;
  std::error_code ec;
  for (fs::directory_iterator it(dir, ec), end; !ec && it != end; it.increment(ec)) {
    std::error_code size_ec;
    const auto size = it->file_size(size_ec);
    if (!size_ec) total += size;
  }
  return total;
}

}  // namespace

LeftoverSweeper::LeftoverSweeper(BlobStore& blobs, Db& db, Bus& bus, SweepConfig config,
                                 std::function<bool()> index_ready)
    : blobs_(blobs), db_(db), bus_(bus), config_(std::move(config)), index_ready_(std::move(index_ready)) {}

LeftoverSweeper::~LeftoverSweeper() { stop(); }

SweepReport LeftoverSweeper::last() const {
  std::lock_guard lock(mu_);
  return last_;
}

SweepReport LeftoverSweeper::sweep() {
  std::lock_guard pass(sweep_mu_);
  const auto started = std::chrono::steady_clock::now();
  const auto cutoff = fs::file_time_type::clock::now() - config_.grace;
  SweepReport r;
  auto remove = [&](const fs::path& file, uint64_t& count) {
    if (auto freed = blobs_.remove_if_older(file, cutoff)) {
      ++count;
      r.bytes_freed += *freed;
    }
  };
  // With a remote store (--blob-store) the same rules apply to its objects;
  // the local blobs/ is then only a read cache (BlobCache bounds it).
  const bool remote = blobs_.has_remote();
  const auto remote_cutoff = std::chrono::system_clock::now() - config_.grace;
  auto remove_remote = [&](RemoteArea area, const RemoteEntry& e, uint64_t& count) {
    if (blobs_.remove_remote_if_older(area, e, remote_cutoff)) {
      ++count;
      r.bytes_freed += e.size;
      return true;
    }
    return false;
  };
  // Decided before any listing: a job published after this point staged its
  // file after it too, so the grace period covers it.
  const auto pending = pending_jobs(bus_, config_.worker_group);
  const bool judge = config_.collect_blobs && pending.complete && (!index_ready_ || index_ready_());
  r.blobs_checked = judge;
  std::unordered_set<std::string> refs;

  // The rules, each once, for the folder and a remote store alike.
  auto staged_is_leftover = [&](const std::string& name) {
    return pending.complete && !pending.staged_names.count(name);
  };
  // Manifests of images the index has not got and no pending job will announce.
  auto manifest_is_leftover = [&](const fs::path& name) {
    const auto id = name.stem().string();
    return judge && name.extension() == ".json" && !pending.image_ids.count(id) && !db_.get(cf::images, id);
  };
  auto blob_is_leftover = [&](const std::string& sha256) { return judge && !refs.count(sha256); };

  std::error_code ec;
  for (fs::directory_iterator it(blobs_.staging_dir(), ec), end; !ec && it != end; it.increment(ec)) {
    const auto& p = it->path();
    if (is_temp(p))
      remove(p, r.temp_files);
    else if (staged_is_leftover(p.filename().string()))
      remove(p, r.staged_files);
  }
  for (const auto& e : blobs_.list_remote(RemoteArea::staging))
    if (!(staged_is_leftover(e.name) && remove_remote(RemoteArea::staging, e, r.staged_files))) r.staging_bytes += e.size;
  // A gateway killed mid-upload (or a worker mid-write, or `imgpipe blobs
  // migrate` killed and never run again) leaves its multipart upload open:
  // the parts stay in the store, in no listing of objects, until it is
  // aborted. One begun before the grace period is no write still arriving.
  for (const auto area : {RemoteArea::staging, RemoteArea::blobs, RemoteArea::manifests}) {
    for (const auto& u : blobs_.list_remote_uploads(area)) {
      if (u.initiated >= remote_cutoff) continue;
      blobs_.abort_remote_upload(area, u);
      ++r.multipart_uploads;
      spdlog::info("leftover sweep: aborted the unfinished multipart upload {} of {}, begun {}", u.upload_id, u.name,
                   std::chrono::system_clock::to_time_t(u.initiated));
    }
  }

  for (fs::directory_iterator it(blobs_.manifests_dir(), ec), end; !ec && it != end; it.increment(ec)) {
    const auto& p = it->path();
    if (is_temp(p)) {
      remove(p, r.temp_files);
      continue;
    }
    if (manifest_is_leftover(p.filename())) remove(p, r.manifests);
  }
  std::vector<std::string> remote_manifests;
  if (judge)
    for (const auto& e : blobs_.list_remote(RemoteArea::manifests))
      if (!(manifest_is_leftover(e.name) && remove_remote(RemoteArea::manifests, e, r.manifests)))
        remote_manifests.push_back(e.name);

  if (judge) {
    for (const auto* family : {cf::images, cf::variants})
      db_.scan(family, "", [&](std::string_view, std::string_view v) {
        add_refs(refs, v);
        return true;
      });
    for (fs::directory_iterator it(blobs_.manifests_dir(), ec), end; !ec && it != end; it.increment(ec))
      if (!is_temp(it->path()))
        if (auto text = blobs_.get_manifest(it->path().filename().string())) add_refs(refs, *text);
    for (const auto& name : remote_manifests)
      if (auto text = blobs_.get_manifest(name)) add_refs(refs, *text);
  }
  if (remote && judge) {
    for (const auto& e : blobs_.list_remote(RemoteArea::blobs)) {
      if (blob_is_leftover(e.name) && remove_remote(RemoteArea::blobs, e, r.blobs)) continue;
      ++r.blob_files;
      r.blob_bytes += e.size;
    }
  }
  for (fs::directory_iterator fan(blobs_.blobs_dir(), ec), end; !ec && fan != end; fan.increment(ec)) {
    std::error_code inner;
    for (fs::directory_iterator it(fan->path(), inner), stop; !inner && it != stop; it.increment(inner)) {
      const auto& p = it->path();
      if (is_temp(p)) {
        remove(p, r.temp_files);
        continue;
      }
      if (remote) continue;  // a cached copy: the store's object was judged above
      if (blob_is_leftover(p.filename().string())) {
        uint64_t before = r.blobs;
        remove(p, r.blobs);
        if (r.blobs > before) continue;
      }
      std::error_code size_ec;
      const auto size = it->file_size(size_ec);
      ++r.blob_files;
      if (!size_ec) r.blob_bytes += size;
    }
  }
  r.staging_bytes += folder_bytes(blobs_.staging_dir());
  r.finished_at = std::chrono::duration_cast<std::chrono::seconds>(std::chrono::system_clock::now().time_since_epoch()).count();
  r.seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - started).count();
  if (r.temp_files + r.staged_files + r.multipart_uploads + r.manifests + r.blobs > 0)
    spdlog::info("leftover sweep: removed {} temporary, {} staged, {} manifests, {} blobs ({} bytes), aborted {} "
                 "multipart uploads",
                 r.temp_files, r.staged_files, r.manifests, r.blobs, r.bytes_freed, r.multipart_uploads);
  std::lock_guard lock(mu_);
  last_ = r;
  return r;
}

void LeftoverSweeper::start() {
  std::lock_guard lock(mu_);
  if (thread_.joinable()) return;
  stopping_ = false;
  thread_ = std::thread([this] { run(); });
}

void LeftoverSweeper::stop() {
  {
    std::lock_guard lock(mu_);
    stopping_ = true;
  }
  wake_.notify_all();
  if (thread_.joinable()) thread_.join();
}

void LeftoverSweeper::run() {
  std::unique_lock lock(mu_);
  for (;;) {
    if (wake_.wait_for(lock, config_.interval, [&] { return stopping_; })) return;
    lock.unlock();
    try {
      sweep();
    } catch (const std::exception& e) {
      spdlog::warn("leftover sweep failed: {}", e.what());
    }
    lock.lock();
  }
}

}  // namespace imgpipe::storage
