#include "gateway/routes/route.h"

#include <stdexcept>

namespace imgpipe::gateway::routes {

Methods method_bit(std::string_view m) {
  if (m == "GET" || m == "HEAD") return GET;
  if (m == "POST") return POST;
  if (m == "PUT") return PUT;
  if (m == "PATCH") return PATCH;
  if (m == "DELETE") return DELETE;
  return 0;
}

std::string allow_header(Methods methods) {
  std::string allow;
  auto add = [&](const char* name) { allow += (allow.empty() ? "" : ", ") + std::string(name); };
  if (methods & GET) {
    add("GET");
    add("HEAD");
  }
  if (methods & POST) add("POST");
  if (methods & PUT) add("PUT");
  if (methods & PATCH) add("PATCH");
  if (methods & DELETE) add("DELETE");
  return allow;
}

std::string_view PathParams::get(std::string_view name) const {
  for (size_t i = 0; i < count_; ++i)
    if (values_[i].first == name) return values_[i].second;
  return {};
}

void PathParams::add(std::string_view name, std::string_view value) {
  if (count_ < kMax) values_[count_++] = {name, value};
}

PathPattern::PathPattern(const char* pattern) : text_(pattern) {
  if (text_.empty() || text_.front() != '/') throw std::logic_error("route pattern must start with '/'");
  if (text_ == "/") return;
  std::string_view rest = text_.substr(1);
  for (;;) {
    auto slash = rest.find('/');
    auto piece = rest.substr(0, slash);
    Segment seg;
    if (piece.size() >= 2 && piece.front() == '{' && piece.back() == '}') {
      auto dot = piece.find("}.{");
      if (dot == std::string_view::npos) {
        seg.name = piece.substr(1, piece.size() - 2);
      } else {
        seg.name = piece.substr(1, dot - 1);
        seg.second_name = piece.substr(dot + 3, piece.size() - dot - 4);
      }
      literal_ = false;
    } else {
      if (piece.empty() || piece.find('{') != std::string_view::npos)
        throw std::logic_error("bad route pattern segment: " + std::string(text_));
      seg.literal = piece;
    }
    segments_.push_back(seg);
    if (slash == std::string_view::npos) break;
    rest.remove_prefix(slash + 1);
  }
  if (segments_.size() > kMaxSegments) throw std::logic_error("route pattern has too many segments");
}

bool PathPattern::match(std::string_view path, PathParams& params) const {
  if (literal_) return path == text_;
  params = {};
  if (path.empty() || path.front() != '/') return false;
  std::string_view rest = path.substr(1);
  for (size_t i = 0; i < segments_.size(); ++i) {
    auto slash = rest.find('/');
    bool last = i + 1 == segments_.size();
    if (last != (slash == std::string_view::npos)) return false;  // more or fewer segments
    auto piece = rest.substr(0, slash);
    const auto& seg = segments_[i];
    if (!seg.param()) {
      if (piece != seg.literal) return false;
    } else if (seg.dotted()) {
      auto dot = piece.rfind('.');
      if (dot == std::string_view::npos || dot == 0 || dot + 1 == piece.size()) return false;
      params.add(seg.name, piece.substr(0, dot));
      params.add(seg.second_name, piece.substr(dot + 1));
    } else {
      if (piece.empty()) return false;
      params.add(seg.name, piece);
    }
    if (!last) rest.remove_prefix(slash + 1);
  }
  return true;
}

bool PathPattern::overlaps(const PathPattern& other) const {
  if (segments_.size() != other.segments_.size()) return false;
  if (segments_.empty()) return true;  // both "/"
  auto fits = [](const Segment& lit, const Segment& p) {  // a literal segment against any segment
    if (!p.param()) return lit.literal == p.literal;
    if (!p.dotted()) return true;
    auto dot = lit.literal.rfind('.');
    return dot != std::string_view::npos && dot != 0 && dot + 1 != lit.literal.size();
  };
  for (size_t i = 0; i < segments_.size(); ++i) {
    const auto& a = segments_[i];
    const auto& b = other.segments_[i];
    if (!a.param() && !fits(a, b)) return false;
    if (!b.param() && !fits(b, a)) return false;
  }
  return true;
}

}  // namespace imgpipe::gateway::routes
