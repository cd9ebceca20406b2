#include "gateway/accounts/client_ip.h"

#include <arpa/inet.h>

#include <charconv>

namespace imgpipe::gateway::accounts {
namespace {

std::optional<Cidr> parse_ip(std::string_view text) {
  std::string s(text);
  if (s.size() > 2 && s.front() == '[' && s.back() == ']') s = s.substr(1, s.size() - 2);
  Cidr c;
  if (inet_pton(AF_INET, s.c_str(), c.addr.data()) == 1) {
    c.bits = 32;
    return c;
  }
  if (inet_pton(AF_INET6, s.c_str(), c.addr.data()) == 1) {
    c.v6 = true;
    c.bits = 128;
    // IPv4-mapped (::ffff:a.b.c.d) is the IPv4 address.
    static constexpr unsigned char kMapped[12] = {0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0xff, 0xff};
    if (std::equal(kMapped, kMapped + 12, c.addr.begin())) {
      Cidr v4;
      std::copy(c.addr.begin() + 12, c.addr.end(), v4.addr.begin());
      v4.bits = 32;
      return v4;
    }
    return c;
  }
  return std::nullopt;
}

std::string_view trim(std::string_view s) {
  while (!s.empty() && (s.front() == ' ' || s.front() == '\t')) s.remove_prefix(1);
  while (!s.empty() && (s.back() == ' ' || s.back() == '\t')) s.remove_suffix(1);
  return s;
}

bool contains(const Cidr& net, const Cidr& ip) {
  if (net.v6 != ip.v6) return false;
  int bits = net.bits;
  for (int i = 0; bits > 0; ++i, bits -= 8) {
    unsigned char mask = bits >= 8 ? 0xff : static_cast<unsigned char>(0xff << (8 - bits));
    if ((net.addr[i] & mask) != (ip.addr[i] & mask)) return false;
  }
  return true;
}

}  // namespace

std::optional<Cidr> parse_cidr(std::string_view text) {
  auto slash = text.find('/');
  auto ip = parse_ip(text.substr(0, slash));
  if (!ip || slash == std::string_view::npos) return ip;
  int bits = -1;
  auto rest = text.substr(slash + 1);
  auto [end, ec] = std::from_chars(rest.data(), rest.data() + rest.size(), bits);
  if (ec != std::errc() || end != rest.data() + rest.size() || bits < 0 || bits > (ip->v6 ? 128 : 32))
    return std::nullopt;
  ip->bits = bits;
  return ip;
}

bool TrustedProxies::trusts(std::string_view text) const {
  auto ip = parse_ip(trim(text));
  if (!ip) return false;
  for (const auto& net : cidrs_)
    if (contains(net, *ip)) return true;
  return false;
}

std::string TrustedProxies::client_ip(const std::string& peer, std::string_view forwarded_for) const {
  if (cidrs_.empty() || forwarded_for.empty() || !trusts(peer)) return peer;
  // Walk from the right: each trusted hop vouches for the one before it.
  std::string_view rest = forwarded_for;
  while (!rest.empty()) {
    auto comma = rest.rfind(',');
    auto hop = trim(comma == std::string_view::npos ? rest : rest.substr(comma + 1));
    rest = comma == std::string_view::npos ? std::string_view{} : rest.substr(0, comma);
    auto ip = parse_ip(hop);
    if (!ip) return peer;  // garbage in the chain: trust nothing it says
    if (!trusts(hop)) return std::string(hop);
  }
  return peer;  // every hop is a trusted proxy
}

std::string rate_limit_subject(std::string_view text) {
  auto ip = parse_ip(trim(text));
  if (!ip || !ip->v6) return std::string(text);
  std::array<unsigned char, 16> prefix{};
  std::copy(ip->addr.begin(), ip->addr.begin() + 8, prefix.begin());
  char out[INET6_ADDRSTRLEN];
  if (!inet_ntop(AF_INET6, prefix.data(), out, sizeof out)) return std::string(text);
  return std::string(out) + "/64";
}

bool is_loopback(std::string_view text) {
  static const auto v4 = *parse_cidr("127.0.0.0/8");
  static const auto v6 = *parse_cidr("::1/128");
  auto ip = parse_ip(trim(text));
  return ip && (contains(v4, *ip) || contains(v6, *ip));
}

}  // namespace imgpipe::gateway::accounts
