#include "schemas/messages.h"

#include <cctype>
#include <nlohmann/json.hpp>

#include "schemas/errors.h"
#include "schemas/json_fields.h"

namespace imgpipe::schemas {
namespace {

using json = nlohmann::json;

using json_fields::bad;
using json_fields::field;
using json_fields::optional_field;

json parse(const std::string& text) { return json_fields::parse_object(text); }

void check_version(const json& j) {
  auto v = optional_field<int>(j, "v", kSchemaVersion);
  if (v != kSchemaVersion) bad("unsupported schema version " + std::to_string(v));
}

json variant_json(const VariantRecord& v) {
  return {{"size", v.size}, {"format", v.format}, {"width", v.width},
          {"height", v.height}, {"bytes", v.bytes}, {"blob", v.blob}};
}

VariantRecord variant_from(const json& j) {
  VariantRecord v;
  v.size = field<std::string>(j, "size");
  v.format = field<std::string>(j, "format");
  v.width = field<int>(j, "width");
  v.height = field<int>(j, "height");
  v.bytes = field<uint64_t>(j, "bytes");
  v.blob = field<std::string>(j, "blob");
  return v;
}

json detail_json(const ErrorDetail& d) { return {{"code", d.code}, {"message", d.message}, {"step", d.step}}; }

ErrorDetail detail_from(const json& j) {
  return ErrorDetail{field<std::string>(j, "code"), optional_field<std::string>(j, "message", ""),
                     optional_field<std::string>(j, "step", "")};
}

json record_json(const ImageRecord& r) {
  json variants = json::array();
  for (const auto& v : r.variants) variants.push_back(variant_json(v));
  json j = {{"id", r.id},         {"name", r.name},         {"owner", r.owner},       {"namespace", r.ns},
          {"tags", r.tags},     {"created_at", r.created_at},
          {"expires_at", r.expires_at}, {"caption", r.caption},
          {"labels", r.labels}, {"metadata", r.metadata}, {"public", r.is_public}};
  if (r.ready()) {  // no "status": a record without one is ready (the records before it existed)
    j.update(json{{"format", r.format}, {"width", r.width}, {"height", r.height}, {"filesize", r.filesize},
                  {"blob", r.blob}, {"variants", variants}});
  } else {
    j["status"] = r.status;  // nothing is stored yet: no original's fields
  }
  if (r.created_ms) j["created_ms"] = r.created_ms;
  if (!r.request_hash.empty()) j["request_hash"] = r.request_hash;
  if (r.failure) j["failure"] = detail_json(*r.failure);
  return j;
}

using StringMap = std::map<std::string, std::string>;

ImageRecord record_from(const json& j) {
  if (!j.is_object()) bad("'image' is not an object");
  ImageRecord r;
  r.id = field<std::string>(j, "id");
  r.name = optional_field<std::string>(j, "name", "");
  r.owner = optional_field<std::string>(j, "owner", "");
  r.ns = optional_field<std::string>(j, "namespace", "");
  r.tags = optional_field<std::vector<std::string>>(j, "tags", {});
  r.status = optional_field<std::string>(j, "status", kReady);
  if (r.status != kReady && r.status != kProcessing && r.status != kFailed) bad("unknown status '" + r.status + "'");
  if (r.ready()) {
    r.format = field<std::string>(j, "format");
    r.width = field<int>(j, "width");
    r.height = field<int>(j, "height");
    r.filesize = field<uint64_t>(j, "filesize");
    r.blob = field<std::string>(j, "blob");
  }
  r.created_at = field<int64_t>(j, "created_at");
  r.expires_at = optional_field<int64_t>(j, "expires_at", 0);
  if (auto it = j.find("variants"); r.ready() && it != j.end() && it->is_array())
    for (const auto& v : *it) r.variants.push_back(variant_from(v));
  r.caption = optional_field<std::string>(j, "caption", "");
  r.labels = optional_field<StringMap>(j, "labels", {});
  r.metadata = optional_field<StringMap>(j, "metadata", {});
  r.is_public = optional_field<bool>(j, "public", true);
  r.created_ms = optional_field<int64_t>(j, "created_ms", 0);
  r.request_hash = optional_field<std::string>(j, "request_hash", "");
  if (auto it = j.find("failure"); r.status == kFailed && it != j.end() && it->is_object()) r.failure = detail_from(*it);
  return r;
}

bool valid_image_id(const std::string& id) {
  if (id.empty() || id.size() > 64) return false;
  for (char c : id)
    if (!std::isalnum(static_cast<unsigned char>(c)) && c != '-' && c != '_') return false;
  return true;
}

}  // namespace

std::string encode(const IngestJob& job) {
  json j = {{"v", kSchemaVersion}, {"type", job.type}, {"image_id", job.image_id}, {"owner", job.owner},
            {"namespace", job.ns}, {"tags", job.tags}, {"name", job.name}, {"created_at", job.created_at},
            {"expires_at", job.expires_at}};
  if (job.type == "upload") {
    j["staged_path"] = job.staged_path;
    j["sha256"] = job.sha256;
  } else {
    j["url"] = job.url;
  }
  if (job.max_bytes) j["max_bytes"] = job.max_bytes;
  if (!job.caption.empty()) j["caption"] = job.caption;
  if (!job.labels.empty()) j["labels"] = job.labels;
  if (!job.metadata.empty()) j["metadata"] = job.metadata;
  if (!job.is_public) j["public"] = false;
  if (job.created_ms) j["created_ms"] = job.created_ms;
  if (!job.request_hash.empty()) j["request_hash"] = job.request_hash;
  if (!job.reply_to.empty()) j["reply_to"] = job.reply_to;
  if (!job.request_id.empty()) j["request_id"] = job.request_id;
  return j.dump();
}

IngestJob decode_ingest_job(const std::string& text) {
  auto j = parse(text);
  check_version(j);
  IngestJob job;
  job.type = field<std::string>(j, "type");
  job.image_id = field<std::string>(j, "image_id");
  if (!valid_image_id(job.image_id)) bad("'image_id' must be 1-64 characters of [A-Za-z0-9_-]");
  if (job.type == "upload") {
    job.staged_path = field<std::string>(j, "staged_path");
    job.sha256 = field<std::string>(j, "sha256");
  } else if (job.type == "import") {
    job.url = field<std::string>(j, "url");
  } else {
    bad("unknown job type '" + job.type + "'");
  }
  job.owner = optional_field<std::string>(j, "owner", "bulk");
  job.ns = optional_field<std::string>(j, "namespace", "");
  job.tags = optional_field<std::vector<std::string>>(j, "tags", {});
  job.name = optional_field<std::string>(j, "name", "");
  job.reply_to = optional_field<std::string>(j, "reply_to", "");
  job.request_id = optional_field<std::string>(j, "request_id", "");
  job.created_at = optional_field<int64_t>(j, "created_at", 0);
  job.expires_at = optional_field<int64_t>(j, "expires_at", 0);
  job.max_bytes = optional_field<uint64_t>(j, "max_bytes", 0);
  job.caption = optional_field<std::string>(j, "caption", "");
  job.labels = optional_field<StringMap>(j, "labels", {});
  job.metadata = optional_field<StringMap>(j, "metadata", {});
  job.is_public = optional_field<bool>(j, "public", true);
  job.created_ms = optional_field<int64_t>(j, "created_ms", 0);
  job.request_hash = optional_field<std::string>(j, "request_hash", "");
  return job;
}

std::string event_key(const ImageEvent& e) { return e.type == "variants" ? e.image_id + "#variants" : e.image_id; }

std::string encode(const ImageEvent& e) {
  json j = {{"v", kSchemaVersion}, {"type", e.type}, {"image_id", e.image_id}};
  if (!e.request_id.empty()) j["request_id"] = e.request_id;
  if (e.image) j["image"] = record_json(*e.image);
  if (e.error) j["error"] = detail_json(*e.error);
  return j.dump();
}

ImageEvent decode_image_event(const std::string& text) {
  auto j = parse(text);
  check_version(j);
  ImageEvent e;
  e.type = field<std::string>(j, "type");
  e.image_id = field<std::string>(j, "image_id");
  e.request_id = optional_field<std::string>(j, "request_id", "");
  if (auto it = j.find("image"); it != j.end() && !it->is_null()) e.image = record_from(*it);
  if (auto it = j.find("error"); it != j.end() && it->is_object()) e.error = detail_from(*it);
  if ((e.type == "accepted" || e.type == "ready" || e.type == "variants" || e.type == "updated") && !e.image)
    bad("event '" + e.type + "' needs 'image'");
  if (e.type == "failed" && !e.error) bad("event 'failed' needs 'error'");
  if (e.type != "accepted" && e.type != "ready" && e.type != "variants" && e.type != "updated" &&
      e.type != "deleted" && e.type != "failed")
    bad("unknown event type '" + e.type + "'");
  // Only ready and variants announce a stored original; accepted and failed never do.
  const bool announces_original = e.type == "ready" || e.type == "variants";
  if (e.image && e.type != "updated" && announces_original != e.image->ready())
    bad("event '" + e.type + "' has an image with status '" + e.image->status + "'");
  return e;
}

std::string encode(const DeadLetter& d) {
  return json{{"v", kSchemaVersion},
              {"type", "dead_letter"},
              {"reason", d.reason},
              {"error", detail_json(d.error)},
              {"original", {{"topic", d.original_topic}, {"partition", d.original_partition},
                            {"offset", d.original_offset}, {"key", d.original_key}, {"value", d.original_value}}}}
      .dump(-1, ' ', false, json::error_handler_t::replace);
}

DeadLetter decode_dead_letter(const std::string& text) {
  auto j = parse(text);
  DeadLetter d;
  d.reason = field<std::string>(j, "reason");
  const auto& err = json_fields::object_field(j, "error");
  d.error = detail_from(err);
  const auto& o = json_fields::object_field(j, "original");
  d.original_topic = field<std::string>(o, "topic");
  d.original_partition = field<int32_t>(o, "partition");
  d.original_offset = field<int64_t>(o, "offset");
  d.original_key = field<std::string>(o, "key");
  d.original_value = field<std::string>(o, "value");
  return d;
}

ImageRecord record_of(const IngestJob& job, const char* status) {
  ImageRecord r;
  r.id = job.image_id;
  r.name = job.name;
  r.owner = job.owner;
  r.ns = job.ns;
  r.tags = job.tags;
  r.created_at = job.created_at;
  r.expires_at = job.expires_at;
  r.caption = job.caption;
  r.labels = job.labels;
  r.metadata = job.metadata;
  r.is_public = job.is_public;
  r.created_ms = job.created_ms;
  r.request_hash = job.request_hash;
  r.status = status;
  return r;
}

std::string encode_record(const ImageRecord& r) { return record_json(r).dump(); }
ImageRecord decode_record(const std::string& text) { return record_from(parse(text)); }

}  // namespace imgpipe::schemas
