// imgpipe backup / restore on a running embedded server: upload, back up,
// upload more, restore into a new folder, start a server on it: exactly the
// images of the snapshot are served, byte for byte. Embedded bus only (on
// Kafka the topics are the broker's to keep; a restored gateway index would
// catch up with images newer than the backup, by design).
#include <regex>

#include "tests/e2e/harness.h"

namespace imgpipe::e2e {
namespace {

struct Uploaded {
  std::string id, src, bytes;  // bytes: what the server served right after the 201
};

Uploaded upload_one(const ServerProcess& s, int i) {
  Multipart m;
  m.bytes = synthetic_jpeg(i, 400, 300);
  m.filename = "b" + std::to_string(i) + ".jpg";
  m.content_type = "image/jpeg";
  auto r = post_multipart(s.url("/v1/upload"), m);
  EXPECT_EQ(r.status, 201) << r.describe();
  auto j = r.json();
  Uploaded u{j.value("id", ""), j.value("src", ""), ""};
  auto got = http_get(u.src);
  EXPECT_EQ(got.status, 200) << got.describe();
  u.bytes = got.body;
  return u;
}

std::string served_on(const ServerProcess& s, const std::string& src, long* status) {
  auto r = http_get(s.url(path_of(src)));
  *status = r.status;
  return r.body;
}

TEST(Backup, RestoresExactlyTheSnapshotOfARunningServer) {
  if (kafka_mode()) GTEST_SKIP() << "backup/restore of the embedded bus; on Kafka the broker keeps the topics";
  ServerProcess s;
  s.start();
  std::vector<Uploaded> before, after;
  for (int i = 0; i < 4; ++i) before.push_back(upload_one(s, i));

  auto backup_dir = s.data_dir().parent_path() / "backup";
  auto b = run({imgpipe_binary().string(), "backup", "--to", backup_dir.string(), "--data-dir", s.data_dir().string()},
               120s);
  ASSERT_EQ(b.exit_code, 0) << b.out << s.log_tail();
  EXPECT_NE(b.out.find("backup: 4 images"), std::string::npos) << b.out;
  // Progress as it goes, ending at all files done.
  EXPECT_TRUE(std::regex_search(b.out, std::regex(R"(imgpipe backup: blobs (\d+)/\1 files)"))) << b.out;
  EXPECT_TRUE(fs::exists(backup_dir / "BACKUP.json"));
  // A second backup into the same (now full) folder is refused.
  auto again = run({imgpipe_binary().string(), "backup", "--to", backup_dir.string(), "--data-dir", s.data_dir().string()});
  EXPECT_NE(again.exit_code, 0) << again.out;

  for (int i = 4; i < 7; ++i) after.push_back(upload_one(s, i));
  EXPECT_EQ(s.stop(), 0);

  ServerProcess restored;
  auto r = run({imgpipe_binary().string(), "restore", "--from", backup_dir.string(), "--data-dir",
                restored.data_dir().string()},
               120s);
  ASSERT_EQ(r.exit_code, 0) << r.out;
  EXPECT_NE(r.out.find("restore: 4 images"), std::string::npos) << r.out;
  restored.start();
  for (const auto& u : before) {
    long status = 0;
    auto bytes = served_on(restored, u.src, &status);
    EXPECT_EQ(status, 200) << u.id;
    EXPECT_TRUE(bytes == u.bytes) << u.id << ": other bytes after restore";
    auto variant = http_get(restored.url(path_of(with_size(u.src, "s"))));
    EXPECT_EQ(variant.status, 200) << u.id;
    EXPECT_TRUE(decode(variant.body).ok);
  }
  for (const auto& u : after) {
    long status = 0;
    served_on(restored, u.src, &status);
    EXPECT_EQ(status, 404) << u.id << " was uploaded after the backup";
  }
  // A restored server takes uploads as usual.
  upload_one(restored, 100);
  EXPECT_EQ(restored.stop(), 0);

  // Restore refuses an incomplete backup and a non-empty target.
  fs::remove(backup_dir / "BACKUP.json");
  auto bad = run({imgpipe_binary().string(), "restore", "--from", backup_dir.string(), "--data-dir",
                  (s.data_dir().parent_path() / "elsewhere").string()});
  EXPECT_NE(bad.exit_code, 0);
  EXPECT_NE(bad.out.find("not a complete backup"), std::string::npos) << bad.out;
}

}  // namespace
}  // namespace imgpipe::e2e
