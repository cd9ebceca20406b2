#pragma once
// Serves src URLs: /{prefix}/{id}.{ext}[?size=s|m|l|social][&format=]
// [&w=&h=&fit=][&brightness=...]. Originals and pre-generated variants come
// straight from the blob store; anything else is rendered on demand on a
// bounded pool, concurrent requests for the same variant sharing one render.
// Named sizes and formats are kept for next time in the blob store; a w/h
// fit or colour/blur/sharpen only in memory (any box and value may be asked
// for: keeping each on disk would be unbounded).

#include <map>
#include <memory>
#include <mutex>
#include <string>
#include <vector>

#include "gateway/blob_cache.h"
#include "gateway/gateway_config.h"
#include "gateway/hot_answers.h"
#include "gateway/http/http_types.h"
#include "storage/blob_store.h"
#include "storage/image_index.h"
#include "workers/image/engine.h"
#include "workers/task_pool.h"

namespace imgpipe::gateway {

class SrcService {
 public:
  SrcService(const GatewayConfig& config, storage::ImageIndex& index, storage::BlobStore& blobs);
  ~SrcService();

  void handle(const Request& request, const Respond& respond);
  size_t renders_queued() const { return pool_.queued(); }

 private:
  struct Variant {
    std::string blob;
    std::string format;
    BlobCache::Bytes bytes;  // a custom render's bytes (it has no file)
  };
  // A size name, stored as a variant; or with `custom` (the URL's own w/h/
  // fit or adjustments) `size` is its key and the render stays in memory.
  void render(const schemas::ImageRecord& record, std::string size,
              std::optional<workers::image::VariantRequest> custom, std::string format,
              std::function<void(std::optional<Variant>, std::optional<schemas::Error>)> done);
  // The URL's own rendition (w/h/fit, adjustments; `key` names them): from
  // custom_cache_, or rendered into it.
  void answer_custom(const Request& request, const Respond& respond, const schemas::ImageRecord& record,
                     std::string key, const workers::image::VariantRequest& custom, const std::string& fmt,
                     std::string disposition);
  // Answers with a stored blob, and remembers the answer when it came from memory.
  void answer_blob(const Request& request, const Respond& respond, std::shared_ptr<const schemas::ImageRecord> record,
                   const std::string& blob, const std::string& format, std::string disposition);

  // An answer given from memory, kept by request target so that the next
  // one skips parsing, lookups and header building. It holds while the
  // index gives this very record object (a change to the image or its
  // variants, or its deletion, makes a new one; expiry is checked each
  // time) and the blob is still in the cache; conditional requests take the
  // long way. Bounded by count (the least recently used goes): the bytes
  // stay the blob cache's.
  struct HotAnswer {
    std::shared_ptr<const schemas::ImageRecord> record;
    std::string blob;
    std::shared_ptr<const std::string> headers;  // ETag, Content-Type, Content-Disposition
  };
  std::optional<Response> hot_answer(const Request& request);
  void remember(const Request& request, std::shared_ptr<const schemas::ImageRecord> record, const std::string& blob,
                const Response& r);
  static constexpr size_t kMaxHotAnswers = 4096;

  const GatewayConfig& config_;
  storage::ImageIndex& index_;
  storage::BlobStore& blobs_;
  workers::TaskPool pool_;
  // Larger blobs (originals) go out from their files with sendfile(2).
  static constexpr uint64_t kMaxCachedBlob = 1 << 20;
  BlobCache cache_;
  HotAnswers<HotAnswer> hot_{kMaxHotAnswers};
  // Custom renders (w/h/fit, adjustments) have no file: their bytes live
  // in a cache of their own, a quarter of --src-cache-mb, so that callers
  // cycling through boxes cannot push the stored variants out of cache_.
  BlobCache custom_cache_;
  // The blob (in custom_cache_ only) of each custom render, by id/key/format.
  HotAnswers<std::string> custom_{kMaxHotAnswers};
  std::mutex mutex_;
  // Renders in progress, by id/size/format, and who waits for them.
  std::map<std::string, std::vector<std::function<void(std::optional<Variant>, std::optional<schemas::Error>)>>>
      in_progress_;
};

// The response for a blob, honouring If-None-Match and HEAD. With a cache,
// a blob it wants comes from (and goes into) memory instead of a file.
// A non-empty `disposition` is sent as Content-Disposition (image_headers.h).
// `rendered`: the blob's bytes when it has no file (a fit), sent if the
// cache has not kept them.
Response blob_response(const Request& request, const storage::BlobStore& blobs, const std::string& blob,
                       const std::string& format, BlobCache* cache = nullptr, std::string disposition = {},
                       BlobCache::Bytes rendered = nullptr);

}  // namespace imgpipe::gateway
