// ImageSlots: ready-path work first, and background renders leave a slot to
// each job a client waits for (ReadyJob). Threads and conditions, no timing.
#include "workers/image_slots.h"

#include <gtest/gtest.h>

#include <chrono>
#include <optional>
#include <thread>

namespace imgpipe::workers {
namespace {

using Priority = ImageSlots::Priority;
constexpr std::chrono::seconds kWait{30};

TEST(ImageSlots, BackgroundLeavesASlotToEachReadyJobInFlight) {
  ImageSlots slots(2);
  std::optional<ImageSlots::ReadyJob> first(std::in_place, slots);
  // One job in flight on two slots: one background render may run.
  slots.acquire(Priority::background);
  // A second render waits: it would take the job's slot.
  std::thread second([&] {
    slots.acquire(Priority::background);
    slots.release(Priority::background);
  });
  ASSERT_TRUE(slots.wait_until([](const auto& s) { return s.waiting_background == 1; }, kWait));
  EXPECT_EQ(slots.state().background, 1u);
  // The job is ready: the waiting render goes.
  first.reset();
  second.join();
  EXPECT_EQ(slots.state().background_grants, 2u);
  slots.release(Priority::background);
}

TEST(ImageSlots, AsManyReadyJobsAsSlotsHoldBackEveryRenderButNotTheReadyPath) {
  ImageSlots slots(2);
  std::optional<ImageSlots::ReadyJob> a(std::in_place, slots), b(std::in_place, slots);
  std::thread render([&] {
    slots.acquire(Priority::background);
    slots.release(Priority::background);
  });
  ASSERT_TRUE(slots.wait_until([](const auto& s) { return s.waiting_background == 1; }, kWait));
  // The ready path is not held back by jobs in flight: both take their slots.
  slots.acquire(Priority::ready_path);
  slots.acquire(Priority::ready_path);
  slots.release(Priority::ready_path);
  slots.release(Priority::ready_path);
  EXPECT_EQ(slots.state().background_grants, 0u);
  a.reset();  // one job left in flight on two slots: the render may go
  render.join();
  EXPECT_EQ(slots.state().background_grants, 1u);
  EXPECT_EQ(slots.state().ready_jobs, 1u);
}

}  // namespace
}  // namespace imgpipe::workers
