#include "gateway/http/request_head.h"
#include "gateway/http/http_types.h"

#include <gtest/gtest.h>

#include <array>
#include <map>
#include <cctype>
#include <cstring>
#include <random>
#include <string>
#include <vector>

namespace imgpipe::gateway {
namespace {

std::string head(const std::string& fields) { return "POST /v1/upload HTTP/1.1\r\nHost: x\r\n" + fields + "\r\n"; }

// The multi-pass check that the one-pass ambiguous_request_head replaced
// (2026-11-29), kept as the oracle it must agree with, answer for answer.
namespace reference {
bool iequals(std::string_view a, std::string_view b) {
  if (a.size() != b.size()) return false;
  for (size_t i = 0; i < a.size(); ++i)
    if (std::tolower(static_cast<unsigned char>(a[i])) != std::tolower(static_cast<unsigned char>(b[i]))) return false;
  return true;
}
bool is_tchar(char c) {
  return c != 0 && std::strchr("abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789!#$%&'*+-.^_`|~", c);
}
std::string_view trim(std::string_view s) {
  while (!s.empty() && (s.front() == ' ' || s.front() == '\t')) s.remove_prefix(1);
  while (!s.empty() && (s.back() == ' ' || s.back() == '\t')) s.remove_suffix(1);
  return s;
}
std::optional<std::string> ambiguous_request_head(std::string_view block) {
  if (std::memchr(block.data(), '\0', block.size())) return "The request header contains a NUL byte.";
  for (size_t i = block.find('\r'); i != std::string_view::npos; i = block.find('\r', i + 1))
    if (i + 1 == block.size() || block[i + 1] != '\n') return "The request header contains a CR that does not end a line.";
  for (size_t i = block.find('\n'); i != std::string_view::npos; i = block.find('\n', i + 1))
    if (i == 0 || block[i - 1] != '\r') return "The request header contains a bare LF line ending.";
  while (block.substr(0, 2) == "\r\n") block.remove_prefix(2);
  size_t eol = block.find("\r\n");
  if (eol == std::string_view::npos) return std::nullopt;
  block.remove_prefix(eol + 2);
  int content_lengths = 0, transfer_encodings = 0;
  std::map<std::string, int> singletons;  // Host, Authorization, Idempotency-Key, lower case
  while (!block.empty()) {
    eol = block.find("\r\n");
    if (eol == std::string_view::npos) break;
    std::string_view line = block.substr(0, eol);
    block.remove_prefix(eol + 2);
    if (line.empty()) break;
    if (line.front() == ' ' || line.front() == '\t')
      return "The request header uses obsolete line folding (a line starting with a space or tab).";
    size_t colon = line.find(':');
    std::string_view name = line.substr(0, colon);
    bool token = colon != std::string_view::npos && !name.empty();
    for (char c : name) token = token && is_tchar(c);
    if (!token) return "The request header has a malformed field name.";
    std::string_view value = trim(line.substr(colon + 1));
    if (iequals(name, "Content-Length")) {
      if (++content_lengths > 1) return "The request has more than one Content-Length header.";
      bool digits = !value.empty() && value.size() <= 19;
      for (char c : value) digits = digits && c >= '0' && c <= '9';
      if (!digits) return "The request's Content-Length is not a plain decimal number.";
    } else if (iequals(name, "Transfer-Encoding")) {
      if (++transfer_encodings > 1) return "The request has more than one Transfer-Encoding header.";
      if (!iequals(value, "chunked")) return "The request's Transfer-Encoding must be exactly \"chunked\".";
    } else {
      for (std::string_view single : {"Host", "Authorization", "Idempotency-Key"})
        if (iequals(name, single) && ++singletons[std::string(single)] > 1)
          return "The request has more than one " + std::string(single) + " header.";
    }
  }
  if (content_lengths > 0 && transfer_encodings > 0)
    return "The request has both Content-Length and Transfer-Encoding; send one of them.";
  return std::nullopt;
}
}  // namespace reference

// Heads put together from the pieces that matter (framing fields, folds,
// stray CR, LF and NUL, empty lines, unfinished lines), 200 000 of them from
// a fixed seed: the one-pass check names the same problem as the old one.
TEST(RequestHead, OnePassCheckAgreesWithTheMultiPassOneOnEveryHead) {
  const std::array<std::string_view, 26> pieces{
      "GET / HTTP/1.1", "Host: x", "Content-Length: 5", "content-length:0", "Content-Length: 5, 5",
      "Transfer-Encoding: chunked", "transfer-encoding: Chunked ", "Transfer-Encoding: gzip", " folded",
      "\tfolded", "X-A: 1", "Bad Name: 1", ": empty", "X-B", "", "\r", "\n", "\r\n",
      std::string_view("\0", 1), "X-C: a\rb", "Content-Length : 1", "Content-Length: 99999999999999999999", "host: y",
      "Authorization: Bearer a", "authorization: Bearer b", "Idempotency-Key: k"};
  const std::array<std::string_view, 4> endings{"\r\n", "\r\n", "\n", "\r"};
  std::mt19937 rng(1);
  int refused = 0;
  for (int n = 0; n < 200000; ++n) {
    std::string block;
    const int lines = static_cast<int>(rng() % 7);
    for (int i = 0; i < lines; ++i) {
      block += pieces[rng() % pieces.size()];
      block += endings[rng() % endings.size()];
    }
    if (rng() % 4 != 0) block += "\r\n";  // most end with the blank line
    const auto want = reference::ambiguous_request_head(block);
    ASSERT_EQ(ambiguous_request_head(block), want) << "head: " << testing::PrintToString(block);
    refused += want.has_value();
  }
  EXPECT_GT(refused, 50000);  // both answers are well represented
  EXPECT_LT(refused, 190000);
}

TEST(RequestHead, PlainFramingIsAccepted) {
  EXPECT_FALSE(ambiguous_request_head(head("")));
  EXPECT_FALSE(ambiguous_request_head(head("Content-Length: 12\r\n")));
  EXPECT_FALSE(ambiguous_request_head(head("Transfer-Encoding: Chunked\r\n")));
  EXPECT_FALSE(ambiguous_request_head(head("X-Note: a\tb  \r\nContent-Length:0\r\n")));
  EXPECT_FALSE(ambiguous_request_head("\r\n" + head("")));  // RFC 9112 2.2: a leading empty line
}

TEST(RequestHead, AmbiguousFramingIsRefused) {
  for (const std::string& fields : std::vector<std::string>{
           "Content-Length: 5\r\nTransfer-Encoding: chunked\r\n",
           "Transfer-Encoding: chunked\r\nContent-Length: 5\r\n",
           "Content-Length: 5\r\nContent-Length: 6\r\n",
           "Content-Length: 5\r\nContent-Length: 5\r\n",
           "Content-Length: 5, 5\r\n",
           "Content-Length: +5\r\n",
           "Content-Length: 99999999999999999999999\r\n",
           "Transfer-Encoding: chunked\r\nTransfer-Encoding: chunked\r\n",
           "Transfer-Encoding: gzip, chunked\r\n",
           "Transfer-Encoding: identity\r\nContent-Length: 5\r\n",
           "Transfer-Encoding: xchunked\r\n",
           "Content-Length : 5\r\n",
           "X-A: 1\r\n Content-Length: 5\r\n",
           "X-A: 1\r\n\tcontinued\r\n",
           "X-A: 1\rContent-Length: 5\r\n",
           "X-A: 1\nContent-Length: 5\r\n",
           std::string("X-A: a\0b\r\n", 10),
           "Host: y\r\n",
           "Authorization: Bearer a\r\nauthorization: Bearer b\r\n",
           "Idempotency-Key: a\r\nIdempotency-Key: a\r\n",
       }) {
    auto problem = ambiguous_request_head(head(fields));
    EXPECT_TRUE(problem.has_value()) << fields;
  }
  EXPECT_NE(ambiguous_request_head(head("X-A: 1\r\n folded\r\n"))->find("folding"), std::string::npos);
  EXPECT_NE(ambiguous_request_head(head("Content-Length: 1\r\nTransfer-Encoding: chunked\r\n"))->find("both"),
            std::string::npos);
}

}  // namespace
}  // namespace imgpipe::gateway

namespace imgpipe::gateway {
namespace {

// img.pro documents label filters as "?label[env]=prod"; curl -g and browsers
// send the brackets raw. They are read as their escapes, never refused.
TEST(RequestHead, RawBracketsInTheQueryAreRead) {
  std::string path, query;
  EXPECT_EQ(split_request_target("/v1/images?label[env]=prod&limit=2", path, query), std::nullopt);
  EXPECT_EQ(path, "/v1/images");
  EXPECT_EQ(query, "label%5Benv%5D=prod&limit=2");
  Request r;
  r.query = query;
  EXPECT_EQ(r.query_param("label[env]"), "prod");
  // In the path they stay refused.
  EXPECT_NE(split_request_target("/v1/[images]", path, query), std::nullopt);
}

}  // namespace
}  // namespace imgpipe::gateway
