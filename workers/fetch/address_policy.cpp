#include "workers/fetch/address_policy.h"

#include <arpa/inet.h>
#include <netinet/in.h>
#include <sys/socket.h>

#include <algorithm>
#include <cstring>

namespace imgpipe::workers::fetch {
namespace {

struct Prefix {
  std::array<uint8_t, 16> bytes;
  int bits;
};

bool in_prefix(std::span<const uint8_t> a, std::span<const uint8_t> prefix, int bits) {
  int i = 0;
  for (; bits >= 8; bits -= 8, ++i) {
    if (a[i] != prefix[i]) return false;
  }
  if (bits == 0) return true;
  const auto mask = static_cast<uint8_t>(0xFF << (8 - bits));
  return (a[i] & mask) == (prefix[i] & mask);
}

// IPv4 special-purpose blocks (RFC 6890, IANA ipv4-special-registry) plus
// multicast and the reserved 240/4 (which contains 255.255.255.255).
constexpr struct {
  std::array<uint8_t, 4> net;
  int bits;
} kRefusedV4[] = {
    {{0, 0, 0, 0}, 8},        // "this network"
    {{10, 0, 0, 0}, 8},       // private
    {{100, 64, 0, 0}, 10},    // carrier-grade NAT
    {{127, 0, 0, 0}, 8},      // loopback
    {{169, 254, 0, 0}, 16},   // link-local, cloud metadata
    {{172, 16, 0, 0}, 12},    // private
    {{192, 0, 0, 0}, 24},     // IETF protocol assignments
    {{192, 0, 2, 0}, 24},     // TEST-NET-1
    {{192, 88, 99, 0}, 24},   // 6to4 relay anycast
    {{192, 168, 0, 0}, 16},   // private
    {{198, 18, 0, 0}, 15},    // benchmarking
    {{198, 51, 100, 0}, 24},  // TEST-NET-2
    {{203, 0, 113, 0}, 24},   // TEST-NET-3
    {{224, 0, 0, 0}, 4},      // multicast
    {{240, 0, 0, 0}, 4},      // reserved, broadcast
};

bool is_public_v4(std::span<const uint8_t> a) {
  return std::none_of(std::begin(kRefusedV4), std::end(kRefusedV4),
                      [&](const auto& r) { return in_prefix(a, r.net, r.bits); });
}

constexpr std::array<uint8_t, 16> v6(std::initializer_list<uint16_t> groups) {
  std::array<uint8_t, 16> out{};
  size_t i = 0;
  for (uint16_t g : groups) {
    out[i++] = static_cast<uint8_t>(g >> 8);
    out[i++] = static_cast<uint8_t>(g & 0xFF);
  }
  return out;
}

// Refused sub-blocks of global unicast 2000::/3 (IANA ipv6-special-registry).
const Prefix kRefusedV6Global[] = {
    {v6({0x2001, 0x0000}), 23},  // IETF protocol assignments: Teredo 2001::/32, benchmarking, ORCHID...
    {v6({0x2001, 0x0db8}), 32},  // documentation
    {v6({0x3fff, 0x0000}), 20},  // documentation (RFC 9637)
};

bool is_public_v6(std::span<const uint8_t> a) {
  // IPv4-mapped ::ffff:0:0/96: the socket would reach the embedded IPv4.
  if (in_prefix(a, v6({0, 0, 0, 0, 0, 0xffff}), 96)) return is_public_v4(a.subspan(12, 4));
  // NAT64 well-known prefix 64:ff9b::/96 (RFC 6052): the translator reaches
  // the embedded IPv4, so it is as public as that address. DNS64 networks
  // hand these out for every IPv4-only site, so refusing all would break them.
  if (in_prefix(a, v6({0x64, 0xff9b}), 96)) return is_public_v4(a.subspan(12, 4));
  // 6to4 2002::/16 embeds the IPv4 in bytes 2..5.
  if (in_prefix(a, v6({0x2002}), 16)) return is_public_v4(a.subspan(2, 4));
  // Only global unicast 2000::/3 is reachable on the Internet. This refuses
  // ::, ::1, the deprecated IPv4-compatible ::/96, 64:ff9b:1::/48 (local
  // NAT64), 100::/64 (discard), fc00::/7, fe80::/10, fec0::/10, ff00::/8.
  if (!in_prefix(a, v6({0x2000}), 3)) return false;
  return std::none_of(std::begin(kRefusedV6Global), std::end(kRefusedV6Global),
                      [&](const Prefix& p) { return in_prefix(a, p.bytes, p.bits); });
}

}  // namespace

bool is_public_address(std::span<const uint8_t> address) {
  if (address.size() == 4) return is_public_v4(address);
  if (address.size() == 16) return is_public_v6(address);
  return false;
}

bool is_public_address(const IpAddress& address) { return is_public_address(address.view()); }

bool is_public_address(const sockaddr& address) {
  const auto parsed = from_sockaddr(address);
  return parsed && is_public_address(parsed->first);
}

std::optional<std::pair<IpAddress, uint16_t>> from_sockaddr(const sockaddr& address) {
  IpAddress ip;
  if (address.sa_family == AF_INET) {
    sockaddr_in in{};
    std::memcpy(&in, &address, sizeof in);
    std::memcpy(ip.bytes.data(), &in.sin_addr, 4);
    return std::pair{ip, ntohs(in.sin_port)};
  }
  if (address.sa_family == AF_INET6) {
    sockaddr_in6 in6{};
    std::memcpy(&in6, &address, sizeof in6);
    ip.v6 = true;
    std::memcpy(ip.bytes.data(), &in6.sin6_addr, 16);
    return std::pair{ip, ntohs(in6.sin6_port)};
  }
  return std::nullopt;
}

std::optional<IpAddress> parse_ip_literal(std::string_view text) {
  if (text.empty() || text.size() > 45) return std::nullopt;
  IpAddress ip;
  if (text.find(':') != std::string_view::npos) {
    if (text.find('%') != std::string_view::npos) return std::nullopt;  // no zone ids
    const std::string s(text);
    if (inet_pton(AF_INET6, s.c_str(), ip.bytes.data()) != 1) return std::nullopt;
    ip.v6 = true;
    return ip;
  }
  // Four decimal octets, written by hand so no inet_aton-style shorthand
  // (octal, hex, fewer than four parts) can slip through.
  size_t part = 0;
  size_t pos = 0;
  while (part < 4) {
    size_t end = pos;
    while (end < text.size() && text[end] >= '0' && text[end] <= '9') ++end;
    const size_t len = end - pos;
    if (len == 0 || len > 3 || (len > 1 && text[pos] == '0')) return std::nullopt;
    int value = 0;
    for (size_t i = pos; i < end; ++i) value = value * 10 + (text[i] - '0');
    if (value > 255) return std::nullopt;
    ip.bytes[part++] = static_cast<uint8_t>(value);
    if (part < 4) {
      if (end >= text.size() || text[end] != '.') return std::nullopt;
      pos = end + 1;
    } else if (end != text.size()) {
      return std::nullopt;
    }
  }
  return ip;
}

std::string IpAddress::to_string() const {
  char buf[INET6_ADDRSTRLEN] = {};
  inet_ntop(v6 ? AF_INET6 : AF_INET, bytes.data(), buf, sizeof buf);
  return buf;
}

}  // namespace imgpipe::workers::fetch
