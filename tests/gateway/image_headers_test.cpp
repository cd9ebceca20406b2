// The Content-Disposition rule (issue 16): whatever name a user stored, the
// header is one line, one quoted ASCII filename and one RFC 8187 filename*,
// naming a file in the served format that cannot leave the download folder.
#include <gtest/gtest.h>

#include <algorithm>

#include "gateway/image_headers.h"

using imgpipe::gateway::content_disposition;

namespace {

const std::string kId = "Ab3dE6gH9jK";

// The two names in a header, as a client would read them.
struct Names {
  std::string ascii, encoded;
};

Names names_of(const std::string& header) {
  auto q = header.find("filename=\"");
  auto end = header.find('"', q + 10);
  auto star = header.find("filename*=UTF-8''");
  EXPECT_NE(q, std::string::npos) << header;
  EXPECT_NE(star, std::string::npos) << header;
  if (q == std::string::npos || star == std::string::npos) return {};
  return {header.substr(q + 10, end - q - 10), header.substr(star + 17)};
}

void expect_safe(const std::string& header) {
  SCOPED_TRACE(header);
  EXPECT_EQ(std::count(header.begin(), header.end(), '"'), 2);  // exactly the quotes around filename
  for (unsigned char c : header) {
    EXPECT_TRUE(c >= 0x20 && c < 0x7F) << "byte " << int(c);  // one line of printable ASCII
  }
  auto n = names_of(header);
  for (const auto& name : {n.ascii, n.encoded}) {
    EXPECT_EQ(name.find('/'), std::string::npos) << name;
    EXPECT_EQ(name.find('\\'), std::string::npos) << name;
    EXPECT_TRUE(!name.empty() && name.front() != '.') << name;
  }
  EXPECT_EQ(n.encoded.find(';'), std::string::npos);
}

TEST(ContentDisposition, PlainNameKeepsItsWordsAndTakesTheServedExtension) {
  EXPECT_EQ(content_disposition(false, "Evening glow.jpg", kId, "jpg"),
            "inline; filename=\"Evening glow.jpg\"; filename*=UTF-8''Evening%20glow.jpg");
  EXPECT_EQ(content_disposition(true, "Evening glow.jpg", kId, "webp"),
            "attachment; filename=\"Evening glow.webp\"; filename*=UTF-8''Evening%20glow.webp");
  // Only an image extension is replaced: "report.exe" stays in the stem.
  EXPECT_EQ(names_of(content_disposition(true, "report.exe", kId, "png")).ascii, "report.exe.png");
  // Names of letters, digits, '-', '_' and '.' take a shorter path to the same rules.
  EXPECT_EQ(names_of(content_disposition(false, "IMG_0042.jpeg", kId, "webp")).ascii, "IMG_0042.webp");
  EXPECT_EQ(names_of(content_disposition(false, "..hidden.png", kId, "png")).ascii, "hidden.png");
  EXPECT_EQ(names_of(content_disposition(false, "a.b.c.gif", kId, "gif")).ascii, "a.b.c.gif");
  EXPECT_EQ(names_of(content_disposition(false, "...jpg", kId, "jpg")).ascii, std::string(kId) + ".jpg");
}

TEST(ContentDisposition, HeaderInjectionAndQuotesAreRemoved) {
  for (std::string hostile : {std::string("a\"; filename=evil.html\r\nSet-Cookie: x=1.png"),
                              std::string("nul\0byte.jpg", 12), std::string("esc\x1B[31m.jpg"),
                              std::string("del\x7F.jpg"), std::string("c1\xC2\x85.jpg")}) {
    auto h = content_disposition(true, hostile, kId, "jpg");
    expect_safe(h);
    EXPECT_EQ(h.rfind("attachment; filename=\"", 0), 0u) << h;
  }
  auto n = names_of(content_disposition(true, "a\"b\nc.jpg", kId, "jpg"));
  EXPECT_EQ(n.ascii, "a_b c.jpg");
  EXPECT_EQ(n.encoded, "a_b%20c.jpg");
}

TEST(ContentDisposition, PathsCannotLeaveTheDownloadFolder) {
  for (std::string hostile : {"../../etc/passwd", "..\\..\\Windows\\win.ini", "/abs/x.jpg", "C:\\x.jpg", ".htaccess",
                              "....jpg", "...", " "}) {
    expect_safe(content_disposition(true, hostile, kId, "jpg"));
  }
  EXPECT_EQ(names_of(content_disposition(true, "../../etc/passwd", kId, "png")).ascii, "_.._etc_passwd.png");
  EXPECT_EQ(names_of(content_disposition(true, "C:\\x.jpg", kId, "png")).ascii, "C__x.png");
  // Nothing left of the name: the id names the file.
  EXPECT_EQ(names_of(content_disposition(true, "....jpg", kId, "jpg")).ascii, kId + ".jpg");
  EXPECT_EQ(names_of(content_disposition(false, "", kId, "avif")).ascii, kId + ".avif");
}

TEST(ContentDisposition, UnicodeGoesInFilenameStarWithAnAsciiFallback) {
  auto n = names_of(content_disposition(true, "Caf\xC3\xA9 \xE2\x98\x95.jpg", kId, "jpg"));
  EXPECT_EQ(n.ascii, "Caf_ _.jpg");
  EXPECT_EQ(n.encoded, "Caf%C3%A9%20%E2%98%95.jpg");
  // A right-to-left override ("evil<RLO>gpj.exe" shows as "evilexe.jpg") is dropped.
  n = names_of(content_disposition(true, "evil\xE2\x80\xAEgpj.exe", kId, "png"));
  EXPECT_EQ(n.encoded, "evilgpj.exe.png");
  // An overlong '/' (C0 AF) is invalid UTF-8: replacement characters, not a slash.
  auto h = content_disposition(true, "a\xC0\xAF" "b.jpg", kId, "jpg");
  expect_safe(h);
  EXPECT_EQ(names_of(h).encoded, "a%EF%BF%BD%EF%BF%BDb.jpg");
  // '%' would let a client decode the ASCII name a second time.
  EXPECT_EQ(names_of(content_disposition(true, "100%2F.jpg", kId, "jpg")).ascii, "100_2F.jpg");
}

TEST(ContentDisposition, LongNamesAreCutAtACharacterBoundary) {
  std::string huge;
  for (int i = 0; i < 5000; ++i) huge += "\xC3\xA9";  // 10 KB of 'é'
  auto h = content_disposition(true, huge, kId, "jpg");
  expect_safe(h);
  auto n = names_of(h);
  EXPECT_LE(n.ascii.size(), 100u + 4);
  EXPECT_EQ(n.encoded.size() % 6, 4u) << n.encoded;  // whole %C3%A9 pairs, then ".jpg"
  EXPECT_LT(h.size(), 800u);
}

}  // namespace
