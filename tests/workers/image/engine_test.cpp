#include "workers/image/engine.h"

#include <gtest/gtest.h>

#include <cstdio>
#include <cstdlib>
#include <jpeglib.h>

#include <array>
#include <cstring>

#include "schemas/errors.h"
#include "workers/image/gif_rewrite.h"
#include "test_images.h"

namespace imgpipe::workers::image {
namespace {

using schemas::Error;
using schemas::ErrorCode;
using testing::decode;
using testing::encode;
using testing::gradient;
using testing::pages_of;
using vips::VImage;

std::optional<Format> sniff_str(const std::string& s) {
  return sniff(std::span(reinterpret_cast<const uint8_t*>(s.data()), s.size()));
}

template <class F>
ErrorCode error_of(F&& f) {
  try {
    f();
  } catch (const Error& e) {
    // Public messages never carry a libvips message or a path.
    EXPECT_EQ(std::string(e.what()).find("/"), std::string::npos) << e.what();
    EXPECT_EQ(std::string(e.what()).find("vips"), std::string::npos) << e.what();
    return e.id();
  }
  ADD_FAILURE() << "no schemas::Error thrown";
  return ErrorCode::bad_request;
}

bool contains(const std::string& haystack, std::string_view needle) {
  return haystack.find(needle) != std::string::npos;
}

class WorkersImageEngine : public ::testing::Test {
 protected:
  static void SetUpTestSuite() { testing::ensure_engine(); }
  void TearDown() override { release_thread(); }
  testing::TempDir dir;
};

// --- probe -------------------------------------------------------------

TEST_F(WorkersImageEngine, ProbesEachAcceptedFormat) {
  const auto img = gradient(120, 80);
  struct {
    const char* name;
    std::string bytes;
    Format format;
  } cases[] = {
      {"a.jpg", encode(img, ".jpg"), Format::jpeg},
      {"a.png", encode(img, ".png"), Format::png},
      {"a.webp", encode(img, ".webp"), Format::webp},
      {"a.gif", encode(img, ".gif"), Format::gif},
      {"a.avif", encode(img, ".avif"), Format::avif},
  };
  for (const auto& c : cases) {
    const auto r = probe_file(dir.write(c.name, c.bytes));
    EXPECT_EQ(r.format, c.format) << c.name;
    EXPECT_EQ(r.stored, (Dimensions{120, 80})) << c.name;
    EXPECT_EQ(r.displayed, (Dimensions{120, 80})) << c.name;
    EXPECT_EQ(r.pages, 1) << c.name;
    EXPECT_EQ(r.orientation, 1) << c.name;
  }
}

TEST_F(WorkersImageEngine, ProbesHeic) {
  const std::string heic = testing::heic_bytes_or_empty(gradient(120, 80));
  if (heic.empty()) GTEST_SKIP() << "libheif here has no HEVC encoder";
  const auto r = probe_file(dir.write("a.heic", heic));
  EXPECT_EQ(r.format, Format::heic);
  EXPECT_EQ(r.stored, (Dimensions{120, 80}));
}

TEST_F(WorkersImageEngine, FormatComesFromBytesNotName) {
  const auto r = probe_file(dir.write("photo.jpg", encode(gradient(30, 20), ".png")));
  EXPECT_EQ(r.format, Format::png);
}

TEST_F(WorkersImageEngine, ProbeCountsAnimationFrames) {
  const auto gif = probe_file(dir.write("anim.gif", encode(testing::animation(50, 40, 3), ".gif")));
  EXPECT_EQ(gif.format, Format::gif);
  EXPECT_EQ(gif.stored, (Dimensions{50, 40}));
  EXPECT_EQ(gif.pages, 3);
  const auto webp = probe_file(dir.write("anim.webp", encode(testing::animation(50, 40, 4), ".webp")));
  EXPECT_EQ(webp.format, Format::webp);
  EXPECT_EQ(webp.stored, (Dimensions{50, 40}));
  EXPECT_EQ(webp.pages, 4);
}

TEST_F(WorkersImageEngine, ExifOrientationSixSwapsDisplayedDimensions) {
  VImage img = gradient(40, 30).copy();
  img.set("orientation", 6);
  const auto path = dir.write("rotated.jpg", encode(img, ".jpg"));
  const auto r = probe_file(path);
  EXPECT_EQ(r.orientation, 6);
  EXPECT_EQ(r.stored, (Dimensions{40, 30}));
  EXPECT_EQ(r.displayed, (Dimensions{30, 40}));

  const auto n = normalise_file(path, r);
  EXPECT_EQ(n.size, (Dimensions{30, 40}));
  const VImage out = decode(n.bytes);
  EXPECT_EQ(out.width(), 30);
  EXPECT_EQ(out.height(), 40);
  EXPECT_TRUE(out.get_typeof("orientation") == 0 || out.get_int("orientation") == 1);
}

TEST_F(WorkersImageEngine, PixelLimitFromTheHeader) {
  // 144 Mpx > the default 100 Mpx; a 1-bit black PNG keeps the file small.
  const auto big = VImage::black(12000, 12000);
  const auto path = dir.write("huge.png", encode(big, ".png", VImage::option()->set("compression", 9)->set("bitdepth", 1)));
  try {
    probe_file(path);
    FAIL() << "no error";
  } catch (const Error& e) {
    EXPECT_EQ(e.id(), ErrorCode::image_too_large);
    EXPECT_TRUE(contains(e.what(), "100000000")) << e.what();  // the message states the limit
  }
}

TEST_F(WorkersImageEngine, FrameLimit) {
  const int frames = engine_config().max_pages + 1;
  const auto path = dir.write("long.gif", encode(testing::animation(4, 4, frames), ".gif"));
  try {
    probe_file(path);
    FAIL() << "no error";
  } catch (const Error& e) {
    EXPECT_EQ(e.id(), ErrorCode::image_too_large);
    EXPECT_TRUE(contains(e.what(), std::to_string(engine_config().max_pages))) << e.what();
  }
}

// A progressive JPEG whose scan script refines every coefficient of every
// component one bit at a time: 2 080 scans, valid, and a few KB. Refused
// by the header check, before anything decodes it.
std::string jpeg_with_scans_for_every_bit() {
  jpeg_compress_struct c{};
  jpeg_error_mgr err{};
  c.err = jpeg_std_error(&err);
  jpeg_create_compress(&c);
  unsigned char* out = nullptr;
  unsigned long size = 0;
  jpeg_mem_dest(&c, &out, &size);
  c.image_width = 16;
  c.image_height = 16;
  c.input_components = 3;
  c.in_color_space = JCS_RGB;
  jpeg_set_defaults(&c);
  std::vector<jpeg_scan_info> scans;
  scans.push_back({3, {0, 1, 2, 0}, 0, 0, 0, 0});  // every DC coefficient at once
  for (int comp = 0; comp < 3; ++comp)
    for (int k = 1; k < 64; ++k) {
      scans.push_back({1, {comp, 0, 0, 0}, k, k, 0, 10});  // 10: libjpeg's largest point transform for 8 bits
      for (int bit = 10; bit > 0; --bit) scans.push_back({1, {comp, 0, 0, 0}, k, k, bit, bit - 1});
    }
  c.scan_info = scans.data();
  c.num_scans = static_cast<int>(scans.size());
  jpeg_start_compress(&c, TRUE);
  std::vector<unsigned char> row(16 * 3, 128);
  while (c.next_scanline < c.image_height) {
    JSAMPROW r = row.data();
    jpeg_write_scanlines(&c, &r, 1);
  }
  jpeg_finish_compress(&c);
  std::string bytes(reinterpret_cast<const char*>(out), size);
  jpeg_destroy_compress(&c);
  std::free(out);
  return bytes;
}

TEST_F(WorkersImageEngine, AJpegWithThousandsOfScansIsRefused) {
  const std::string bomb = jpeg_with_scans_for_every_bit();
  ASSERT_TRUE(decode(bomb).width() == 16) << "the fixture is a valid JPEG";
  const auto path = dir.write("scans.jpg", bomb);
  try {
    probe_file(path);
    FAIL() << "no error";
  } catch (const Error& e) {
    EXPECT_EQ(e.id(), ErrorCode::image_too_large);
    EXPECT_TRUE(contains(e.what(), "1000")) << e.what();
  }
  // An ordinary progressive JPEG (libvips' scan script: about ten) passes.
  const auto ok = dir.write("progressive.jpg", encode(gradient(64, 48), ".jpg", VImage::option()->set("interlace", true)));
  EXPECT_NO_THROW(probe_file(ok));
}

TEST_F(WorkersImageEngine, UnsupportedAndCorruptFiles) {
  EXPECT_EQ(error_of([&] { probe_file(dir.write("a.svg", "<svg xmlns=\"http://www.w3.org/2000/svg\"/>")); }),
            ErrorCode::unsupported_format);
  EXPECT_EQ(error_of([&] { probe_file(dir.write("a.pdf", "%PDF-1.4\n%...")); }), ErrorCode::unsupported_format);
  EXPECT_EQ(error_of([&] { probe_file(dir.write("empty.jpg", "")); }), ErrorCode::unsupported_format);
  // The right magic, then garbage: the header cannot be parsed.
  EXPECT_EQ(error_of([&] { probe_file(dir.write("bad.png", std::string("\x89PNG\r\n\x1A\n", 8) + std::string(200, 'x'))); }),
            ErrorCode::invalid_image);
  EXPECT_EQ(error_of([&] { probe_file(dir.write("bad.jpg", std::string("\xFF\xD8\xFF\xE0", 4) + std::string(200, 'x'))); }),
            ErrorCode::invalid_image);
  EXPECT_EQ(error_of([&] { probe_file(dir.write("bad.gif", "GIF89a" + std::string(3, '\0'))); }),
            ErrorCode::invalid_image);
}

TEST_F(WorkersImageEngine, LoadersOutsideTheAllowListAreBlocked) {
  const std::string tiff = encode(gradient(16, 16), ".tif");  // savers stay available
  EXPECT_THROW(VImage::new_from_buffer(tiff.data(), tiff.size(), ""), vips::VError);
  vips_error_clear();
  const std::string svg = R"(<svg xmlns="http://www.w3.org/2000/svg" width="8" height="8"/>)";
  EXPECT_THROW(VImage::new_from_buffer(svg.data(), svg.size(), ""), vips::VError);
  vips_error_clear();
  const std::string png = encode(gradient(16, 16), ".png");
  EXPECT_NO_THROW(VImage::new_from_buffer(png.data(), png.size(), ""));
}

// --- normalise ---------------------------------------------------------

TEST_F(WorkersImageEngine, TruncatedFilesAreInvalid) {
  for (const char* suffix : {".jpg", ".png"}) {
    // Noise: the pixel data is most of the file, so half of it is cut.
    const VImage noise = VImage::gaussnoise(300, 300, VImage::option()->set("mean", 128.0)->set("sigma", 60.0))
                             .cast(VIPS_FORMAT_UCHAR);
    const std::string full = encode(noise.bandjoin(noise).bandjoin(noise), suffix);
    const std::string cut = full.substr(0, full.size() / 2);
    const auto path = dir.write(std::string("cut") + suffix, cut);
    const ProbeResult probe = probe_file(path);  // the header is intact
    EXPECT_EQ(error_of([&] { normalise_file(path, probe); }), ErrorCode::invalid_image) << suffix;
  }
}

TEST_F(WorkersImageEngine, NormaliseStripsPrivateMetadataButKeepsIcc) {
  VImage img = gradient(64, 48).icc_transform("srgb", VImage::option()->set("input_profile", "srgb")).copy();
  ASSERT_NE(img.get_typeof("icc-profile-data"), 0u);
  img.set("exif-ifd0-Make", "SecretCam");
  img.set("exif-ifd3-GPSLatitude", "51/1 30/1 1234/100");
  img.set("exif-ifd3-GPSLatitudeRef", "N");
  const std::string xmp = R"(<x:xmpmeta xmlns:x="adobe:ns:meta/"><exif:GPSLatitude>51,30.2N</exif:GPSLatitude></x:xmpmeta>)";
  vips_image_set_blob_copy(img.get_image(), "xmp-data", xmp.data(), xmp.size());
  const std::string source = encode(img, ".jpg");

  // The fixture really carries what we want removed.
  ASSERT_TRUE(contains(source, "SecretCam"));
  ASSERT_TRUE(contains(source, "GPSLatitude"));
  const VImage src = decode(source);
  ASSERT_NE(src.get_typeof("exif-ifd3-GPSLatitude"), 0u);
  ASSERT_NE(src.get_typeof("xmp-data"), 0u);

  const auto path = dir.write("private.jpg", source);
  const auto n = normalise_file(path, probe_file(path));
  EXPECT_EQ(n.format, Format::jpeg);
  EXPECT_FALSE(contains(n.bytes, "SecretCam"));
  EXPECT_FALSE(contains(n.bytes, "GPS"));
  EXPECT_FALSE(contains(n.bytes, "Exif"));
  const VImage out = decode(n.bytes);
  EXPECT_EQ(out.get_typeof("exif-data"), 0u);
  EXPECT_EQ(out.get_typeof("xmp-data"), 0u);
  EXPECT_EQ(out.get_typeof("iptc-data"), 0u);
  ASSERT_NE(out.get_typeof("icc-profile-data"), 0u);

  size_t in_len = 0, out_len = 0;
  const void* in_icc = src.get_blob("icc-profile-data", &in_len);
  const void* out_icc = out.get_blob("icc-profile-data", &out_len);
  ASSERT_EQ(in_len, out_len);
  EXPECT_EQ(std::memcmp(in_icc, out_icc, in_len), 0);
}

// An upright JPEG is not decoded and encoded again: its pixels come back
// exactly (a second generation of JPEG loss would not), grey ones too, and
// 4:2:0 stays 4:2:0. A CMYK one still goes through the full decode.
TEST_F(WorkersImageEngine, NormaliseKeepsAnUprightJpegsPixelsExactly) {
  const VImage noise = VImage::gaussnoise(301, 203, VImage::option()->set("mean", 128.0)->set("sigma", 40.0))
                           .cast(VIPS_FORMAT_UCHAR);
  const VImage colour = gradient(301, 203).add(noise).cast(VIPS_FORMAT_UCHAR);
  struct Case {
    const char* name;
    std::string bytes;
  };
  const std::vector<Case> cases = {
      {"q75.jpg", encode(colour, ".jpg", VImage::option()->set("Q", 75))},
      {"q98-444.jpg", encode(colour, ".jpg", VImage::option()->set("Q", 98)->set("subsample_mode", VIPS_FOREIGN_SUBSAMPLE_OFF))},
      {"progressive.jpg", encode(colour, ".jpg", VImage::option()->set("interlace", true))},
      {"grey.jpg", encode(noise, ".jpg", VImage::option()->set("Q", 60))},
  };
  for (const auto& c : cases) {
    const auto path = dir.write(c.name, c.bytes);
    const auto n = normalise_file(path, probe_file(path));
    const VImage before = decode(c.bytes), after = decode(n.bytes);
    ASSERT_EQ(after.bands(), before.bands()) << c.name;
    EXPECT_EQ((after - before).abs().max(), 0.0) << c.name << ": pixels changed";
    EXPECT_EQ(n.size, (Dimensions{301, 203})) << c.name;
    if (before.get_typeof("jpeg-chroma-subsample") != 0) {
      EXPECT_STREQ(after.get_string("jpeg-chroma-subsample"), before.get_string("jpeg-chroma-subsample")) << c.name;
    }
  }

  const auto cmyk_path = dir.write("cmyk.jpg", encode(colour.icc_transform("cmyk", VImage::option()->set("input_profile", "srgb")), ".jpg"));
  const auto probe = probe_file(cmyk_path);
  const auto n = normalise_file(cmyk_path, probe);
  EXPECT_EQ(n.size, probe.stored);
  EXPECT_EQ(decode(n.bytes).width(), 301);
}

// Stray bytes between two markers: libjpeg warns, libvips (fail_on=error)
// decodes it anyway, and so must normalise, the rewrite or not.
TEST_F(WorkersImageEngine, AJpegLibjpegOnlyWarnsAboutIsAccepted) {
  std::string bytes = encode(gradient(64, 48), ".jpg");
  const auto sof = bytes.find("\xFF\xC0");
  ASSERT_NE(sof, std::string::npos);
  bytes.insert(sof, std::string("\x00\x01", 2));
  const auto path = dir.write("stray.jpg", bytes);
  const auto n = normalise_file(path, probe_file(path));
  EXPECT_EQ(n.size, (Dimensions{64, 48}));
  EXPECT_EQ(decode(n.bytes).width(), 64);
}

TEST_F(WorkersImageEngine, NormaliseWebpStripsExifKeepsIcc) {
  VImage img = gradient(64, 48).icc_transform("srgb", VImage::option()->set("input_profile", "srgb")).copy();
  img.set("exif-ifd0-Make", "SecretCam");
  const auto path = dir.write("private.webp", encode(img, ".webp"));
  const auto n = normalise_file(path, probe_file(path));
  EXPECT_FALSE(contains(n.bytes, "SecretCam"));
  EXPECT_FALSE(contains(n.bytes, "EXIF"));
  const VImage out = decode(n.bytes);
  EXPECT_EQ(out.get_typeof("exif-data"), 0u);
  EXPECT_NE(out.get_typeof("icc-profile-data"), 0u);
}

TEST_F(WorkersImageEngine, NormaliseIsDeterministicForEveryFormat) {
  const auto img = gradient(96, 64);
  std::vector<std::pair<std::string, std::string>> files = {
      {"d.jpg", encode(img, ".jpg")},
      {"d.png", encode(img, ".png")},
      {"d.webp", encode(img, ".webp")},
      {"dl.webp", encode(img, ".webp", VImage::option()->set("lossless", true))},
      {"d.gif", encode(testing::animation(48, 32, 3), ".gif")},
      {"da.webp", encode(testing::animation(48, 32, 3), ".webp")},
      {"d.avif", encode(img, ".avif")},
  };
  const std::string heic = testing::heic_bytes_or_empty(img);
  if (!heic.empty()) files.emplace_back("d.heic", heic);
  for (const auto& [name, bytes] : files) {
    const auto path = dir.write(name, bytes);
    const auto probe = probe_file(path);
    const auto a = normalise_file(path, probe);
    const auto b = normalise_file(path, probe);
    EXPECT_EQ(a.format, probe.format) << name;
    EXPECT_EQ(sniff_str(a.bytes), probe.format) << name;
    EXPECT_EQ(a.bytes, b.bytes) << name;
    EXPECT_EQ(a.size, probe.stored) << name;
    EXPECT_EQ(a.pages, probe.pages) << name;
  }
}

TEST_F(WorkersImageEngine, NormaliseKeepsAllAnimationFrames) {
  for (const char* suffix : {".gif", ".webp"}) {
    const auto path = dir.write(std::string("anim") + suffix, encode(testing::animation(60, 40, 5), suffix));
    const auto n = normalise_file(path, probe_file(path));
    EXPECT_EQ(n.pages, 5) << suffix;
    const VImage out = decode(n.bytes, true);
    EXPECT_EQ(pages_of(out), 5) << suffix;
    EXPECT_EQ(out.width(), 60) << suffix;
    EXPECT_EQ(vips_image_get_page_height(out.get_image()), 40) << suffix;
  }
}

// Where a GIF's first block after the screen (and its global colour table) starts.
size_t after_gif_screen(const std::string& gif) {
  const auto flags = static_cast<uint8_t>(gif.at(10));
  return 13 + ((flags & 0x80) != 0 ? 3 * (size_t{2} << (flags & 7)) : 0);
}

// A GIF's original is giflib's rewrite of its palette indices, not a second
// quantisation: every frame's pixels, the delays and the loop count come back
// exactly, interlaced or not, while comments, XMP and bytes after the
// trailer are gone.
TEST_F(WorkersImageEngine, NormaliseRewritesAGifKeepingEveryFrameExactly) {
  const VImage noise = VImage::gaussnoise(90, 60 * 4, VImage::option()->set("mean", 128.0)->set("sigma", 60.0));
  VImage strip = (gradient(90, 60 * 4) + noise).cast(VIPS_FORMAT_UCHAR).copy();
  strip.set("page-height", 60);
  strip.set("delay", std::vector<int>{70, 20, 500, 40});
  strip.set("loop", 3);
  for (const bool interlace : {false, true}) {
    std::string bytes = encode(strip, ".gif", VImage::option()->set("interlace", interlace));
    // A comment and an XMP block before the first frame, a payload after the trailer.
    const std::string comment("\x21\xFE\x0Esecret comment\x00", 18);
    const std::string xmp("\x21\xFF\x0BXMP DataXMP\x09<x:secret\x00", 25);
    bytes.insert(after_gif_screen(bytes), comment + xmp);
    bytes += "<script>alert(1)</script>";
    const VImage before = decode(bytes, true);
    ASSERT_EQ(pages_of(before), 4);

    const auto path = dir.write(interlace ? "interlaced.gif" : "plain.gif", bytes);
    const auto n = normalise_file(path, probe_file(path));
    EXPECT_EQ(n.format, Format::gif);
    EXPECT_EQ(n.size, (Dimensions{90, 60}));
    EXPECT_EQ(n.pages, 4);
    EXPECT_FALSE(contains(n.bytes, "secret")) << interlace;
    EXPECT_FALSE(contains(n.bytes, "XMP")) << interlace;
    EXPECT_FALSE(contains(n.bytes, "script")) << interlace;
    EXPECT_EQ(n.bytes.back(), '\x3B') << "the trailer ends it";

    const VImage after = decode(n.bytes, true);
    ASSERT_EQ(pages_of(after), 4);
    ASSERT_EQ(after.bands(), before.bands());
    EXPECT_EQ((after - before).abs().max(), 0.0) << interlace << ": pixels changed";
    EXPECT_EQ(after.get_array_int("delay"), (std::vector<int>{70, 20, 500, 40}));
    EXPECT_EQ(after.get_int("loop"), 3);
  }
}

// Two 2x1 frames: the first with its own colour table (red, green), the
// second drawn from the global one (black, white). Written by hand: cgif
// never mixes them, and giflib's encoder once leaked the first table here
// (a fuzzing find; the sanitizer build sees a leak).
TEST_F(WorkersImageEngine, AGifMixingLocalAndGlobalColourTablesKeepsBoth) {
  const std::string lzw_0_1("\x02\x02\x44\x0A\x00", 5);  // pixels 0, 1; min code size 2
  const std::string control("\x21\xF9\x04\x00\x0A\x00\x00\x00", 8);
  const std::string bytes = std::string("GIF89a\x02\x00\x01\x00\x80\x00\x00", 13) +
                            std::string("\x00\x00\x00\xFF\xFF\xFF", 6) +
                            std::string("\x21\xFF\x0BNETSCAPE2.0\x03\x01\x00\x00\x00", 19) +
                            control + std::string("\x2C\x00\x00\x00\x00\x02\x00\x01\x00\x80", 10) +
                            std::string("\xFF\x00\x00\x00\xFF\x00", 6) + lzw_0_1 +
                            control + std::string("\x2C\x00\x00\x00\x00\x02\x00\x01\x00\x00", 10) + lzw_0_1 + "\x3B";
  const VImage before = decode(bytes, true);
  ASSERT_EQ(pages_of(before), 2);
  EXPECT_EQ(before.getpoint(0, 0), (std::vector<double>{255, 0, 0}));
  EXPECT_EQ(before.getpoint(1, 1), (std::vector<double>{255, 255, 255}));
  const auto rewritten = detail::rewrite_gif(bytes, 2);
  ASSERT_TRUE(rewritten.has_value());
  const auto path = dir.write("mixed.gif", bytes);
  const auto n = normalise_file(path, probe_file(path));
  EXPECT_EQ(n.bytes, rewritten->bytes);
  const VImage after = decode(n.bytes, true);
  EXPECT_EQ((after - before).abs().max(), 0.0);
}

// The rewrite takes only what it can keep whole; anything else goes the full
// way, where libvips decides.
TEST_F(WorkersImageEngine, TheGifRewriteTakesOnlyWhatItCanKeepWhole) {
  const std::string bytes = encode(testing::animation(40, 30, 2), ".gif");
  ASSERT_TRUE(detail::rewrite_gif(bytes, 2).has_value());
  EXPECT_FALSE(detail::rewrite_gif(bytes, 1).has_value()) << "more frames than the probe counted";
  EXPECT_FALSE(detail::rewrite_gif(bytes.substr(0, bytes.size() / 2), 2).has_value()) << "truncated";
  EXPECT_FALSE(detail::rewrite_gif("GIF89a", 2).has_value());
  std::string short_screen = bytes;
  ASSERT_EQ(static_cast<uint8_t>(short_screen[8]), 30);
  short_screen[8] = 29;  // the screen a row shorter than the frames
  EXPECT_FALSE(detail::rewrite_gif(short_screen, 2).has_value());
  const auto path = dir.write("short-screen.gif", short_screen);
  const auto probe = probe_file(path);
  const auto n = normalise_file(path, probe);
  EXPECT_EQ(n.size, probe.stored);
  EXPECT_EQ(pages_of(decode(n.bytes, true)), 2);
}

TEST_F(WorkersImageEngine, LosslessWebpStaysLossless) {
  const auto path = dir.write("ll.webp", encode(gradient(64, 48), ".webp", VImage::option()->set("lossless", true)));
  const auto n = normalise_file(path, probe_file(path));
  EXPECT_TRUE(contains(n.bytes, "VP8L"));
}

// --- variants ----------------------------------------------------------

std::filesystem::path normalised(testing::TempDir& dir, const std::string& name, const std::string& bytes) {
  const auto path = dir.write("src_" + name, bytes);
  const auto n = normalise_file(path, probe_file(path));
  return dir.write(name, n.bytes);
}

TEST_F(WorkersImageEngine, RenderVariantsHaveExactDimensionsAndFormats) {
  const Dimensions source{1501, 2001};  // odd sizes, portrait
  const auto path = normalised(dir, "n.jpg", encode(gradient(source.width, source.height), ".jpg"));
  const std::vector<VariantRequest> requests = {
      {320, Format::jpeg}, {320, Format::webp}, {640, Format::png},     {1080, Format::jpeg},
      {1080, Format::webp}, {640, Format::avif}, {std::nullopt, Format::webp}, {320, Format::gif},
  };
  const auto out = render_variants(path, Format::jpeg, requests);
  ASSERT_EQ(out.size(), requests.size());
  for (size_t i = 0; i < requests.size(); ++i) {
    const Dimensions expected =
        requests[i].short_edge ? variant_dimensions(source, *requests[i].short_edge) : source;
    EXPECT_EQ(out[i].format, requests[i].format) << i;
    EXPECT_EQ(sniff_str(out[i].bytes), requests[i].format) << i;
    EXPECT_EQ(out[i].size, expected) << i;
    const VImage decoded = decode(out[i].bytes);
    EXPECT_EQ(decoded.width(), expected.width) << i;
    EXPECT_EQ(decoded.height(), expected.height) << i;
    EXPECT_EQ(decoded.get_typeof("exif-data"), 0u) << i;
  }
}

TEST_F(WorkersImageEngine, RenderVariantsMatchRoundingEdgeCases) {
  // Sizes where thumbnail's own rounding can land a pixel off.
  for (const Dimensions source : {Dimensions{1003, 1000}, Dimensions{641, 1001}, Dimensions{2999, 1081}}) {
    const auto path = normalised(dir, "r.png", encode(gradient(source.width, source.height), ".png"));
    const auto out = render_variants(path, Format::png, {{320, Format::png}, {640, Format::png}, {1080, Format::png}});
    for (size_t i = 0; i < out.size(); ++i) {
      const Dimensions expected = variant_dimensions(source, std::array{320, 640, 1080}[i]);
      const VImage decoded = decode(out[i].bytes);
      EXPECT_EQ((Dimensions{decoded.width(), decoded.height()}), expected)
          << source.width << "x" << source.height << " #" << i;
    }
  }
}

TEST_F(WorkersImageEngine, NeverUpscales) {
  const auto path = normalised(dir, "small.png", encode(gradient(200, 100), ".png"));
  const auto out = render_variant(path, Format::png, {1080, Format::webp});
  EXPECT_EQ(out.size, (Dimensions{200, 100}));
  const VImage decoded = decode(out.bytes);
  EXPECT_EQ(decoded.width(), 200);
  EXPECT_EQ(decoded.height(), 100);
}

TEST_F(WorkersImageEngine, TransparentPngToJpegIsFlattened) {
  const auto path = normalised(dir, "alpha.png", encode(gradient(800, 600, 4), ".png"));
  const auto out = render_variant(path, Format::png, {320, Format::jpeg});
  const VImage decoded = decode(out.bytes);
  EXPECT_EQ(decoded.bands(), 3);
  EXPECT_EQ((Dimensions{decoded.width(), decoded.height()}), (Dimensions{426, 320}));
  // Fully transparent left edge becomes white, not black.
  EXPECT_GT(decoded.extract_area(0, 0, 2, 320).avg(), 200.0);
}

TEST_F(WorkersImageEngine, AnimatedGifKeepsFramesInGifAndWebpVariants) {
  const auto path = normalised(dir, "anim.gif", encode(testing::animation(800, 600, 3), ".gif"));
  const auto out = render_variants(path, Format::gif,
                                   {{320, Format::gif}, {320, Format::webp}, {320, Format::jpeg}, {640, Format::gif}});
  ASSERT_EQ(out.size(), 4u);
  for (size_t i : {size_t{0}, size_t{1}}) {
    EXPECT_EQ(out[i].pages, 3) << i;
    const VImage decoded = decode(out[i].bytes, true);
    EXPECT_EQ(pages_of(decoded), 3) << i;
    EXPECT_EQ(decoded.width(), 426) << i;
    EXPECT_EQ(vips_image_get_page_height(decoded.get_image()), 320) << i;
  }
  EXPECT_EQ(out[2].pages, 1);
  const VImage still = decode(out[2].bytes);
  EXPECT_EQ((Dimensions{still.width(), still.height()}), (Dimensions{426, 320}));
  const VImage m = decode(out[3].bytes, true);
  EXPECT_EQ(pages_of(m), 3);
  EXPECT_EQ(m.width(), 800);  // 600 <= 640: not upscaled
}

// ?size=social: whatever the source, a card of exactly 1200x630 with the
// picture contained and centred, white around it.
TEST_F(WorkersImageEngine, ASocialCardIsExactlyTheCardWithThePictureCentredOnWhite) {
  struct Case {
    const char* name;
    VImage image;
    Format source;
    Dimensions picture;  // where the picture is on the card
  };
  const std::vector<Case> cases{
      {"wide.png", gradient(2400, 900), Format::png, {1200, 450}},   // the width binds
      {"tall.png", gradient(900, 2400), Format::png, {236, 630}},    // the height binds: 236.25
      {"small.png", gradient(300, 200), Format::png, {300, 200}},    // never upscaled
      {"alpha.png", gradient(800, 600, 4), Format::png, {800, 600}},  // transparent: flattened on white
      {"anim.gif", testing::animation(800, 600, 3), Format::gif, {800, 600}},  // first frame only
  };
  for (const auto& c : cases) {
    const auto path = normalised(dir, c.name, encode(c.image, c.source == Format::gif ? ".gif" : ".png"));
    for (Format f : {Format::png, Format::jpeg, Format::webp}) {
      const auto out = render_variant(path, c.source, *variant_request(kSocialSize, f));
      EXPECT_EQ(sniff_str(out.bytes), f) << c.name;
      EXPECT_EQ(out.pages, 1) << c.name;
      const VImage card = decode(out.bytes);
      ASSERT_EQ((Dimensions{card.width(), card.height()}), kSocialCard.box) << c.name;
      EXPECT_EQ(card.bands(), 3) << c.name;
      // The padding is white: exactly in PNG; in JPEG and WebP away from the
      // blocks that also hold the picture's edge.
      const int margin = f == Format::png ? 0 : 16, white = f == Format::png ? 255 : 246;
      const int left = (1200 - c.picture.width) / 2 - margin, top = (630 - c.picture.height) / 2 - margin;
      if (left > 0) {
        EXPECT_GE(card.extract_area(0, 0, left, 630).min(), white) << c.name;
      }
      if (top > 0) {
        EXPECT_GE(card.extract_area(0, 0, 1200, top).min(), white) << c.name;
      }
      // The picture's centre is the source's centre, not padding.
      const VImage middle = card.extract_area(600 - 4, 315 - 4, 8, 8);
      EXPECT_LT(middle.avg(), 200.0) << c.name;
    }
  }
}

// w/h/fit: the output is the geometry's canvas; cut and padded pictures keep
// their centre; an animation stays animated in GIF; cover enlarges.
TEST_F(WorkersImageEngine, AFitIsItsCanvasCutOrPaddedAroundTheCentre) {
  const auto path = normalised(dir, "fit.png", encode(gradient(1600, 900), ".png"));
  const auto whole = decode(render_variant(path, Format::png, {std::nullopt, Format::png}).bytes);
  struct Case {
    Fit fit;
    Dimensions canvas;
  };
  for (const Case& c : {Case{{{400, 0}, FitMode::scale_down}, {400, 225}}, Case{{{300, 300}, FitMode::crop}, {300, 300}},
                        Case{{{300, 300}, FitMode::pad}, {300, 300}}, Case{{{3200, 3200}, FitMode::cover}, {3200, 3200}}}) {
    SCOPED_TRACE(fit_key(c.fit));
    const auto out = render_variant(path, Format::png, {std::nullopt, Format::png, c.fit});
    const VImage img = decode(out.bytes);
    ASSERT_EQ((Dimensions{img.width(), img.height()}), c.canvas);
    EXPECT_EQ(out.size, c.canvas);
    // The middle of the output is the middle of the image (the gradient's value there).
    const double middle = img.extract_area(img.width() / 2 - 2, img.height() / 2 - 2, 4, 4).avg();
    EXPECT_NEAR(middle, whole.extract_area(800 - 2, 450 - 2, 4, 4).avg(), 3.0);
    if (c.fit.mode == FitMode::pad) {
      EXPECT_EQ(img.extract_area(0, 0, 300, 50).min(), 255.0);  // white above the 300x168 picture
    }
  }
  const auto anim = normalised(dir, "fit.gif", encode(testing::animation(800, 600, 3), ".gif"));
  const auto gif = render_variant(anim, Format::gif, {std::nullopt, Format::gif, Fit{{200, 200}, FitMode::crop}});
  EXPECT_EQ(gif.pages, 3);
  const VImage frames = decode(gif.bytes, true);
  EXPECT_EQ(pages_of(frames), 3);
  EXPECT_EQ(frames.width(), 200);
  EXPECT_EQ(vips_image_get_page_height(frames.get_image()), 200);
  // Enlarged, every frame would pass the pixel limit (7 x 4096 x 4096 > 100 MP): the first frame only.
  const auto many = normalised(dir, "many.gif", encode(testing::animation(64, 64, 7), ".gif"));
  const auto big = render_variant(many, Format::gif, {std::nullopt, Format::webp, Fit{{4096, 4096}, FitMode::cover}});
  EXPECT_EQ(big.pages, 1);
  EXPECT_EQ(big.size, (Dimensions{4096, 4096}));
  const auto fewer = render_variant(many, Format::gif, {std::nullopt, Format::webp, Fit{{256, 256}, FitMode::cover}});
  EXPECT_EQ(fewer.pages, 7);
}

// Colour multipliers, blur and sharpen act as their names say, on the
// picture's colour bands only (alpha kept), and 1/0 values change nothing.
TEST_F(WorkersImageEngine, AdjustmentsActAsNamedAndKeepAlpha) {
  const auto path = normalised(dir, "adjust.png", encode(gradient(600, 400, 4), ".png"));
  auto render = [&](Adjustments a) {
    return decode(render_variant(path, Format::png, {320, Format::png, std::nullopt, a}).bytes);
  };
  const VImage plain = render({});
  const VImage colours = plain.extract_band(0, VImage::option()->set("n", 3));
  auto rgb = [](const VImage& img) { return img.extract_band(0, VImage::option()->set("n", 3)); };
  EXPECT_TRUE(render_variant(path, Format::png, {320, Format::png}).bytes ==
              render_variant(path, Format::png, {320, Format::png, std::nullopt, Adjustments{}}).bytes);

  const VImage dark = render({.brightness = 0});
  EXPECT_EQ(rgb(dark).max(), 0.0);
  EXPECT_EQ(dark.bands(), 4);
  EXPECT_EQ(dark.extract_band(3).avg(), plain.extract_band(3).avg());  // alpha untouched
  EXPECT_GT(rgb(render({.brightness = 1.5})).avg(), colours.avg() + 20);
  const VImage flat = rgb(render({.contrast = 0}));
  EXPECT_EQ(flat.min(), 128.0);
  EXPECT_EQ(flat.max(), 128.0);
  EXPECT_GT(rgb(render({.gamma = 2})).avg(), colours.avg() + 20);
  EXPECT_LT(rgb(render({.gamma = 0.5})).avg(), colours.avg() - 20);
  const VImage grey = rgb(render({.saturation = 0}));
  EXPECT_LE((grey.extract_band(0) - grey.extract_band(1)).abs().max(), 2.0);
  EXPECT_GT((colours.extract_band(0) - colours.extract_band(1)).abs().max(), 100.0);

  // On a pad, the picture is adjusted and the padding stays white.
  const auto opaque = normalised(dir, "opaque.png", encode(gradient(600, 400), ".png"));
  const VImage padded = decode(
      render_variant(opaque, Format::png, {std::nullopt, Format::png, Fit{{600, 600}, FitMode::pad}, {.brightness = 0}})
          .bytes);
  EXPECT_EQ(padded.extract_area(0, 0, 600, 100).min(), 255.0);  // above the 600x400 picture
  EXPECT_EQ(padded.extract_area(0, 100, 600, 400).max(), 0.0);

  // Blur and sharpen on edges: a checkerboard of 8 px squares.
  const VImage checks = (((VImage::xyz(320, 320)[0] / 8).cast(VIPS_FORMAT_INT) +
                          (VImage::xyz(320, 320)[1] / 8).cast(VIPS_FORMAT_INT)) &
                         1) *
                        255;
  const auto board = normalised(dir, "board.png",
                                encode(checks.cast(VIPS_FORMAT_UCHAR).copy(
                                           VImage::option()->set("interpretation", VIPS_INTERPRETATION_B_W)),
                                       ".png"));
  auto board_render = [&](Adjustments a) {
    return decode(render_variant(board, Format::png, {std::nullopt, Format::png, std::nullopt, a}).bytes);
  };
  const double sharp_edges = board_render({}).extract_band(0).deviate();
  EXPECT_LT(board_render({.blur = 8}).extract_band(0).deviate(), sharp_edges / 2);
  EXPECT_LT(board_render({.blur = 250}).extract_band(0).deviate(), sharp_edges / 10);  // the wide path
  const VImage soft = board_render({.blur = 2});
  const auto soft_path = normalised(dir, "soft.png", encode(soft, ".png"));
  const double soft_edges = soft.extract_band(0).deviate();
  EXPECT_GT(decode(render_variant(soft_path, Format::png, {std::nullopt, Format::png, std::nullopt, {.sharp = 5}}).bytes)
                .extract_band(0)
                .deviate(),
            soft_edges);
}

TEST_F(WorkersImageEngine, HeifOriginalKeepsIccButNoSourceExif) {
  VImage img = gradient(64, 48).icc_transform("srgb", VImage::option()->set("input_profile", "srgb")).copy();
  img.set("exif-ifd0-Make", "SecretCam");
  const std::string source = encode(img, ".avif");
  ASSERT_TRUE(contains(source, "SecretCam"));
  const auto path = dir.write("private.avif", source);
  const auto n = normalise_file(path, probe_file(path));
  EXPECT_EQ(n.format, Format::avif);
  EXPECT_FALSE(contains(n.bytes, "SecretCam"));

  // The profile survives byte for byte, into the original and into a JPEG
  // variant (libvips 8.14.1 heifload hands out profile bytes it frees).
  size_t want_len = 0;
  const void* want = img.get_blob("icc-profile-data", &want_len);
  const auto same_profile = [&](const std::string& bytes) {
    const VImage out = decode(bytes);
    if (out.get_typeof("icc-profile-data") == 0) return false;
    size_t len = 0;
    const void* got = out.get_blob("icc-profile-data", &len);
    return len == want_len && std::memcmp(got, want, len) == 0;
  };
  EXPECT_TRUE(same_profile(n.bytes));
  const auto stored = dir.write("n.avif", n.bytes);
  EXPECT_TRUE(same_profile(render_variant(stored, Format::avif, {32, Format::jpeg}).bytes));
}

TEST_F(WorkersImageEngine, HeicVariants) {
  if (testing::heic_bytes_or_empty(gradient(8, 8)).empty()) GTEST_SKIP() << "libheif here has no HEVC encoder";
  VImage img = gradient(900, 700).copy();
  img.set("exif-ifd0-Make", "SecretCam");
  const auto path = normalised(dir, "n.heic", testing::heic_bytes_or_empty(img));
  const auto out = render_variants(path, Format::heic, {{320, Format::heic}, {640, Format::jpeg}});
  ASSERT_EQ(out.size(), 2u);
  EXPECT_EQ(out[0].format, Format::heic);
  EXPECT_EQ(sniff_str(out[0].bytes), Format::heic);
  const VImage s = decode(out[0].bytes);
  EXPECT_EQ((Dimensions{s.width(), s.height()}), (Dimensions{411, 320}));
  EXPECT_EQ(s.get_typeof("exif-data"), 0u);
  EXPECT_FALSE(contains(out[0].bytes, "SecretCam"));
  const VImage m = decode(out[1].bytes);
  EXPECT_EQ((Dimensions{m.width(), m.height()}), (Dimensions{822, 640}));  // 822.86, rounded down
}

TEST_F(WorkersImageEngine, RenderChecksTheStoredFormat) {
  const auto path = normalised(dir, "n.png", encode(gradient(100, 100), ".png"));
  EXPECT_EQ(error_of([&] { render_variant(path, Format::jpeg, {320, Format::jpeg}); }), ErrorCode::internal_error);
}

}  // namespace
}  // namespace imgpipe::workers::image
