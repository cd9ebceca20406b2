#pragma once
// Which IP addresses an import may connect to. Everything that is not
// globally routable unicast is refused: loopback, private, link-local (cloud
// metadata 169.254.169.254), CGNAT, documentation, benchmarking, multicast,
// reserved, and IPv6 forms that embed an IPv4 address (IPv4-mapped, NAT64,
// 6to4) when the embedded address is refused. See RFC 6890 and the IANA
// special-purpose registries; SSRF background: CWE-918.

#include <array>
#include <cstdint>
#include <optional>
#include <span>
#include <string>
#include <string_view>

struct sockaddr;

namespace imgpipe::workers::fetch {

// An IPv4 (4 bytes) or IPv6 (16 bytes) address in network byte order.
struct IpAddress {
  bool v6 = false;
  std::array<uint8_t, 16> bytes{};  // IPv4 uses the first 4

  std::span<const uint8_t> view() const { return {bytes.data(), v6 ? 16u : 4u}; }
  std::string to_string() const;  // "192.0.2.1", "2001:db8::1" (no brackets)
  friend bool operator==(const IpAddress&, const IpAddress&) = default;
};

// 4 or 16 bytes; any other length is refused.
bool is_public_address(std::span<const uint8_t> address);
bool is_public_address(const IpAddress& address);
// AF_INET or AF_INET6; any other family (AF_UNIX...) is refused.
bool is_public_address(const sockaddr& address);

// Strict literal parsing: IPv4 only as four decimal octets without leading
// zeros ("127.1", "0177.0.0.1", "0x7f000001", "2130706433" are not
// addresses here), IPv6 as inet_pton(AF_INET6) reads it, without brackets or
// zone. nullopt when `text` is not such a literal.
std::optional<IpAddress> parse_ip_literal(std::string_view text);

// The address and port of a sockaddr (AF_INET/AF_INET6), nullopt otherwise.
std::optional<std::pair<IpAddress, uint16_t>> from_sockaddr(const sockaddr& address);

}  // namespace imgpipe::workers::fetch
