#include "gateway/http/request_head.h"
#include "gateway/http/http_types.h"

#include <gtest/gtest.h>

#include <string>
#include <vector>

namespace imgpipe::gateway {
namespace {

std::string head(const std::string& fields) { return "POST /v1/upload HTTP/1.1\r\nHost: x\r\n" + fields + "\r\n"; }

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
