// A worker that waits a long time — paused by SIGUSR1, or its disk low —
// stops polling Kafka; past max.poll.interval.ms librdkafka takes it out of
// its consumer group. On resume it joins again and takes its partitions
// back from the group's commit: the upload accepted during the pause is
// done, and the worker goes on. The interval is cut to 7 s here (the
// default is 10 minutes) so the pause outlasts it within the test.
// Runs only with IMGPIPE_E2E_BUS=kafka (registered as kafka.e2e_worker_pause).
#include <algorithm>
#include <future>
#include <sstream>

#include "tests/e2e/harness.h"

namespace imgpipe::e2e {
namespace {

TEST(WorkerPause, APauseLongerThanThePollIntervalLeavesTheGroupAndRejoinsLosingNothing) {
  ASSERT_TRUE(kafka_mode()) << "set IMGPIPE_E2E_BUS=kafka and IMGPIPE_TEST_KAFKA (ops/test does)";
  ServerOptions o;
  // The broker's smallest session timeout (group.min.session.timeout.ms);
  // librdkafka wants the poll interval at least that long.
  o.extra_args = {"--kafka-config", "session.timeout.ms=6000", "--kafka-config", "max.poll.interval.ms=7000"};
  ServerProcess s(o);
  ASSERT_NO_THROW(s.start());
  auto logged = [&](const std::string& text) { return s.log_tail(1 << 20).find(text) != std::string::npos; };
  // The worker's view of its ingest partitions, one line per change.
  auto assignments = [&] {
    std::vector<std::string> lines;
    std::istringstream log(s.log_tail(1 << 20));
    for (std::string line; std::getline(log, line);)
      if (line.find(R"("event":"partitions_assigned")") != std::string::npos)
        lines.push_back(nlohmann::json::parse(line).value("partitions", "?"));
    return lines;
  };
  auto before = upload(s, corpus("portrait.jpg"));
  ASSERT_EQ(before.status, 201) << before.describe() << "\n" << s.log_tail();

  s.signal(SIGUSR1);
  ASSERT_TRUE(eventually([&] { return logged(R"("event":"workers_paused")"); })) << s.log_tail();
  auto pending = std::async(std::launch::async, [&] { return upload(s, corpus("under-1mp.jpg")); });
  // librdkafka's own line: "Application maximum poll interval (7000ms) exceeded ... leaving group".
  ASSERT_TRUE(eventually([&] { return logged(R"("facility":"MAXPOLL")"); }, 60s)) << s.log_tail();
  EXPECT_EQ(pending.wait_for(0s), std::future_status::timeout) << "done by a paused worker\n" << s.log_tail();
  const auto while_paused = assignments();
  ASSERT_FALSE(while_paused.empty()) << s.log_tail();

  s.signal(SIGUSR2);
  ASSERT_EQ(pending.wait_for(60s), std::future_status::ready) << s.log_tail();
  auto r = pending.get();
  ASSERT_EQ(r.status, 201) << r.describe() << "\n" << s.log_tail();
  auto served = http_get(r.json().value("src", ""));
  ASSERT_EQ(served.status, 200);
  EXPECT_TRUE(decode(served.body).ok);
  // Out of the group and back: its partitions went (the job above may have
  // come from what was fetched before) and it holds them again.
  EXPECT_TRUE(eventually([&] {
    const auto now = assignments();
    const bool went = std::find_if(now.begin(), now.end(), [&](auto& a) { return a != now.front(); }) != now.end();
    return went && now.size() > while_paused.size() && now.back() == now.front();
  })) << s.log_tail();
  auto after = upload(s, corpus("landscape.jpg"));
  EXPECT_EQ(after.status, 201) << after.describe() << "\n" << s.log_tail();
  EXPECT_FALSE(logged(R"("event":"job_failed")")) << s.log_tail();
  EXPECT_EQ(http_get(before.json().value("src", "")).status, 200);
  EXPECT_EQ(s.stop(), 0) << s.log_tail();
}

}  // namespace
}  // namespace imgpipe::e2e
