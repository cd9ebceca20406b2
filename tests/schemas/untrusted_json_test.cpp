#include "schemas/untrusted_json.h"

#include <string>

#include <gtest/gtest.h>

namespace imgpipe::schemas {
namespace {

bool deep(std::string_view text, size_t max_depth) { return exceeds_json_limits(text, max_depth, kMaxJsonValues); }

std::string nested(size_t depth, char open = '[', char close = ']') {
  return std::string(depth, open) + std::string(depth, close);
}

TEST(UntrustedJson, DepthIsCountedOverArraysAndObjects) {
  EXPECT_FALSE(deep(nested(64), 64));
  EXPECT_TRUE(deep(nested(65), 64));
  EXPECT_TRUE(deep(R"({"a":{"b":[{"c":1}]}})", 3));
  EXPECT_FALSE(deep(R"({"a":{"b":[{"c":1}]}})", 4));
  EXPECT_FALSE(deep(R"([[1],[2],[3],[4]])", 2)) << "siblings are not deeper";
}

TEST(UntrustedJson, BracketsInsideStringsDoNotCount) {
  EXPECT_FALSE(deep(R"({"k":"[[[[{{{{"})", 1));
  EXPECT_FALSE(deep(R"({"k":"a \" [[[[ \\"})", 1)) << "escaped quote, then an escaped backslash";
  EXPECT_TRUE(deep(R"({"k":"\\",[[1]]})", 2)) << "the string ended at the quote after \\\\";
}

TEST(UntrustedJson, ValuesAreCountedOutsideStrings) {
  EXPECT_FALSE(exceeds_json_limits("[1,2,3]", 8, 3));
  EXPECT_TRUE(exceeds_json_limits("[1,2,3,4]", 8, 3));
  EXPECT_FALSE(exceeds_json_limits(R"(["a,b,c,d,e"])", 8, 1));
  std::string many = "[";
  for (size_t i = 0; i <= kMaxJsonValues; ++i) many += "[],";
  many += "[]]";
  EXPECT_TRUE(parse_untrusted_json(many).is_discarded()) << "a tree ten times the body";
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
