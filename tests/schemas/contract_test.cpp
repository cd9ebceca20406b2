// The codecs against the JSON Schema files of schemas/: what the C++ encoders
// write validates (python3-jsonschema, the reference implementation most
// outside producers use), and every schema-valid example decodes.
#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <sstream>

#include <gtest/gtest.h>

#include "schemas/errors.h"
#include "schemas/messages.h"

namespace imgpipe::schemas {
namespace {

namespace fs = std::filesystem;
const fs::path kSource = IMGPIPE_SOURCE_DIR;

std::string slurp(const fs::path& p) {
  std::ifstream in(p);
  std::stringstream s;
  s << in.rdbuf();
  return s.str();
}

int validate(const std::vector<fs::path>& files) {
  std::string cmd = "python3 " + (kSource / "tests/schemas/validate.py").string() + " " + (kSource / "schemas").string();
  for (const auto& f : files) cmd += " '" + f.string() + "'";
  return std::system(cmd.c_str());
}

ImageRecord record() {
  ImageRecord r;
  r.id = "Ab3dE5gH7jK9";
  r.name = "photo \"1\".jpg";
  r.owner = "anon:127.0.0.1";
  r.tags = {"a", "b"};
  r.format = "jpeg";
  r.width = 1200;
  r.height = 800;
  r.filesize = 123456;
  r.blob = std::string(64, 'a');
  r.created_at = 1700000000;
  r.variants.push_back({"m", "webp", 960, 640, 5000, std::string(64, 'b')});
  return r;
}

TEST(Contract, EncodedMessagesValidateAgainstTheSchemas) {
  const fs::path dir = fs::temp_directory_path() / ("imgpipe-contract-" + std::to_string(::getpid()));
  fs::create_directories(dir);
  std::vector<fs::path> files;
  auto write = [&](const std::string& name, const std::string& text) {
    files.push_back(dir / name);
    std::ofstream(files.back()) << text;
  };
  IngestJob upload{"upload", "Ab3dE5gH7jK9", "Ab3dE5gH7jK9.upload", std::string(64, 'c'), "", "anon:1.2.3.4", "",
                   {"t"}, "x.jpg", "gw-1", "r1", 1700000000, 0, 20 << 20, "", {}, {}, true, 1700000000123, std::string(64, 'd')};
  write("ingest_job.upload.json", encode(upload));
  IngestJob import{"import", "bulk-1", "", "", "https://example.com/a.jpg", "bulk", "ns", {}, "", "", "", 0, 0, 0, "", {}, {}, true, 0, ""};
  write("ingest_job.import.json", encode(import));
  write("image_event.ready.json", encode(ImageEvent{"ready", "Ab3dE5gH7jK9", "r1", record(), std::nullopt}));
  write("image_event.variants.json", encode(ImageEvent{"variants", "Ab3dE5gH7jK9", "", record(), std::nullopt}));
  write("image_event.failed.json",
        encode(ImageEvent{"failed", "x", "r2", std::nullopt, ErrorDetail{"invalid_image", "bad", "probe"}}));
  write("image_event.deleted.json", encode(ImageEvent{"deleted", "x", "", std::nullopt, std::nullopt}));
  // Processing and failed records carry the job's fields, none of the original's.
  write("image_event.accepted.json", encode(ImageEvent{"accepted", "Ab3dE5gH7jK9", "r1",
                                                       record_of(upload, kProcessing), std::nullopt}));
  write("image_event.failed-record.json",
        encode(ImageEvent{"failed", "Ab3dE5gH7jK9", "r1", record_of(upload, kFailed),
                          ErrorDetail{"invalid_image", "bad", "probe"}}));
  write("dead_letter.malformed.json",
        encode(DeadLetter{"malformed message", {"bad_request", "not JSON", "decode"}, "imgpipe.ingest", 3, 17, "k",
                          "not json \xff"}));
  EXPECT_EQ(validate(files), 0) << "see the messages above; files in " << dir;
  fs::remove_all(dir);
}

TEST(Contract, SchemaValidExamplesDecode) {
  std::vector<fs::path> examples;
  for (const auto& e : fs::directory_iterator(kSource / "tests/schemas/examples")) examples.push_back(e.path());
  ASSERT_FALSE(examples.empty());
  ASSERT_EQ(validate(examples), 0) << "an example does not match its schema";
  for (const auto& p : examples) {
    const auto kind = p.filename().string().substr(0, p.filename().string().find('.'));
    const auto text = slurp(p);
    if (kind == "ingest_job") EXPECT_NO_THROW(decode_ingest_job(text)) << p;
    else if (kind == "image_event") EXPECT_NO_THROW(decode_image_event(text)) << p;
    else if (kind == "dead_letter") EXPECT_NO_THROW(decode_dead_letter(text)) << p;
    else ADD_FAILURE() << "no decoder for " << p;
  }
}

TEST(Contract, SchemaInvalidJobIsRejectedByBoth) {
  const fs::path p = fs::temp_directory_path() / ("ingest_job.bad-" + std::to_string(::getpid()) + ".json");
  const std::string bad = R"({"v":1,"type":"import","image_id":"has space"})";  // no url, bad id
  std::ofstream(p) << bad;
  EXPECT_NE(validate({p}), 0);
  EXPECT_THROW(decode_ingest_job(bad), Error);
  fs::remove(p);
}

}  // namespace
}  // namespace imgpipe::schemas
