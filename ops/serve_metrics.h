#pragma once
// The gauges of a serving process in /metrics: consumer lag per partition,
// the index's distance to the images topic, queue depths.

#include "gateway/gateway.h"
#include "gateway/http/http_server.h"
#include "storage/blob_store.h"
#include "storage/bus.h"
#include "storage/db.h"
#include "storage/image_index.h"
#include "storage/leftover_sweeper.h"
#include "workers/ingest_pipeline.h"

namespace imgpipe::ops {

// Any pointer may be null (the role does not run here). Everything must
// outlive the HTTP server; call metrics::clear_gauges() before destroying it.
void register_gauges(storage::Bus& bus, storage::BlobStore& blobs, storage::ImageIndex* index,
                     const workers::IngestPipeline* pipeline, const gateway::Gateway* gateway,
                     const gateway::HttpServer* http);

// Disk used by the bus log, the index, blobs and staging, and what the last
// leftover sweep did.
void register_storage_gauges(storage::Db& db, storage::BlobStore& blobs, const storage::LeftoverSweeper& sweeper);

}  // namespace imgpipe::ops
