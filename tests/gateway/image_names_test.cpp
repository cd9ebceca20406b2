#include <gtest/gtest.h>

#include "gateway/image_names.h"

using namespace imgpipe::gateway;

TEST(ImageNames, ClampCutsAtACharacterBoundary) {
  std::string name(254, 'a');
  name += "\xC3\xA9\xC3\xA9";  // two 2-byte characters straddling byte 255
  clamp_name(name);
  EXPECT_EQ(name.size(), 254u);
  EXPECT_TRUE(valid_utf8(name));
  std::string short_name = "photo.jpg";
  clamp_name(short_name);
  EXPECT_EQ(short_name, "photo.jpg");
}

TEST(ImageNames, NameFromUrlIsTheDecodedLastPathSegment) {
  EXPECT_EQ(name_from_url("https://example.com/a/b/My%20Photo.jpg?x=1#y"), "My Photo.jpg");
  EXPECT_EQ(name_from_url("https://example.com:8443/pic.png"), "pic.png");
  EXPECT_EQ(name_from_url("https://example.com"), "");
  EXPECT_EQ(name_from_url("https://example.com/"), "");
  EXPECT_EQ(name_from_url("https://example.com?q=/x.jpg"), "");
  // Decoding that would give control characters or a slash keeps the raw text.
  EXPECT_EQ(name_from_url("https://example.com/a%0Ab.jpg"), "a%0Ab.jpg");
  EXPECT_EQ(name_from_url("https://example.com/a%2Fb.jpg"), "a%2Fb.jpg");
}

TEST(ImageNames, Utf8Validation) {
  EXPECT_TRUE(valid_utf8("plain"));
  EXPECT_TRUE(valid_utf8("caf\xC3\xA9"));
  EXPECT_FALSE(valid_utf8("\xC3"));
  EXPECT_FALSE(valid_utf8("\xFF\xFE"));
}
