#pragma once
// What the steps of one ingest job share.

#include <chrono>
#include <filesystem>
#include <optional>
#include <semaphore>
#include <string>

#include "schemas/messages.h"
#include "storage/blob_store.h"
#include "storage/bus.h"
#include "workers/image/engine.h"
#include "workers/image_slots.h"
#include "workers/worker_config.h"

namespace imgpipe::workers {

// Long-lived parts every job uses.
struct WorkerServices {
  storage::Bus& bus;
  storage::BlobStore& blobs;
  const WorkerConfig& config;
  ImageSlots& image_slots;  // bounds concurrent libvips work, ready path first
};

struct JobContext {
  const WorkerServices& services;
  schemas::IngestJob job;
  std::chrono::steady_clock::time_point deadline;
  std::filesystem::path source;               // the file to load (staged upload or fetched import)
  bool source_is_temporary = false;           // remove after the original is stored
  std::optional<image::ProbeResult> probe;
  std::optional<image::EncodedImage> normalised;
  std::optional<schemas::ImageRecord> record; // set once the original is stored (or found from an earlier run)
  bool replayed = false;                      // the original was stored by an earlier run of this job
};

}  // namespace imgpipe::workers
