#pragma once
// A tiny process-wide Prometheus registry (text exposition format 0.0.4):
// counters and histograms that any module increments, and gauges computed at
// scrape time. Like log.h it is an observability contract every layer may
// use; the HTTP side (/metrics, route labels) is gateway/metrics.h.
// Hand-written; prometheus-cpp-dev is packaged in Debian 12 and is the
// candidate to replace this (docs/dependencies.md says why not yet).

#include <atomic>
#include <functional>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

namespace imgpipe::metrics {

// Label name/value pairs, in the order they are rendered.
using Labels = std::vector<std::pair<std::string, std::string>>;

class Counter {
 public:
  void inc(double by = 1) { value_.fetch_add(by, std::memory_order_relaxed); }
  double value() const { return value_.load(std::memory_order_relaxed); }

 private:
  std::atomic<double> value_{0};
};

class Histogram {
 public:
  explicit Histogram(std::vector<double> bounds);
  void observe(double v);
  struct Snapshot {
    std::vector<double> bounds;
    std::vector<uint64_t> cumulative;  // per bound, then +Inf
    double sum = 0;
    uint64_t count = 0;
  };
  Snapshot snapshot() const;

 private:
  const std::vector<double> bounds_;
  std::vector<std::atomic<uint64_t>> buckets_;  // per bound, then +Inf (not cumulative)
  std::atomic<double> sum_{0};
};

// Latency buckets in seconds, 5 ms to 60 s.
const std::vector<double>& latency_buckets();

// The metric with this name and labels, created on first use; the reference
// stays valid for the life of the process. `help` is taken from the first call.
Counter& counter(std::string_view name, std::string_view help, const Labels& labels = {});
Histogram& histogram(std::string_view name, std::string_view help, const Labels& labels = {},
                     const std::vector<double>& bounds = latency_buckets());

// Gauges read at scrape time. `read` returns one value per label set; it is
// called on the scraping thread and may throw (the gauge is then left out).
using GaugeReader = std::function<std::vector<std::pair<Labels, double>>()>;
void gauge(std::string name, std::string help, GaugeReader read);
void clear_gauges();  // before what the readers reference is destroyed

// Everything, in the text format.
std::string render();

}  // namespace imgpipe::metrics
