#include "workers/ingest_pipeline.h"

#include <chrono>
#include <optional>

#include "schemas/log.h"
#include "schemas/metrics.h"
#include "workers/image/engine.h"
#include "workers/steps/steps.h"

namespace imgpipe::workers {

struct IngestPipeline::NamedStep {
  const char* name;
  void (*run)(JobContext&);
  bool skip_when_replayed;  // the earlier run already did it
};

namespace {

using schemas::Error;
using schemas::ErrorCode;
using NamedStep = IngestPipeline::NamedStep;

// The order of an ingest job, listed once. Up to `ready` a client waits for
// the 201; the steps after it run later, as low-priority work (JobRunner).
constexpr NamedStep kUploadSteps[] = {
    {"resume", steps::resume_if_done, true}, {"accept", steps::announce_accepted, true},
    {"locate", steps::locate_upload, true},
    {"probe", steps::probe, true},           {"normalise", steps::normalise, true},
    {"store", steps::store_original, true},  {"announce_ready", steps::announce_ready, false},
};
constexpr NamedStep kImportSteps[] = {
    {"resume", steps::resume_if_done, true}, {"accept", steps::announce_accepted, true},
    {"fetch", steps::fetch, true},
    {"probe", steps::probe, true},           {"normalise", steps::normalise, true},
    {"store", steps::store_original, true},  {"announce_ready", steps::announce_ready, false},
};
constexpr NamedStep kAfterReadySteps[] = {
    {"variants", steps::derive_variants, false},
    {"announce_variants", steps::announce_variants, false},
};

// A job that failed for good leaves nothing in staging: an import's download
// (possibly partial, up to the size limit) is fetched again on redelivery, and
// a staged upload that failed to decode would fail the same way again.
void discard_failed_source(const JobContext& ctx) {
  if (!ctx.source_is_temporary || ctx.source.empty()) return;
  try {
    ctx.services.blobs.remove_staged(ctx.source.filename().string());
  } catch (const std::exception&) {
    // An unreachable remote store: its lifecycle rule removes it (docs/s3.md).
  }
}

double ms_since(std::chrono::steady_clock::time_point t) {
  return std::chrono::duration<double, std::milli>(std::chrono::steady_clock::now() - t).count();
}

}  // namespace

IngestPipeline::IngestPipeline(storage::Bus& bus, storage::BlobStore& blobs, WorkerConfig config)
    : bus_(bus),
      blobs_(blobs),
      config_(std::move(config)),
      image_slots_(std::max<size_t>(config_.image_threads, 1)),
      services_{bus_, blobs_, config_, image_slots_},
      disk_(config_.disk_dirs, config_.min_free_disk_bytes) {
  JobRunnerConfig runner;
  runner.concurrency = std::max<size_t>(config_.jobs, 1);
  runner.later_limit = std::max<size_t>(config_.variant_backlog, 1);
  runner.later_threads = std::max<size_t>(config_.image_threads, 1);  // they hold image slots
  runner.on_thread_exit = [] { image::release_thread(); };
  runner.may_take = [this] { return disk_.ok(); };
  // Fair between owners: up to two rounds of jobs read ahead, the next one
  // started from the owner who started one least recently.
  runner.read_ahead = 2 * runner.concurrency;
  runner.fairness_key = [](const storage::BusMessage& m) {
    try {
      return schemas::decode_ingest_job(m.value).owner;
    } catch (const std::exception&) {
      return std::string();  // not a job: it is dead-lettered when its turn comes
    }
  };
  runner_ = std::make_unique<JobRunner>(bus_, runner, [this](const storage::BusMessage& m) { return process_until_ready(m); });
}

IngestPipeline::~IngestPipeline() { stop(); }

void IngestPipeline::start() { runner_->start(); }
void IngestPipeline::stop() { runner_->stop(); }

void IngestPipeline::process(const storage::BusMessage& message) {
  if (auto later = process_until_ready(message)) later();
}

struct IngestPipeline::Job {
  Job(const WorkerServices& services, schemas::IngestJob j, std::chrono::steady_clock::time_point started,
      std::chrono::steady_clock::time_point deadline)
      : ctx{services, std::move(j), deadline, {}, false, {}, {}, {}, false}, started(started) {}
  JobContext ctx;
  std::chrono::steady_clock::time_point started;
  nlohmann::json step_ms = nlohmann::json::object();  // per step, for job_done (ops/bench reads it)
};

bool IngestPipeline::run_steps(Job& job, std::span<const NamedStep> plan, const storage::BusMessage& message) {
  auto& ctx = job.ctx;
  const char* step_name = "start";
  // From probe on, the job is CPU work its client waits for (a fetch before
  // it is network time): background renders leave it a slot (image_slots.h).
  std::optional<ImageSlots::ReadyJob> in_flight;
  try {
    for (const auto& step : plan) {
      if (ctx.replayed && step.skip_when_replayed) continue;
      if (step.run == steps::probe && !in_flight) in_flight.emplace(image_slots_);
      const auto step_started = std::chrono::steady_clock::now();
      if (step_started > ctx.deadline)
        throw Error(ErrorCode::processing_timeout, "The image took too long to process.");
      step_name = step.name;
      step.run(ctx);
      job.step_ms[step.name] = ms_since(step_started);
      metrics::histogram("imgpipe_job_step_seconds", "Time per worker step of ingest jobs that ran it.", {{"step", step.name}})
          .observe(std::chrono::duration<double>(std::chrono::steady_clock::now() - step_started).count());
    }
    return true;
  } catch (const Error& e) {
    if (e.id() == ErrorCode::service_unavailable) throw;  // transient: the runner retries
    discard_failed_source(ctx);
    fail(message, ctx.job.image_id, ctx.job.request_id, step_name, e, &ctx);
  } catch (const std::exception& e) {
    log::error("job_internal_error", {{"image_id", ctx.job.image_id}, {"step", step_name}, {"error", e.what()}});
    discard_failed_source(ctx);
    fail(message, ctx.job.image_id, ctx.job.request_id, step_name, Error(ErrorCode::internal_error), &ctx);
  }
  return false;
}

Later IngestPipeline::process_until_ready(const storage::BusMessage& message) {
  auto started = std::chrono::steady_clock::now();
  schemas::IngestJob decoded;
  try {
    decoded = schemas::decode_ingest_job(message.value);
  } catch (const Error& e) {
    // A malformed message never blocks the partition: dead-letter it and move on.
    fail(message, message.key, "", "decode", e);
    return {};
  }
  auto job = std::make_shared<Job>(services_, std::move(decoded), started, started + config_.job_deadline);
  const auto plan = job->ctx.job.type == "upload" ? std::span<const NamedStep>(kUploadSteps)
                                                  : std::span<const NamedStep>(kImportSteps);
  if (!run_steps(*job, plan, message)) return {};
  // The client has its 201. The variants wait behind other clients' urgent
  // work, so their deadline counts from when they start.
  return [this, job, message] {
    job->ctx.deadline = std::chrono::steady_clock::now() + config_.job_deadline;
    if (!run_steps(*job, kAfterReadySteps, message)) return;
    const auto& ctx = job->ctx;
    metrics::counter("imgpipe_jobs_total", "Ingest jobs finished, by type and outcome.", {{"type", ctx.job.type}, {"outcome", "done"}}).inc();
    log::info("job_done", {{"image_id", ctx.job.image_id}, {"request_id", ctx.job.request_id}, {"type", ctx.job.type},
                           {"replayed", ctx.replayed}, {"variants", ctx.record ? ctx.record->variants.size() : 0},
                           {"ms", ms_since(job->started)}, {"steps_ms", job->step_ms}, {"partition", message.partition}, {"offset", message.offset}});
  };
}

void IngestPipeline::fail(const storage::BusMessage& message, const std::string& image_id,
                          const std::string& request_id, const std::string& step, const Error& error,
                          const JobContext* ctx) {
  schemas::ErrorDetail detail{std::string(error.info().code), error.what(), step};
  metrics::counter("imgpipe_jobs_failed_total", "Ingest jobs that failed for good (dead-lettered), by step and code.",
                   {{"step", step}, {"code", detail.code}}).inc();
  log::warn("job_failed", {{"image_id", image_id}, {"request_id", request_id}, {"step", step},
                           {"code", detail.code}, {"message", detail.message}, {"offset", message.offset}});
  // Once the original is stored and announced (a variants step failed), the
  // image is ready: the failure is dead-lettered only, so that no `failed`
  // is the last event of a ready image on the compacted topic.
  const bool stored = ctx && ctx->record;
  if (!image_id.empty() && !stored) {
    std::optional<schemas::ImageRecord> failed;  // known when the job was readable: listed as failed
    if (ctx) failed = schemas::record_of(ctx->job, schemas::kFailed);
    schemas::ImageEvent event{"failed", image_id, request_id, std::move(failed), detail};
    bus_.publish_sync(storage::topics::images, schemas::event_key(event), schemas::encode(event),
                      std::chrono::seconds(10));
  }
  schemas::DeadLetter letter{step == "decode" ? "malformed message" : "job failed", detail, message.topic,
                             message.partition, message.offset, message.key, message.value};
  bus_.publish_sync(storage::topics::ingest_dlq, message.key, schemas::encode(letter), std::chrono::seconds(10));
}

}  // namespace imgpipe::workers
