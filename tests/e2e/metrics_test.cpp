// GET /metrics end to end on the embedded bus: a fresh server, two uploads,
// one src GET and one 404, then the Prometheus text exposition is parsed line
// by line and checked against the requests this test made. Metric names are
// the real ones: gateway/metrics.cpp (HTTP), workers/ingest_pipeline.cpp
// (jobs), ops/serve_metrics.cpp (gauges).
#include <algorithm>
#include <cmath>
#include <cstdlib>
#include <map>
#include <regex>
#include <set>
#include <sstream>

#include "tests/e2e/harness.h"

namespace imgpipe::e2e {
namespace {

struct Sample {
  std::string name;
  std::map<std::string, std::string> labels;
  double value = 0;
};

struct Exposition {
  std::vector<Sample> samples;
  std::map<std::string, std::string> help, type;  // by family name
  std::vector<std::string> errors;                // lines that do not parse, families without HELP/TYPE

  // The value of the one sample with exactly these labels; NaN if absent.
  double value(const std::string& name, const std::map<std::string, std::string>& labels = {}) const {
    for (const auto& s : samples)
      if (s.name == name && s.labels == labels) return s.value;
    return std::nan("");
  }
  bool has(const std::string& name) const {
    for (const auto& s : samples)
      if (s.name == name) return true;
    return false;
  }
  std::vector<Sample> all(const std::string& name) const {
    std::vector<Sample> out;
    for (const auto& s : samples)
      if (s.name == name) out.push_back(s);
    return out;
  }
};

// Parses `{a="x",b="y\"z"}` starting at text[i] == '{'; advances i past '}'.
bool parse_labels(const std::string& text, size_t& i, std::map<std::string, std::string>& out) {
  static const std::regex label_name("[a-zA-Z_][a-zA-Z0-9_]*");
  ++i;  // '{'
  while (i < text.size() && text[i] != '}') {
    const size_t eq = text.find('=', i);
    if (eq == std::string::npos) return false;
    const std::string key = text.substr(i, eq - i);
    if (!std::regex_match(key, label_name) || eq + 1 >= text.size() || text[eq + 1] != '"') return false;
    std::string value;
    size_t j = eq + 2;
    for (; j < text.size() && text[j] != '"'; ++j) {
      if (text[j] == '\\') {
        if (++j >= text.size()) return false;
        value += text[j] == 'n' ? '\n' : text[j];
      } else {
        value += text[j];
      }
    }
    if (j >= text.size()) return false;
    if (!out.emplace(key, value).second) return false;  // a label twice
    i = j + 1;
    if (i < text.size() && text[i] == ',') ++i;
  }
  if (i >= text.size()) return false;
  ++i;  // '}'
  return true;
}

bool parse_value(const std::string& s, double& v) {
  if (s == "+Inf") return v = INFINITY, true;
  if (s == "-Inf") return v = -INFINITY, true;
  if (s == "NaN") return v = NAN, true;
  if (s.empty()) return false;
  char* end = nullptr;
  v = std::strtod(s.c_str(), &end);
  return end == s.c_str() + s.size();
}

// The family a sample belongs to: histograms expose _bucket/_sum/_count.
std::string family_of(const std::string& name, const std::map<std::string, std::string>& type) {
  for (const char* suffix : {"_bucket", "_sum", "_count"}) {
    const std::string sfx(suffix);
    if (name.size() > sfx.size() && name.ends_with(sfx)) {
      const auto base = name.substr(0, name.size() - sfx.size());
      auto it = type.find(base);
      if (it != type.end() && (it->second == "histogram" || it->second == "summary")) return base;
    }
  }
  return name;
}

Exposition parse_exposition(const std::string& body) {
  static const std::regex metric_name("[a-zA-Z_:][a-zA-Z0-9_:]*");
  static const std::set<std::string> types{"counter", "gauge", "histogram", "summary", "untyped"};
  Exposition e;
  std::istringstream in(body);
  std::string line;
  int n = 0;
  while (std::getline(in, line)) {
    ++n;
    const std::string where = "line " + std::to_string(n) + ": " + line;
    if (line.empty()) continue;
    if (line.starts_with("# HELP ") || line.starts_with("# TYPE ")) {
      const bool is_help = line[2] == 'H';
      const std::string rest = line.substr(7);
      const auto sp = rest.find(' ');
      const std::string name = rest.substr(0, sp);
      const std::string text = sp == std::string::npos ? "" : rest.substr(sp + 1);
      if (!std::regex_match(name, metric_name)) e.errors.push_back("bad family name, " + where);
      auto& slot = is_help ? e.help : e.type;
      if (slot.count(name)) e.errors.push_back("repeated HELP/TYPE, " + where);
      if (!is_help && !types.count(text)) e.errors.push_back("unknown type, " + where);
      if (is_help && text.empty()) e.errors.push_back("empty HELP, " + where);
      slot[name] = text;
      continue;
    }
    if (line[0] == '#') continue;  // other comments are allowed
    Sample s;
    size_t i = 0;
    while (i < line.size() && line[i] != '{' && line[i] != ' ') ++i;
    s.name = line.substr(0, i);
    if (!std::regex_match(s.name, metric_name)) {
      e.errors.push_back("bad metric name, " + where);
      continue;
    }
    if (i < line.size() && line[i] == '{' && !parse_labels(line, i, s.labels)) {
      e.errors.push_back("bad labels, " + where);
      continue;
    }
    if (i >= line.size() || line[i] != ' ') {
      e.errors.push_back("no value, " + where);
      continue;
    }
    std::string value = line.substr(i + 1);
    if (const auto sp = value.find(' '); sp != std::string::npos) value = value.substr(0, sp);  // optional timestamp
    if (!parse_value(value, s.value) || std::isnan(s.value)) {
      e.errors.push_back("value is not a number, " + where);
      continue;
    }
    // HELP and TYPE must come before the family's samples.
    const auto fam = family_of(s.name, e.type);
    if (!e.help.count(fam)) e.errors.push_back("no # HELP before the sample, " + where);
    if (!e.type.count(fam)) e.errors.push_back("no # TYPE before the sample, " + where);
    e.samples.push_back(std::move(s));
  }
  return e;
}

std::string dump_errors(const Exposition& e) {
  std::string out;
  for (const auto& x : e.errors) out += "  " + x + "\n";
  return out;
}

class MetricsTest : public ::testing::Test {
 protected:
  void TearDown() override {
    if (HasFailure()) {
      std::cerr << "---- last /metrics ----\n" << last_ << "\n---- server log ----\n" << server_.log_tail() << "\n";
    }
  }
  Exposition scrape() {
    auto r = http_get(server_.url("/metrics"), {}, 30s);
    EXPECT_EQ(r.status, 200) << r.describe();
    last_ = r.body;
    content_type_ = r.header("Content-Type");
    return parse_exposition(r.body);
  }
  ServerProcess server_;
  std::string last_, content_type_;
};

TEST_F(MetricsTest, ReflectsTheRequestsMadeInPrometheusTextFormat) {
  ASSERT_NO_THROW(server_.start());
  if (kafka_mode()) GTEST_SKIP() << "this scenario is for the embedded bus";

  // Two uploads, one src GET, one 404.
  const auto file = corpus("landscape.jpg");
  std::vector<std::string> srcs, ids;
  for (int i = 0; i < 2; ++i) {
    auto r = upload(server_, file, "landscape-" + std::to_string(i) + ".jpg");
    ASSERT_EQ(r.status, 201) << r.describe();
    srcs.push_back(r.json().value("src", ""));
    ids.push_back(r.json().value("id", ""));
    ASSERT_FALSE(srcs.back().empty() || ids.back().empty()) << r.describe();
  }
  auto got = http_get(srcs[0]);
  ASSERT_EQ(got.status, 200) << got.describe();
  std::string missing = srcs[0];
  missing.replace(missing.rfind(ids[0]), ids[0].size(), "zzzzzzzzzzzz");
  ASSERT_TRUE(is_error(http_get(missing), 404, "not_found")) << missing;

  // The counters are bumped after the answer is on the wire and the jobs
  // counter after the job's last step: poll until they show.
  const std::map<std::string, std::string> upload_201{{"route", "/v1/upload"}, {"status", "201"}};
  const std::map<std::string, std::string> src_200{{"route", "src"}, {"status", "200"}};
  const std::map<std::string, std::string> src_404{{"route", "src"}, {"status", "404"}};
  const std::map<std::string, std::string> jobs_done{{"type", "upload"}, {"outcome", "done"}};
  Exposition m;
  const bool settled = eventually(
      [&] {
        m = scrape();
        return m.value("imgpipe_http_requests_total", upload_201) >= 2 &&
               m.value("imgpipe_http_requests_total", src_200) >= 1 &&
               m.value("imgpipe_http_requests_total", src_404) >= 1 && m.value("imgpipe_jobs_total", jobs_done) >= 2;
      },
      15s, 250ms);

  // Format: content type, every line parses, every family has HELP and TYPE.
  EXPECT_NE(content_type_.find("text/plain"), std::string::npos) << content_type_;
  EXPECT_NE(content_type_.find("version=0.0.4"), std::string::npos) << content_type_;
  EXPECT_TRUE(m.errors.empty()) << "malformed exposition:\n" << dump_errors(m);
  ASSERT_FALSE(m.samples.empty());
  for (const auto& [name, t] : m.type) EXPECT_TRUE(m.help.count(name)) << "TYPE without HELP: " << name;
  for (const auto& [name, h] : m.help) EXPECT_TRUE(m.type.count(name)) << "HELP without TYPE: " << name;

  // Requests by route and status, as made above.
  EXPECT_TRUE(settled) << "counters never reflected the requests";
  EXPECT_EQ(m.type["imgpipe_http_requests_total"], "counter");
  EXPECT_GE(m.value("imgpipe_http_requests_total", upload_201), 2);
  EXPECT_GE(m.value("imgpipe_http_requests_total", src_200), 1);
  EXPECT_GE(m.value("imgpipe_http_requests_total", src_404), 1);
  // The harness polled /healthz until ready; the route label is the fixed path.
  EXPECT_GE(m.value("imgpipe_http_requests_total", {{"route", "/healthz"}, {"status", "200"}}), 1);
  for (const auto& s : m.all("imgpipe_http_requests_total")) {
    EXPECT_EQ(s.labels.size(), 2u) << "labels must be exactly route and status";
    EXPECT_TRUE(std::regex_match(s.labels.count("status") ? s.labels.at("status") : "", std::regex("[1-5][0-9][0-9]")));
    EXPECT_EQ(s.value, std::floor(s.value)) << "a request count that is not whole";
  }

  // Latency histogram: per route; cumulative buckets, +Inf == _count.
  EXPECT_EQ(m.type["imgpipe_http_request_duration_seconds"], "histogram");
  std::set<std::string> routes;
  for (const auto& s : m.all("imgpipe_http_request_duration_seconds_count")) routes.insert(s.labels.at("route"));
  EXPECT_TRUE(routes.count("/v1/upload") && routes.count("src")) << "histogram routes missing";
  for (const auto& route : routes) {
    SCOPED_TRACE("route " + route);
    const double count = m.value("imgpipe_http_request_duration_seconds_count", {{"route", route}});
    const double sum = m.value("imgpipe_http_request_duration_seconds_sum", {{"route", route}});
    const double inf = m.value("imgpipe_http_request_duration_seconds_bucket", {{"route", route}, {"le", "+Inf"}});
    EXPECT_EQ(inf, count) << "+Inf bucket must equal _count";
    EXPECT_GE(count, 1);
    EXPECT_GE(sum, 0);
    std::vector<std::pair<double, double>> buckets;  // (le, cumulative)
    for (const auto& s : m.all("imgpipe_http_request_duration_seconds_bucket")) {
      if (s.labels.at("route") != route) continue;
      double le = 0;
      ASSERT_TRUE(s.labels.count("le") && parse_value(s.labels.at("le"), le));
      buckets.emplace_back(le, s.value);
    }
    std::sort(buckets.begin(), buckets.end());
    ASSERT_GE(buckets.size(), 2u);
    EXPECT_TRUE(std::isinf(buckets.back().first));
    for (size_t i = 1; i < buckets.size(); ++i) EXPECT_LE(buckets[i - 1].second, buckets[i].second) << "not cumulative";
  }
  // Every request this test counted as an upload was timed as one.
  double uploads = 0;
  for (const auto& s : m.all("imgpipe_http_requests_total"))
    if (s.labels.at("route") == "/v1/upload") uploads += s.value;
  EXPECT_EQ(m.value("imgpipe_http_request_duration_seconds_count", {{"route", "/v1/upload"}}), uploads);
  EXPECT_GT(m.value("imgpipe_http_request_duration_seconds_sum", {{"route", "/v1/upload"}}), 0);

  // Jobs processed.
  EXPECT_EQ(m.type["imgpipe_jobs_total"], "counter");
  EXPECT_GE(m.value("imgpipe_jobs_total", jobs_done), 2);

  // Queue-depth gauges.
  for (const char* g : {"imgpipe_consumer_lag", "imgpipe_topic_messages", "imgpipe_staging_files",
                        "imgpipe_worker_jobs_in_flight", "imgpipe_ingest_pending", "imgpipe_http_requests_in_flight"}) {
    EXPECT_TRUE(m.has(g)) << "missing gauge " << g;
    EXPECT_EQ(m.type[g], "gauge") << g;
    for (const auto& s : m.all(g)) EXPECT_GE(s.value, 0) << g;
  }
  EXPECT_GE(m.value("imgpipe_http_requests_in_flight"), 1) << "the /metrics request itself is in flight";
  for (const auto& s : m.all("imgpipe_consumer_lag")) {
    EXPECT_TRUE(s.labels.count("topic") && s.labels.count("partition")) << "consumer lag without topic/partition";
  }
  double messages = 0;
  for (const auto& s : m.all("imgpipe_topic_messages")) messages += s.value;
  EXPECT_GE(messages, 2) << "two upload jobs were published to the ingest topic";
  EXPECT_EQ(m.value("imgpipe_build_info", {{"bus", "embedded"}}), 1);

  // Once idle, nothing is waiting: no pending ingests, no job in flight, and
  // the worker group has committed everything (the describe is cached ~5 s).
  const bool drained = eventually(
      [&] {
        m = scrape();
        double lag = 0;
        for (const auto& s : m.all("imgpipe_consumer_lag")) lag += s.value;
        return m.has("imgpipe_consumer_lag") && lag == 0 && m.value("imgpipe_ingest_pending") == 0 &&
               m.value("imgpipe_worker_jobs_in_flight") == 0;
      },
      20s, 500ms);
  EXPECT_TRUE(drained) << "queues did not drain to 0 after the uploads finished";
}

}  // namespace
}  // namespace imgpipe::e2e
