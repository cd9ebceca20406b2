#pragma once
// The named steps of an ingest job. Each throws schemas::Error; the order is
// listed once, in workers/ingest_pipeline.cpp.

#include "workers/steps/job_context.h"

namespace imgpipe::workers::steps {

void resume_if_done(JobContext& ctx);     // an earlier run stored the original: skip to the variants
void announce_accepted(JobContext& ctx);  // `accepted` for a job no gateway announced (bulk): listed as processing
void fetch(JobContext& ctx);              // import: download the URL into staging
void locate_upload(JobContext& ctx);      // upload: the staged file exists and matches its sha256
void probe(JobContext& ctx);              // header only: format from bytes, pixel and frame limits
void normalise(JobContext& ctx);          // decode, orientation applied, metadata but ICC removed
void store_original(JobContext& ctx);     // blob + manifest, durable
void announce_ready(JobContext& ctx);     // `ready` on the images topic: the gateway answers 201
void derive_variants(JobContext& ctx);    // s/m/l in the source format and WebP
void announce_variants(JobContext& ctx);  // `variants` on the images topic

}  // namespace imgpipe::workers::steps
