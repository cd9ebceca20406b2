#include "gateway/accounts/usage_ledger.h"

#include <ctime>
#include <optional>

#include <nlohmann/json.hpp>

#include "schemas/log.h"

namespace imgpipe::gateway::accounts {

namespace cf = storage::cf;
using storage::WriteOp;

std::string month_of(int64_t t) {
  std::time_t tt = static_cast<std::time_t>(t);
  std::tm tm{};
  gmtime_r(&tt, &tm);
  int month = tm.tm_mon + 1;
  return std::to_string(tm.tm_year + 1900) + (month < 10 ? "0" : "") + std::to_string(month);
}

namespace {

uint64_t read_counter(storage::Db& db, const std::string& key) {
  auto v = db.get(cf::listings, key);
  return v && v->size() == 8 ? storage::read_be64(*v) : 0;
}

}  // namespace

UsageLedger::UsageLedger(storage::Db& db, storage::ImageIndex& index, std::shared_ptr<const Clock> clock)
    : db_(db), index_(index), clock_(std::move(clock)) {}

void UsageLedger::observe(const schemas::ImageEvent& event) {
  std::lock_guard lock(mutex_);
  const std::string marker_key = "u:i:" + event.image_id;
  auto marker = db_.get(cf::listings, marker_key);
  std::vector<WriteOp> batch;
  if (event.image && event.type != "deleted") {
    if (marker) return;  // counted already
    // An image deleted before its worker's variants event arrived (or a
    // replayed ready of a deleted image): the index does not bring it back,
    // so neither may its upload, bytes or blob reference come back here.
    // What the worker wrote for it meanwhile goes the way the rest went.
    if (index_.revives_deleted(event)) return collect_late_writes(event);
    const auto& r = *event.image;
    if (r.owner.empty()) return;
    if (!r.ready()) {  // processing or failed: one of the owner's images, no upload or bytes yet
      db_.put(cf::listings, "o:" + r.owner + '\0' + r.id, "", false);
      return;
    }
    auto month_key = "u:m:" + r.owner + '\0' + month_of(r.created_at);
    auto bytes_key = "u:b:" + r.owner;
    batch.push_back({WriteOp::Kind::put, cf::listings, month_key, storage::be64(read_counter(db_, month_key) + 1)});
    batch.push_back({WriteOp::Kind::put, cf::listings, bytes_key, storage::be64(read_counter(db_, bytes_key) + r.filesize)});
    batch.push_back({WriteOp::Kind::put, cf::listings, marker_key,
                     nlohmann::json{{"owner", r.owner}, {"bytes", r.filesize}, {"blob", r.blob}}.dump()});
    batch.push_back({WriteOp::Kind::put, cf::listings, "o:" + r.owner + '\0' + r.id, ""});
    if (!r.blob.empty()) {
      batch.push_back({WriteOp::Kind::put, cf::listings, "r:" + r.blob + '\0' + r.id, ""});
      batch.push_back({WriteOp::Kind::remove, cf::listings, "x:" + r.blob, ""});  // referenced again
    }
    db_.write(batch, false);
    return;
  }
  if (event.type != "deleted") return;
  // Its manifest (the worker's record of it) goes with it, whatever its state.
  batch.push_back({WriteOp::Kind::put, cf::listings, manifest_due_key(event.image_id), due_now()});
  if (!marker) {  // a processing or failed image: only its place among the owner's images
    if (auto record = index_.get(event.image_id); record && !record->owner.empty())
      batch.push_back({WriteOp::Kind::remove, cf::listings, "o:" + record->owner + '\0' + event.image_id, ""});
    db_.write(batch, false);
    return;
  }
  auto m = nlohmann::json::parse(*marker, nullptr, false);
  if (m.is_discarded()) return;
  auto owner = m.value("owner", "");
  auto bytes = m.value("bytes", uint64_t{0});
  auto blob = m.value("blob", "");
  auto bytes_key = "u:b:" + owner;
  uint64_t stored = read_counter(db_, bytes_key);
  batch.push_back({WriteOp::Kind::put, cf::listings, bytes_key, storage::be64(stored > bytes ? stored - bytes : 0)});
  batch.push_back({WriteOp::Kind::remove, cf::listings, marker_key, ""});
  batch.push_back({WriteOp::Kind::remove, cf::listings, "o:" + owner + '\0' + event.image_id, ""});
  if (!blob.empty()) {
    batch.push_back({WriteOp::Kind::remove, cf::listings, "r:" + blob + '\0' + event.image_id, ""});
    if (!referenced_by_another(blob, event.image_id)) {
      // Variants are derived from the original: they go when it goes.
      nlohmann::json variant_blobs = nlohmann::json::array();
      if (auto record = index_.get(event.image_id))
        for (const auto& v : record->variants) variant_blobs.push_back(v.blob);
      db_.scan(cf::variants, event.image_id + '\0', [&](std::string_view, std::string_view value) {
        try {
          auto holder = schemas::decode_record(std::string(value));
          if (!holder.variants.empty()) variant_blobs.push_back(holder.variants.front().blob);
        } catch (const std::exception&) {
        }
        return true;
      });
      batch.push_back({WriteOp::Kind::put, cf::listings, "x:" + blob,
                       nlohmann::json{{"at", clock_->now()}, {"blobs", variant_blobs}}.dump()});
    }
  }
  db_.write(batch, false);
}

std::string UsageLedger::manifest_due_key(const std::string& image_id) { return "xm:" + image_id; }

std::string UsageLedger::due_now() const { return nlohmann::json{{"at", clock_->now()}}.dump(); }

// A worker still rendering an image's variants when it was deleted stores
// them (and its manifest) after the deletion was counted: they are collected
// like those known then, unless another image still uses the same original
// (whose variants are then the same bytes).
void UsageLedger::collect_late_writes(const schemas::ImageEvent& event) {
  std::vector<WriteOp> batch{{WriteOp::Kind::put, cf::listings, manifest_due_key(event.image_id), due_now()}};
  const auto& r = *event.image;
  if (!r.blob.empty() && !r.variants.empty() && !referenced_by_another(r.blob, event.image_id)) {
    const auto key = "x:" + r.blob;
    nlohmann::json entry = {{"at", clock_->now()}, {"blobs", nlohmann::json::array()}};
    if (auto pending = db_.get(cf::listings, key)) {
      auto j = nlohmann::json::parse(*pending, nullptr, false);
      if (j.is_object() && j.contains("blobs") && j["blobs"].is_array()) entry["blobs"] = j["blobs"];
    }
    for (const auto& v : r.variants) entry["blobs"].push_back(v.blob);
    batch.push_back({WriteOp::Kind::put, cf::listings, key, entry.dump()});
  }
  db_.write(batch, false);
}

// Whether an image other than `except_id` refers to `blob`. A reference of a
// deleted image is left over (a bug to find: it would keep the blob for
// good), so it is dropped with a warning. One the index has not applied yet
// counts: the ledger sees each event before the index does.
bool UsageLedger::referenced_by_another(const std::string& blob, const std::string& except_id) {
  bool referenced = false;
  std::vector<std::string> stale;
  db_.scan(cf::listings, "r:" + blob + '\0', [&](std::string_view key, std::string_view) {
    const std::string id(key.substr(key.find('\0') + 1));
    if (id == except_id) return true;
    if (index_.get_shared(id) || !index_.was_deleted(id)) {
      referenced = true;
      return false;
    }
    stale.emplace_back(key);
    return true;
  });
  for (const auto& key : stale) {
    log::warn("stale_blob_reference", {{"blob", blob}, {"image_id", key.substr(key.find('\0') + 1)}});
    db_.remove(cf::listings, key, false);
  }
  return referenced;
}

Usage UsageLedger::usage(const std::string& owner) {
  Usage u;
  u.uploads = static_cast<int64_t>(read_counter(db_, "u:m:" + owner + '\0' + month_of(clock_->now())));
  u.bytes = read_counter(db_, "u:b:" + owner);
  std::lock_guard lock(mutex_);
  if (auto it = reserved_.find(owner); it != reserved_.end()) {
    u.reserved_uploads = it->second.first;
    u.reserved_bytes = it->second.second;
  }
  return u;
}

std::vector<std::string> UsageLedger::images_of(const std::string& owner) {
  std::vector<std::string> ids;
  db_.scan(cf::listings, "o:" + owner + '\0', [&](std::string_view key, std::string_view) {
    ids.emplace_back(key.substr(key.find('\0') + 1));
    return true;
  });
  return ids;
}

bool UsageLedger::reserve(const std::string& owner, int64_t uploads_limit, uint64_t bytes_limit, uint64_t bytes) {
  std::lock_guard lock(mutex_);
  int64_t used = static_cast<int64_t>(read_counter(db_, "u:m:" + owner + '\0' + month_of(clock_->now())));
  uint64_t stored = read_counter(db_, "u:b:" + owner);
  auto& [uploads, reserved_bytes] = reserved_[owner];
  if (used + uploads + 1 > uploads_limit || stored + reserved_bytes + bytes > bytes_limit) {
    if (uploads == 0 && reserved_bytes == 0) reserved_.erase(owner);
    return false;
  }
  uploads += 1;
  reserved_bytes += bytes;
  return true;
}

void UsageLedger::release(const std::string& owner, uint64_t bytes) {
  std::lock_guard lock(mutex_);
  auto it = reserved_.find(owner);
  if (it == reserved_.end()) return;
  it->second.first = std::max<int64_t>(0, it->second.first - 1);
  it->second.second = it->second.second > bytes ? it->second.second - bytes : 0;
  if (it->second.first == 0 && it->second.second == 0) reserved_.erase(it);
}

size_t UsageLedger::collect_orphans(storage::BlobStore& blobs, int64_t grace_seconds) {
  int64_t now = clock_->now();
  // An x: or xm: entry noted `grace_seconds` ago or more; one that does not
  // read as ours is left alone.
  auto due_entry = [&](std::string_view value) -> std::optional<nlohmann::json> {
    auto j = nlohmann::json::parse(value, nullptr, false);
    if (!j.is_object() || j.value("at", int64_t{0}) + grace_seconds > now) return std::nullopt;
    return j;
  };
  std::vector<std::pair<std::string, nlohmann::json>> due;
  db_.scan(cf::listings, "x:", [&](std::string_view key, std::string_view value) {
    if (auto j = due_entry(value)) due.emplace_back(key.substr(2), std::move(*j));
    return due.size() < 1000;
  });
  size_t removed = 0;
  for (auto& [blob, j] : due) {
    std::lock_guard lock(mutex_);
    const bool referenced = referenced_by_another(blob, "");
    if (!referenced) {
      std::vector<std::string> files{blob};
      for (const auto& v : j.value("blobs", nlohmann::json::array()))
        if (v.is_string()) files.push_back(v.get<std::string>());
      for (const auto& f : files)
        if (blobs.contains(f)) {
          blobs.remove(f);
          ++removed;
        }
    }
    db_.remove(cf::listings, "x:" + blob, false);
  }
  std::vector<std::string> manifests_due;
  db_.scan(cf::listings, "xm:", [&](std::string_view key, std::string_view value) {
    if (due_entry(value)) manifests_due.emplace_back(key.substr(3));
    return manifests_due.size() < 1000;
  });
  for (const auto& id : manifests_due) {
    // An id no manifest can be named after has none to remove; a store that
    // is away throws, and the next sweep tries again.
    const auto name = storage::BlobStore::manifest_of(id);
    if (storage::BlobStore::is_manifest_name(name)) blobs.remove_manifest(name);
    db_.remove(cf::listings, manifest_due_key(id), false);
  }
  if (removed || !manifests_due.empty())
    log::info("blobs_collected", {{"files", removed}, {"manifests", manifests_due.size()}});
  return removed;
}

}  // namespace imgpipe::gateway::accounts
