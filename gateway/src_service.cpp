#include "gateway/src_service.h"

#include <algorithm>
#include <charconv>
#include <fstream>

#include "gateway/http/error_response.h"
#include "gateway/image_headers.h"
#include "gateway/image_ids.h"
#include "schemas/log.h"
#include "storage/blob_store.h"
#include "workers/image/engine.h"

namespace imgpipe::gateway {
namespace {

using schemas::Error;
using schemas::ErrorCode;

// Views into the request's path (no copies: this runs on every src request).
struct SrcPath {
  std::string_view prefix, id, ext;
};

// A transform value: the parameter read whole as a T within [low, high];
// nullopt when it is absent, not such a number (NaN included) or outside,
// since img.pro ignores an invalid transform value.
template <class T>
std::optional<T> transform_value(const Request& request, std::string_view name, T low, T high) {
  auto value = request.query_param(name);
  if (!value) return std::nullopt;
  T v{};
  auto [end, ec] = std::from_chars(value->data(), value->data() + value->size(), v);
  if (ec != std::errc() || end != value->data() + value->size() || !(v >= low && v <= high)) return std::nullopt;
  return v;
}

// `w`, `h` and `fit`: a side outside 1..kMaxFitSide or an unknown fit is
// ignored. nullopt: no side.
std::optional<workers::image::Fit> requested_fit(const Request& request) {
  auto side = [&](std::string_view name) {
    return transform_value(request, name, 1, workers::image::kMaxFitSide).value_or(0);
  };
  workers::image::Fit fit{{side("w"), side("h")},
                          workers::image::fit_mode_from_name(request.query_param("fit").value_or(""))
                              .value_or(workers::image::FitMode::scale_down)};
  if (fit.box.width == 0 && fit.box.height == 0) return std::nullopt;
  return fit;
}

// brightness, contrast, gamma, saturation (0-10), blur (0-250), sharp
// (0-10): a value outside its range or not a number is ignored.
workers::image::Adjustments requested_adjustments(const Request& request) {
  workers::image::Adjustments a;
  auto read = [&](std::string_view name, double& into, double max) {
    into = transform_value(request, name, 0.0, max).value_or(into);
  };
  read("brightness", a.brightness, workers::image::kMaxMultiplier);
  read("contrast", a.contrast, workers::image::kMaxMultiplier);
  read("gamma", a.gamma, workers::image::kMaxMultiplier);
  read("saturation", a.saturation, workers::image::kMaxMultiplier);
  read("blur", a.blur, workers::image::kMaxBlur);
  read("sharp", a.sharp, workers::image::kMaxSharp);
  if (a.gamma == 0) a.gamma = 1;  // no exponent makes sense of 0
  return a;
}

// A render's name: who waits for it (in_progress_) and a custom one's blob (custom_).
std::string render_key(const std::string& id, const std::string& size, const std::string& format) {
  return id + "/" + size + "/" + format;
}

std::optional<SrcPath> parse_src_path(std::string_view path) {
  // "/" prefix "/" id "." ext
  if (path.size() < 5 || path[0] != '/') return std::nullopt;
  auto slash = path.find('/', 1);
  if (slash == std::string_view::npos || path.find('/', slash + 1) != std::string_view::npos) return std::nullopt;
  auto file = path.substr(slash + 1);
  auto dot = file.rfind('.');
  if (dot == std::string_view::npos || dot == 0) return std::nullopt;
  return SrcPath{path.substr(1, slash - 1), file.substr(0, dot), file.substr(dot + 1)};
}

}  // namespace

SrcService::SrcService(const GatewayConfig& config, storage::ImageIndex& index, storage::BlobStore& blobs)
    : config_(config),
      index_(index),
      blobs_(blobs),
      pool_("render", config.render_threads, config.render_queue, [] { workers::image::release_thread(); }),
      cache_(config.src_cache_bytes, kMaxCachedBlob),
      // A large custom render (a 4096x4096 cover) costs a second or more to
      // make again: up to a quarter of this cache each, not 1 MB.
      custom_cache_(config.src_cache_bytes / 4, std::max(kMaxCachedBlob, config.src_cache_bytes / 16)) {}

SrcService::~SrcService() { pool_.stop(); }

namespace {

// The whole blob, or nullptr when it cannot be read (the caller then sends
// the file the slow way and reports what is wrong).
BlobCache::Bytes read_blob(const std::filesystem::path& path, uint64_t size) {
  auto bytes = std::make_shared<std::string>(size, '\0');
  std::ifstream in(path, std::ios::binary);
  if (!in.read(bytes->data(), static_cast<std::streamsize>(size)) || in.peek() != std::char_traits<char>::eof())
    return nullptr;
  return bytes;
}

}  // namespace

Response blob_response(const Request& request, const storage::BlobStore& blobs, const std::string& blob,
                       const std::string& format, BlobCache* cache, std::string disposition,
                       BlobCache::Bytes rendered) {
  auto fmt = workers::image::format_from_name(format);
  Response r;
  std::string etag;  // the content hash, quoted: strong by construction
  etag.reserve(blob.size() + 2);
  etag += '"';
  etag += blob;
  etag += '"';
  auto inm = request.header("If-None-Match");
  const bool not_modified = !inm.empty() && (inm == etag || inm == "*" || inm.find(etag) != std::string_view::npos);
  // A fresh Response: appended directly (set() searches for a header to replace).
  r.headers.reserve(3);
  r.headers.emplace_back("ETag", std::move(etag));
  image_answer_headers(r);
  r.headers.emplace_back("Content-Type", fmt ? workers::image::mime_type(*fmt) : "application/octet-stream");
  if (!disposition.empty()) r.headers.emplace_back("Content-Disposition", std::move(disposition));
  if (not_modified) {
    r.status = 304;
    return r;
  }
  BlobCache::Bytes bytes = cache ? cache->get(blob) : nullptr;
  if (!bytes) bytes = std::move(rendered);
  if (bytes) {
    r.status = 200;
    r.shared_body = std::move(bytes);
    return r;
  }
  auto size = blobs.size_of(blob);
  if (!size) return error_response(Error(ErrorCode::not_found, "The image file is missing."));
  r.status = 200;
  if (cache && cache->wants(*size)) {
    if (auto bytes = read_blob(blobs.path_of(blob), *size)) {
      cache->put(blob, bytes);
      r.shared_body = std::move(bytes);
      return r;
    }
  }
  r.file_path = blobs.path_of(blob).string();
  r.file_size = *size;
  return r;
}

std::optional<Response> SrcService::hot_answer(const Request& request) {
  if (!request.header("If-None-Match").empty()) return std::nullopt;
  auto hot = hot_.find(request.target);
  if (!hot) return std::nullopt;
  BlobCache::Bytes bytes;
  if (index_.get_shared(hot->record->id) != hot->record || config_.expired(*hot->record) ||
      !(bytes = cache_.get(hot->blob))) {
    hot_.drop(request.target, hot);
    return std::nullopt;
  }
  Response r;
  r.prepared_headers = hot->headers;
  image_answer_headers(r);
  r.shared_body = std::move(bytes);
  return r;
}

void SrcService::remember(const Request& request, std::shared_ptr<const schemas::ImageRecord> record,
                          const std::string& blob, const Response& r) {
  if (r.status != 200 || !r.shared_body) return;
  std::string lines;
  append_header_lines(lines, r.headers, request.request_id);
  auto headers = std::make_shared<const std::string>(std::move(lines));
  auto hot = std::make_shared<const HotAnswer>(HotAnswer{std::move(record), blob, std::move(headers)});
  hot_.put(request.target, std::move(hot));
}

void SrcService::answer_blob(const Request& request, const Respond& respond,
                             std::shared_ptr<const schemas::ImageRecord> record, const std::string& blob,
                             const std::string& format, std::string disposition) {
  auto r = blob_response(request, blobs_, blob, format, &cache_, std::move(disposition));
  remember(request, std::move(record), blob, r);
  respond(std::move(r));
}

void SrcService::handle(const Request& request, const Respond& respond) {
  if (auto hot = hot_answer(request)) return respond(std::move(*hot));
  auto parsed = parse_src_path(request.path);
  if (!parsed || !plausible_image_id(parsed->id)) return respond(error_response(Error(ErrorCode::not_found)));
  const auto ext_format = workers::image::format_from_name(parsed->ext);
  auto format = ext_format;
  auto size_param = request.query_param("size");
  auto size = size_param.value_or("");
  if (size_param && !workers::image::short_edge_for(size) && size != workers::image::kSocialSize)
    return respond(error_response(Error(ErrorCode::bad_request, "size must be s, m, l or social.")));
  auto download = request.query_param("download");
  if (download && *download != "1")
    return respond(error_response(Error(ErrorCode::bad_request, "download must be 1.")));
  auto record = index_.get_shared(std::string(parsed->id));  // cached decoded record: no copy
  if (!record || !record->ready() || src_prefix(record->id) != parsed->prefix || config_.expired(*record))
    return respond(error_response(Error(ErrorCode::not_found, "No image with this id.")));
  auto source_format = workers::image::format_from_name(record->format);
  // ?format= overrides the extension; a value this image cannot be served
  // in is ignored, as img.pro ignores an invalid transform value.
  if (auto wanted = workers::image::format_from_name(request.query_param("format").value_or(""));
      wanted && source_format && workers::image::servable_format(*wanted, *source_format))
    format = wanted;
  bool is_original_format = format && format == source_format;
  if (!format || !source_format || !workers::image::servable_format(*format, *source_format))
    return respond(error_response(
        Error(ErrorCode::bad_request, "The extension must be jpg, jpeg, png, webp, avif or the original's.")));
  std::string fmt(workers::image::name(*format));
  // ?download=1 (the viewer's download links) saves the file; otherwise it opens in the browser.
  std::string disposition = content_disposition(download.has_value(), record->name, record->id,
                                                format == ext_format ? parsed->ext : workers::image::extension(*format));
  // w/h win over size. A fit this image cannot take (an extreme aspect
  // under cover) is ignored; one that leaves it as it is is the full size.
  auto fit = requested_fit(request);
  if (fit) {
    const workers::image::Dimensions whole{record->width, record->height};
    auto g = workers::image::fit_geometry(whole, *fit);
    const bool unchanged = g && g->picture == whole && g->canvas == whole;
    if (unchanged) size.clear();  // still winning over size: the full size
    if (!g || unchanged) fit.reset();
  }
  const auto adjust = requested_adjustments(request);
  std::string variant_size = size.empty() ? "o" : size;  // "o": full size in another format
  if (fit || adjust.any()) {
    auto custom = fit ? workers::image::VariantRequest{std::nullopt, *format, fit}
                      : *workers::image::variant_request(variant_size, *format);
    custom.adjust = adjust;
    std::string key = fit ? workers::image::fit_key(*fit) : variant_size;
    if (adjust.any()) key += "+" + workers::image::adjustments_key(adjust);
    return answer_custom(request, respond, *record, std::move(key), custom, fmt, std::move(disposition));
  }
  if (size.empty() && is_original_format)
    return answer_blob(request, respond, record, record->blob, fmt, std::move(disposition));
  // Pre-generated variants are in the record already read; only on-demand
  // ones need the index again (one JSON decode less per hot request).
  for (const auto& x : record->variants)
    if (x.size == variant_size && x.format == fmt && (cache_.contains(x.blob) || blobs_.contains(x.blob)))
      return answer_blob(request, respond, record, x.blob, fmt, std::move(disposition));
  auto v = index_.find_variant(record->id, variant_size, fmt);
  if (v && (cache_.contains(v->blob) || blobs_.contains(v->blob)))
    return answer_blob(request, respond, record, v->blob, fmt, std::move(disposition));
  render(*record, variant_size, std::nullopt, fmt,
         [this, request, respond, disposition](std::optional<Variant> v, std::optional<Error> err) {
           if (err) return respond(error_response(*err));
           respond(blob_response(request, blobs_, v->blob, v->format, &cache_, disposition));
         });
}

void SrcService::answer_custom(const Request& request, const Respond& respond, const schemas::ImageRecord& record,
                               std::string key, const workers::image::VariantRequest& custom, const std::string& fmt,
                               std::string disposition) {
  if (auto blob = custom_.find(render_key(record.id, key, fmt)))
    if (auto bytes = custom_cache_.get(*blob))
      return respond(blob_response(request, blobs_, *blob, fmt, nullptr, std::move(disposition), bytes));
  render(record, std::move(key), custom, fmt,
         [this, request, respond, disposition](std::optional<Variant> v, std::optional<Error> err) {
           if (err) return respond(error_response(*err));
           respond(blob_response(request, blobs_, v->blob, v->format, nullptr, disposition, v->bytes));
         });
}

void SrcService::render(const schemas::ImageRecord& record, std::string size,
                        std::optional<workers::image::VariantRequest> custom, std::string format,
                        std::function<void(std::optional<Variant>, std::optional<Error>)> done) {
  std::string key = render_key(record.id, size, format);
  {
    std::lock_guard lock(mutex_);
    auto [it, fresh] = in_progress_.try_emplace(key);
    it->second.push_back(std::move(done));
    if (!fresh) return;  // someone is rendering it: wait for that
  }
  auto finish = [this, key](std::optional<Variant> v, std::optional<Error> err) {
    std::vector<std::function<void(std::optional<Variant>, std::optional<Error>)>> waiting;
    {
      std::lock_guard lock(mutex_);
      waiting = std::move(in_progress_[key]);
      in_progress_.erase(key);
    }
    for (auto& w : waiting) w(v, err);
  };
  bool queued = pool_.try_submit([this, record, size, custom, format, key, finish] {
    try {
      auto source = workers::image::format_from_name(record.format);
      auto target = workers::image::format_from_name(format);
      auto request = custom ? *custom : *workers::image::variant_request(size, *target);
      auto out = workers::image::render_variant(blobs_.path_of(record.blob), *source, request);
      log::info("rendered_on_demand", {{"image_id", record.id}, {"size", size}, {"format", format}});
      if (custom) {  // memory only: the cache keeps it while it is asked for
        auto bytes = std::make_shared<const std::string>(std::move(out.bytes));
        auto blob = storage::sha256_hex(*bytes);
        custom_cache_.put(blob, bytes);
        custom_.put(key, std::make_shared<const std::string>(blob));
        return finish(Variant{std::move(blob), format, std::move(bytes)}, std::nullopt);
      }
      schemas::VariantRecord v{size, format, out.size.width, out.size.height, out.bytes.size(), blobs_.put(out.bytes)};
      index_.put_rendered_variant(record.id, v);
      finish(Variant{v.blob, format, nullptr}, std::nullopt);
    } catch (const Error& e) {
      finish(std::nullopt, e);
    } catch (const std::exception& e) {
      log::error("render_failed", {{"image_id", record.id}, {"error", e.what()}});
      finish(std::nullopt, Error(ErrorCode::internal_error));
    }
  });
  if (!queued) {
    Error busy(ErrorCode::service_unavailable, "Too many images are being rendered; try again shortly.");
    busy.retry_after_seconds = 1;
    finish(std::nullopt, busy);
  }
}

}  // namespace imgpipe::gateway
