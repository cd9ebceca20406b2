#include "schemas/metrics.h"

#include <algorithm>
#include <map>
#include <memory>
#include <mutex>
#include <sstream>

namespace imgpipe::metrics {
namespace {

std::string escape(std::string_view v) {
  std::string out;
  for (char c : v) {
    if (c == '\\' || c == '"') out += '\\';
    if (c == '\n') {
      out += "\\n";
      continue;
    }
    out += c;
  }
  return out;
}

std::string label_text(const Labels& labels, const std::string& extra = {}) {
  if (labels.empty() && extra.empty()) return {};
  std::string out = "{";
  for (const auto& [k, v] : labels) {
    if (out.size() > 1) out += ',';
    out += k + "=\"" + escape(v) + '"';
  }
  if (!extra.empty()) out += (out.size() > 1 ? "," : "") + extra;
  return out + "}";
}

std::string number(double v) {
  std::ostringstream s;
  s.precision(12);
  s << v;
  return s.str();
}

struct Family {
  std::string help, type;
  std::map<std::string, std::pair<Labels, std::unique_ptr<Counter>>> counters;  // by label text
  std::map<std::string, std::pair<Labels, std::unique_ptr<Histogram>>> histograms;
  GaugeReader read;
};

struct Registry {
  std::mutex mu;
  std::map<std::string, Family, std::less<>> families;
};

Registry& registry() {
  static Registry* r = new Registry;  // never destroyed: metrics may be touched during exit
  return *r;
}

Family& family(Registry& r, std::string_view name, std::string_view help, const char* type) {
  auto it = r.families.find(name);
  if (it == r.families.end()) it = r.families.emplace(std::string(name), Family{std::string(help), type, {}, {}, {}}).first;
  return it->second;
}

}  // namespace

Histogram::Histogram(std::vector<double> bounds) : bounds_(std::move(bounds)), buckets_(bounds_.size() + 1) {}

void Histogram::observe(double v) {
  auto i = static_cast<size_t>(std::lower_bound(bounds_.begin(), bounds_.end(), v) - bounds_.begin());
  buckets_[i].fetch_add(1, std::memory_order_relaxed);
  sum_.fetch_add(v, std::memory_order_relaxed);
}

Histogram::Snapshot Histogram::snapshot() const {
  Snapshot s;
  s.bounds = bounds_;
  uint64_t running = 0;
  for (const auto& b : buckets_) {
    running += b.load(std::memory_order_relaxed);
    s.cumulative.push_back(running);
  }
  s.count = running;
  s.sum = sum_.load(std::memory_order_relaxed);
  return s;
}

const std::vector<double>& latency_buckets() {
  static const std::vector<double> b{0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60};
  return b;
}

Counter& counter(std::string_view name, std::string_view help, const Labels& labels) {
  auto& r = registry();
  std::lock_guard lock(r.mu);
  auto& f = family(r, name, help, "counter");
  auto& slot = f.counters[label_text(labels)];
  if (!slot.second) slot = {labels, std::make_unique<Counter>()};
  return *slot.second;
}

Histogram& histogram(std::string_view name, std::string_view help, const Labels& labels,
                     const std::vector<double>& bounds) {
  auto& r = registry();
  std::lock_guard lock(r.mu);
  auto& f = family(r, name, help, "histogram");
  auto& slot = f.histograms[label_text(labels)];
  if (!slot.second) slot = {labels, std::make_unique<Histogram>(bounds)};
  return *slot.second;
}

void gauge(std::string name, std::string help, GaugeReader read) {
  auto& r = registry();
  std::lock_guard lock(r.mu);
  auto& f = family(r, name, help, "gauge");
  f.read = std::move(read);
}

void clear_gauges() {
  auto& r = registry();
  std::lock_guard lock(r.mu);
  for (auto& [name, f] : r.families) f.read = nullptr;
}

std::string render() {
  auto& r = registry();
  // Gauge readers may be slow (they ask the bus): call them outside the lock.
  std::vector<std::pair<std::string, GaugeReader>> readers;
  std::string out;
  {
    std::lock_guard lock(r.mu);
    for (auto& [name, f] : r.families) {
      if (f.type == "gauge") {
        if (f.read) readers.emplace_back(name, f.read);
        continue;
      }
      out += "# HELP " + name + " " + f.help + "\n# TYPE " + name + " " + f.type + "\n";
      for (auto& [text, c] : f.counters) out += name + text + " " + number(c.second->value()) + "\n";
      for (auto& [text, h] : f.histograms) {
        auto s = h.second->snapshot();
        for (size_t i = 0; i < s.cumulative.size(); ++i) {
          std::string le = i < s.bounds.size() ? number(s.bounds[i]) : "+Inf";
          out += name + "_bucket" + label_text(h.first, "le=\"" + le + "\"") + " " + std::to_string(s.cumulative[i]) + "\n";
        }
        out += name + "_sum" + text + " " + number(s.sum) + "\n";
        out += name + "_count" + text + " " + std::to_string(s.count) + "\n";
      }
    }
  }
  for (auto& [name, read] : readers) {
    std::vector<std::pair<Labels, double>> values;
    try {
      values = read();
    } catch (...) {
      continue;  // e.g. the bus is unreachable: leave the gauge out of this scrape
    }
    std::string help;
    {
      std::lock_guard lock(r.mu);
      help = r.families.find(name)->second.help;
    }
    out += "# HELP " + name + " " + help + "\n# TYPE " + name + " gauge\n";
    for (auto& [labels, v] : values) out += name + label_text(labels) + " " + number(v) + "\n";
  }
  return out;
}

}  // namespace imgpipe::metrics
