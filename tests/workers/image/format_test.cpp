#include "workers/image/format.h"

#include <gtest/gtest.h>

#include "test_images.h"

namespace imgpipe::workers::image {
namespace {

using testing::encode;
using testing::gradient;

std::optional<Format> sniff_str(std::string_view s) {
  return sniff(std::span(reinterpret_cast<const uint8_t*>(s.data()), s.size()));
}

// An ISO-BMFF ftyp box with the given major and compatible brands.
std::string ftyp(std::string_view major, std::vector<std::string_view> compatible) {
  const uint32_t size = static_cast<uint32_t>(16 + 4 * compatible.size());
  std::string box{char(size >> 24), char(size >> 16), char(size >> 8), char(size)};
  box += "ftyp";
  box += major;
  box += std::string(4, '\0');
  for (auto b : compatible) box += b;
  box += std::string(32, '\0');  // start of the next box
  return box;
}

class WorkersImageSniffFiles : public ::testing::Test {
 protected:
  static void SetUpTestSuite() { testing::ensure_engine(); }
};

TEST_F(WorkersImageSniffFiles, EachFormatLibvipsWrites) {
  const auto img = gradient(64, 48);
  EXPECT_EQ(sniff_str(encode(img, ".jpg")), Format::jpeg);
  EXPECT_EQ(sniff_str(encode(img, ".png")), Format::png);
  EXPECT_EQ(sniff_str(encode(img, ".webp")), Format::webp);
  EXPECT_EQ(sniff_str(encode(img, ".webp", vips::VImage::option()->set("lossless", true))), Format::webp);
  EXPECT_EQ(sniff_str(encode(img, ".gif")), Format::gif);
  EXPECT_EQ(sniff_str(encode(img, ".avif", vips::VImage::option()->set("compression", VIPS_FOREIGN_HEIF_COMPRESSION_AV1))),
            Format::avif);
  const std::string heic = testing::heic_bytes_or_empty(img);
  if (heic.empty()) GTEST_SKIP() << "libheif here has no HEVC encoder";
  EXPECT_EQ(sniff_str(heic), Format::heic);
}

TEST(WorkersImageSniff, Gif87a) { EXPECT_EQ(sniff_str("GIF87a\x10\x00\x10\x00"), Format::gif); }

TEST(WorkersImageSniff, HeifBrands) {
  EXPECT_EQ(sniff_str(ftyp("avif", {"mif1", "miaf"})), Format::avif);
  EXPECT_EQ(sniff_str(ftyp("avis", {"msf1"})), Format::avif);
  EXPECT_EQ(sniff_str(ftyp("mif1", {"mif1", "avif"})), Format::avif);  // major generic, compatible decides
  EXPECT_EQ(sniff_str(ftyp("heic", {"mif1", "heic"})), Format::heic);
  EXPECT_EQ(sniff_str(ftyp("heix", {})), Format::heic);
  EXPECT_EQ(sniff_str(ftyp("mif1", {"heic"})), Format::heic);
  EXPECT_EQ(sniff_str(ftyp("msf1", {"hevc"})), Format::heic);
  EXPECT_EQ(sniff_str(ftyp("mif1", {})), Format::heic);
  EXPECT_EQ(sniff_str(ftyp("isom", {"isom", "mp41"})), std::nullopt);  // an MP4 video
  EXPECT_EQ(sniff_str(ftyp("qt  ", {})), std::nullopt);
  EXPECT_EQ(sniff_str(ftyp("jp2 ", {"jp2 "})), std::nullopt);
  // Brands past the box's own size belong to another box.
  std::string tricky = ftyp("isom", {"mp41"});
  tricky.replace(20, 4, "avif");
  EXPECT_EQ(sniff_str(tricky), std::nullopt);
}

TEST(WorkersImageSniff, RefusesEverythingElse) {
  EXPECT_EQ(sniff_str(R"(<?xml version="1.0"?><svg xmlns="http://www.w3.org/2000/svg"/>)"), std::nullopt);
  EXPECT_EQ(sniff_str("<svg xmlns=\"http://www.w3.org/2000/svg\" width=\"10\" height=\"10\"></svg>"), std::nullopt);
  EXPECT_EQ(sniff_str("%PDF-1.7\n%\xE2\xE3\xCF\xD3\n1 0 obj"), std::nullopt);
  EXPECT_EQ(sniff_str("<!DOCTYPE html><html><body>hi</body></html>"), std::nullopt);
  EXPECT_EQ(sniff_str(std::string("8BPS\x00\x01\x00\x00\x00\x00\x00\x00", 12) + std::string(32, '\0')), std::nullopt);
  EXPECT_EQ(sniff_str(std::string("II*\x00\x08\x00\x00\x00", 8) + std::string(32, '\0')), std::nullopt);  // TIFF
  EXPECT_EQ(sniff_str(std::string("MM\x00*", 4) + std::string(32, '\0')), std::nullopt);
  EXPECT_EQ(sniff_str("BM6\x0c\x00\x00\x00\x00\x00\x00\x36\x00\x00\x00"), std::nullopt);  // BMP
  EXPECT_EQ(sniff_str("just some text, more than thirty-two bytes of it"), std::nullopt);
  EXPECT_EQ(sniff_str("RIFF\x10\x00\x00\x00WAVEfmt "), std::nullopt);  // RIFF, but audio
  EXPECT_EQ(sniff_str(""), std::nullopt);
  EXPECT_EQ(sniff_str("\xFF\xD8"), std::nullopt);  // too short to be a JPEG
  EXPECT_EQ(sniff_str("GIF8"), std::nullopt);
  EXPECT_EQ(sniff_str("\x89PNG"), std::nullopt);
  EXPECT_EQ(sniff_str("RIFF\x10\x00\x00\x00WEB"), std::nullopt);
}

}  // namespace
}  // namespace imgpipe::workers::image
