// Table of the addresses an import may and may not reach.
#include "workers/fetch/address_policy.h"

#include <arpa/inet.h>
#include <gtest/gtest.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <sys/un.h>

#include "tests/workers/fetch/refused_addresses.h"

namespace imgpipe::workers::fetch {
namespace {

IpAddress ip(const char* text) {
  auto a = parse_ip_literal(text);
  EXPECT_TRUE(a.has_value()) << text;
  return a.value_or(IpAddress{});
}

TEST(FetchAddressPolicy, RefusesEverySpecialPurposeRange) {
  for (const char* text : test::kRefusedAddresses) {
    EXPECT_FALSE(is_public_address(ip(text))) << text;
  }
}

TEST(FetchAddressPolicy, AllowsPublicAddresses) {
  const char* allowed[] = {
      "8.8.8.8", "1.1.1.1", "93.184.216.34", "100.63.255.255", "100.128.0.1", "172.15.255.255", "172.32.0.1",
      "192.0.3.1", "192.169.0.1", "198.17.255.255", "198.20.0.1", "223.255.255.255", "169.253.255.255",
      "2606:4700::1111", "2a00:1450:4001:80b::200e", "2001:4860:4860::8888", "::ffff:8.8.8.8",
      "64:ff9b::808:808", "2002:808:808::1", "2c0f:fb50::1",
  };
  for (const char* text : allowed) {
    EXPECT_TRUE(is_public_address(ip(text))) << text;
  }
}

TEST(FetchAddressPolicy, ByteForms) {
  const uint8_t loopback4[] = {127, 0, 0, 1};
  const uint8_t public4[] = {8, 8, 4, 4};
  const uint8_t odd[] = {8, 8, 4};
  EXPECT_FALSE(is_public_address(std::span<const uint8_t>(loopback4)));
  EXPECT_TRUE(is_public_address(std::span<const uint8_t>(public4)));
  EXPECT_FALSE(is_public_address(std::span<const uint8_t>(odd)));
  EXPECT_FALSE(is_public_address(std::span<const uint8_t>{}));
}

TEST(FetchAddressPolicy, SockaddrForms) {
  sockaddr_in v4{};
  v4.sin_family = AF_INET;
  inet_pton(AF_INET, "169.254.169.254", &v4.sin_addr);
  EXPECT_FALSE(is_public_address(reinterpret_cast<const sockaddr&>(v4)));
  inet_pton(AF_INET, "8.8.8.8", &v4.sin_addr);
  EXPECT_TRUE(is_public_address(reinterpret_cast<const sockaddr&>(v4)));

  sockaddr_in6 v6{};
  v6.sin6_family = AF_INET6;
  inet_pton(AF_INET6, "::ffff:127.0.0.1", &v6.sin6_addr);
  EXPECT_FALSE(is_public_address(reinterpret_cast<const sockaddr&>(v6)));
  inet_pton(AF_INET6, "2606:4700::1111", &v6.sin6_addr);
  EXPECT_TRUE(is_public_address(reinterpret_cast<const sockaddr&>(v6)));

  sockaddr_un un{};
  un.sun_family = AF_UNIX;
  EXPECT_FALSE(is_public_address(reinterpret_cast<const sockaddr&>(un)));
}

TEST(FetchAddressPolicy, LiteralsAreStrict) {
  const char* not_literals[] = {"127.1", "0177.0.0.1", "0x7f000001", "2130706433", "127.0.0.01", "127.0.0.1.",
                                "256.0.0.1", "1.2.3.4.5", " 1.2.3.4", "1.2.3.4 ", "", "fe80::1%eth0", "[::1]",
                                "1.2.3", "::g"};
  for (const char* text : not_literals) {
    EXPECT_FALSE(parse_ip_literal(text).has_value()) << '"' << text << '"';
  }
  EXPECT_EQ(ip("10.1.2.3").to_string(), "10.1.2.3");
  EXPECT_EQ(ip("2001:DB8:0::1").to_string(), "2001:db8::1");
  EXPECT_TRUE(ip("::1").v6);
}

}  // namespace
}  // namespace imgpipe::workers::fetch
