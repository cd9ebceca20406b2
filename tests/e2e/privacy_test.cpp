// A photo with EXIF GPS, a camera serial and orientation 6: no served body
// (original, each size, each format) carries the location or the serial, and
// every one is displayed upright.
#include "tests/e2e/harness.h"

namespace imgpipe::e2e {
namespace {

constexpr std::string_view kSerial = "IMGPIPESERIAL4242";  // set by ops/corpus

TEST(Privacy, CorpusPhotoReallyCarriesPrivateMetadata) {
  // Guards the test below: it is only meaningful if the input has them.
  auto exif = exiftool_json(read_file(corpus("gps.jpg")));
  EXPECT_FALSE(private_tags(exif).empty()) << exif.dump(2);
  EXPECT_NE(read_file(corpus("gps.jpg")).find(kSerial), std::string::npos);
  EXPECT_EQ(exif.value("IFD0:Orientation", 0), 6) << exif.dump(2);
}

TEST(Privacy, NoServedBodyHasGpsOrSerialAndAllAreUpright) {
  ServerProcess s;
  ASSERT_NO_THROW(s.start());
  auto file = corpus("gps.jpg");
  auto raw = decode(read_file(file));  // pixels as stored, before orientation
  ASSERT_TRUE(raw.ok) << raw.error;
  ASSERT_EQ(raw.orientation, 6);

  auto r = upload(s, file);
  ASSERT_EQ(r.status, 201) << r.describe() << "\n" << s.log_tail();
  auto j = r.json();
  // Displayed upright: orientation 6 swaps width and height.
  EXPECT_EQ(j.value("width", 0), raw.height);
  EXPECT_EQ(j.value("height", 0), raw.width);
  Dims upright{raw.height, raw.width};
  std::string src = j.value("src", "");
  ASSERT_FALSE(src.empty());

  for (std::string ext : {"jpeg", "png", "webp", "avif"}) {
    for (std::string size : {"", "s", "m", "l"}) {
      std::string url = with_ext(src, ext);
      if (!size.empty()) url = with_size(url, size);
      SCOPED_TRACE(url);
      auto g = http_get(url);
      ASSERT_EQ(g.status, 200) << g.describe();
      EXPECT_EQ(g.body.find(kSerial), std::string::npos) << "the camera serial is in the served bytes";
      auto exif = exiftool_json(g.body);
      auto leaked = private_tags(exif);
      EXPECT_TRUE(leaked.empty()) << ::testing::PrintToString(leaked);
      EXPECT_LE(exif.value("IFD0:Orientation", 1), 1) << "orientation tag left for the viewer to apply";
      auto d = decode(g.body);
      ASSERT_TRUE(d.ok) << d.error;
      EXPECT_EQ(d.format, ext);
      EXPECT_EQ(d.orientation, 1);
      // The pixels themselves are upright (no tag left to rotate them).
      EXPECT_TRUE(dims_match({d.width, d.height}, expected_variant(upright, short_edge_of(size))));
    }
  }
  EXPECT_EQ(s.stop(), 0) << s.log_tail();
}

}  // namespace
}  // namespace imgpipe::e2e
