#include "gateway/hot_answers.h"

#include <string>

#include <gtest/gtest.h>

namespace imgpipe::gateway {
namespace {

using Answers = HotAnswers<std::string>;
Answers::Entry answer(std::string s) { return std::make_shared<const std::string>(std::move(s)); }
std::string target(int i) { return "/img/" + std::to_string(i) + ".webp?size=m"; }

TEST(HotAnswers, TheLeastRecentlyUsedGoesWhenFull) {
  Answers hot(3);
  hot.put("/a", answer("a"));
  hot.put("/b", answer("b"));
  hot.put("/c", answer("c"));
  ASSERT_TRUE(hot.find("/a"));  // a is now the most recent
  hot.put("/d", answer("d"));   // full: b, the least recent, goes
  EXPECT_EQ(hot.size(), 3u);
  EXPECT_FALSE(hot.find("/b"));
  for (const char* t : {"/a", "/c", "/d"}) EXPECT_TRUE(hot.find(t)) << t;
}

// A long-running server: thousands of targets were asked for once, long
// ago; the ones asked for now must all be answered from memory, not churn
// through a single slot.
TEST(HotAnswers, TheTargetsAskedForNowKeepTheirPlaceWhateverCameBefore) {
  constexpr int kMax = 100;
  Answers hot(kMax);
  for (int i = 0; i < 10 * kMax; ++i) hot.put(target(i), answer(target(i)));
  EXPECT_EQ(hot.size(), static_cast<size_t>(kMax));
  // Now a working set of half the capacity, asked for over and over while
  // new targets keep arriving one at a time.
  for (int round = 0; round < 20; ++round) {
    for (int i = 0; i < kMax / 2; ++i) {
      const auto t = target(100000 + i);
      if (!hot.find(t)) hot.put(t, answer(t));
    }
    hot.put(target(200000 + round), answer("new"));
  }
  for (int i = 0; i < kMax / 2; ++i) {
    auto got = hot.find(target(100000 + i));
    ASSERT_TRUE(got) << target(100000 + i) << " was dropped while in use";
    EXPECT_EQ(*got, target(100000 + i));
  }
  EXPECT_EQ(hot.size(), static_cast<size_t>(kMax));
}

TEST(HotAnswers, PutReplacesAndDropTakesOnlyTheEntryItWasGiven) {
  Answers hot(4);
  auto first = answer("first");
  hot.put("/x", first);
  auto second = answer("second");
  hot.put("/x", second);  // replaced, still one entry
  EXPECT_EQ(hot.size(), 1u);
  EXPECT_EQ(*hot.find("/x"), "second");
  hot.drop("/x", first);  // found stale by a request that held the old one: the new one stays
  EXPECT_EQ(hot.find("/x"), second);
  hot.drop("/x", second);
  EXPECT_FALSE(hot.find("/x"));
  EXPECT_EQ(hot.size(), 0u);
}

TEST(HotAnswers, ZeroEntriesKeepsNothing) {
  Answers hot(0);
  hot.put("/x", answer("x"));
  EXPECT_FALSE(hot.find("/x"));
}

}  // namespace
}  // namespace imgpipe::gateway
