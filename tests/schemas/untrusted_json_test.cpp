#include "schemas/untrusted_json.h"

#include <string>

#include <gtest/gtest.h>

namespace imgpipe::schemas {
namespace {

std::string nested(size_t depth, char open = '[', char close = ']') {
  return std::string(depth, open) + std::string(depth, close);
}

TEST(UntrustedJson, DepthIsCountedOverArraysAndObjects) {
  EXPECT_FALSE(nests_deeper_than(nested(64), 64));
  EXPECT_TRUE(nests_deeper_than(nested(65), 64));
  EXPECT_TRUE(nests_deeper_than(R"({"a":{"b":[{"c":1}]}})", 3));
  EXPECT_FALSE(nests_deeper_than(R"({"a":{"b":[{"c":1}]}})", 4));
  EXPECT_FALSE(nests_deeper_than(R"([[1],[2],[3],[4]])", 2)) << "siblings are not deeper";
}

TEST(UntrustedJson, BracketsInsideStringsDoNotCount) {
  EXPECT_FALSE(nests_deeper_than(R"({"k":"[[[[{{{{"})", 1));
  EXPECT_FALSE(nests_deeper_than(R"({"k":"a \" [[[[ \\"})", 1)) << "escaped quote, then an escaped backslash";
  EXPECT_TRUE(nests_deeper_than(R"({"k":"\\",[[1]]})", 2)) << "the string ended at the quote after \\\\";
}

TEST(UntrustedJson, TooDeepIsDiscardedAndOrdinaryJsonParses) {
  EXPECT_TRUE(parse_untrusted_json(nested(kMaxJsonDepth + 1)).is_discarded());
  EXPECT_TRUE(parse_untrusted_json(nested(1000000, '{', '}')).is_discarded());
  EXPECT_FALSE(parse_untrusted_json(nested(kMaxJsonDepth)).is_discarded());
  auto j = parse_untrusted_json(R"({"url":"https://example.com/[a].jpg","labels":{"k":"v"}})");
  ASSERT_TRUE(j.is_object());
  EXPECT_EQ(j["labels"]["k"], "v");
  EXPECT_TRUE(parse_untrusted_json("{not json").is_discarded());
}

}  // namespace
}  // namespace imgpipe::schemas
