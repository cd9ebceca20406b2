#pragma once
// The worker role: runs ingest jobs through the named steps and publishes
// their outcome. Same code on the embedded bus and on Kafka.

#include <memory>
#include <semaphore>
#include <span>

#include "storage/blob_store.h"
#include "storage/bus.h"
#include "workers/disk_watch.h"
#include "workers/image_slots.h"
#include "workers/job_runner.h"
#include "workers/steps/job_context.h"
#include "workers/worker_config.h"

namespace imgpipe::workers {

class IngestPipeline {
 public:
  IngestPipeline(storage::Bus& bus, storage::BlobStore& blobs, WorkerConfig config);
  ~IngestPipeline();

  void start();
  void stop();
  void pause() { runner_->pause(); }
  void resume() { runner_->resume(); }
  bool paused() const { return runner_->paused(); }
  size_t in_flight() const { return runner_->in_flight(); }
  // Below the workers' disk reserve: taking no new job (workers/disk_watch.h).
  bool disk_low() const { return disk_.low(); }

  size_t variant_backlog() const { return runner_->later_backlog(); }
  // The bound on libvips work this pipeline's steps share (tests watch and take it).
  ImageSlots& image_slots() { return image_slots_; }

  // One message of the ingest topic, start to finish (also used by `replay`).
  void process(const storage::BusMessage& message);

  struct NamedStep;  // one step of a job (ingest_pipeline.cpp lists them)

 private:
  struct Job;
  // Up to `ready` (the client waits for it); returns the rest (variants).
  Later process_until_ready(const storage::BusMessage& message);
  // False when the job failed for good (then dead-lettered).
  bool run_steps(Job& job, std::span<const NamedStep> plan, const storage::BusMessage& message);
  // Dead-letters the job and, unless its original is already stored, publishes
  // `failed` (with the failed record when `ctx`: the job was readable).
  void fail(const storage::BusMessage& message, const std::string& image_id, const std::string& request_id,
            const std::string& step, const schemas::Error& error, const JobContext* ctx = nullptr);

  storage::Bus& bus_;
  storage::BlobStore& blobs_;
  WorkerConfig config_;
  ImageSlots image_slots_;
  WorkerServices services_;
  DiskWatch disk_;
  std::unique_ptr<JobRunner> runner_;
};

}  // namespace imgpipe::workers
