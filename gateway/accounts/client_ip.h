#pragma once
// Which address a request comes from. The socket's peer, unless the peer is
// a proxy the operator trusts (--trusted-proxy CIDR): then the rightmost hop
// of X-Forwarded-For that is not itself trusted. Anyone else's header is
// ignored, so a spoofed X-Forwarded-For changes nothing.

#include <array>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

namespace imgpipe::gateway::accounts {

struct Cidr {
  bool v6 = false;
  std::array<unsigned char, 16> addr{};
  int bits = 0;
};

// "10.0.0.0/8", "192.168.1.7", "fd00::/8"; nullopt when malformed.
std::optional<Cidr> parse_cidr(std::string_view text);

class TrustedProxies {
 public:
  TrustedProxies() = default;
  explicit TrustedProxies(std::vector<Cidr> cidrs) : cidrs_(std::move(cidrs)) {}
  bool trusts(std::string_view ip) const;
  // `peer`: the socket address; `forwarded_for`: the X-Forwarded-For header ("" if absent).
  std::string client_ip(const std::string& peer, std::string_view forwarded_for) const;

 private:
  std::vector<Cidr> cidrs_;
};

bool is_loopback(std::string_view ip);

// Whom a per-address limit counts: an IPv4 address itself, an IPv6 address
// by its /64 (one subscriber's usual allocation: a client could otherwise
// take a fresh address for every request). Other text is returned as it is.
std::string rate_limit_subject(std::string_view ip);

}  // namespace imgpipe::gateway::accounts
