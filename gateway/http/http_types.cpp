#include "gateway/http/http_types.h"

#include <algorithm>
#include <cstring>

#include <boost/url/params_view.hpp>

#include "gateway/http/error_response.h"
#include "schemas/log.h"

namespace imgpipe::gateway {
namespace {

bool iequals(std::string_view a, std::string_view b) {
  if (a.size() != b.size()) return false;
  for (size_t i = 0; i < a.size(); ++i) {
    auto lower = [](char c) { return (c >= 'A' && c <= 'Z') ? static_cast<char>(c - 'A' + 'a') : c; };
    if (lower(a[i]) != lower(b[i])) return false;
  }
  return true;
}

bool is_framing_header(std::string_view name) {
  return iequals(name, "Connection") || iequals(name, "Content-Length") || iequals(name, "Transfer-Encoding");
}

bool is_safe_header_text(std::string_view v) {
  // Three memchr scans beat one byte loop: every header of every answer passes here.
  return !std::memchr(v.data(), '\r', v.size()) && !std::memchr(v.data(), '\n', v.size()) &&
         !std::memchr(v.data(), '\0', v.size());
}

}  // namespace

bool sendable_header(std::string_view name, std::string_view value, std::string_view request_id) {
  if (is_framing_header(name)) return false;
  if (is_safe_header_text(name) && is_safe_header_text(value)) return true;
  log::error("unsafe_header", {{"request_id", request_id}, {"header", name}});  // a line break or NUL: not sent
  return false;
}

void append_header_lines(std::string& out, const Headers& headers, std::string_view request_id) {
  for (const auto& [k, v] : headers) {
    if (!sendable_header(k, v, request_id)) continue;
    out += k;
    out += ": ";
    out += v;
    out += "\r\n";
  }
}

std::string_view Request::header(std::string_view name) const {
  for (const auto& [k, v] : headers)
    if (iequals(k, name)) return v;
  return {};
}

std::optional<std::string> Request::query_param(std::string_view name) const {
  // Nothing to decode ("size=m", the hot src case): split by hand.
  if (std::none_of(query.begin(), query.end(), [](char c) { return c == '%' || c == '+'; })) {
    std::string_view rest = query;
    while (!rest.empty()) {
      auto amp = rest.find('&');
      auto pair = rest.substr(0, amp);
      auto eq = pair.find('=');
      if (pair.substr(0, eq) == name)
        return eq == std::string_view::npos ? std::string() : std::string(pair.substr(eq + 1));
      if (amp == std::string_view::npos) break;
      rest.remove_prefix(amp + 1);
    }
    return std::nullopt;
  }
  // '+' is a space in HTML form queries; a malformed query (bad %-escape) has no params.
  boost::urls::encoding_opts opt;
  opt.space_as_plus = true;
  try {
    boost::urls::params_view params(boost::urls::string_view(query.data(), query.size()), opt);
    for (const auto& p : params)
      if (p.key == name) return p.has_value ? p.value : std::string();
  } catch (const std::exception&) {
    return std::nullopt;
  }
  return std::nullopt;
}

std::vector<std::pair<std::string, std::string>> Request::query_params() const {
  std::vector<std::pair<std::string, std::string>> out;
  boost::urls::encoding_opts opt;
  opt.space_as_plus = true;
  try {
    boost::urls::params_view params(boost::urls::string_view(query.data(), query.size()), opt);
    for (const auto& p : params) out.emplace_back(p.key, p.has_value ? p.value : std::string());
  } catch (const std::exception&) {
    return {};
  }
  return out;
}

void Response::set(std::string_view name, std::string value) {
  for (auto& [k, v] : headers) {
    if (iequals(k, name)) {
      v = std::move(value);
      return;
    }
  }
  headers.emplace_back(std::string(name), std::move(value));
}

Response Response::json(int status, std::string body) {
  Response r;
  r.status = status;
  r.body = std::move(body);
  r.set("Content-Type", "application/json");
  return r;
}

Response Response::html(int status, std::string body) {
  Response r;
  r.status = status;
  r.body = std::move(body);
  r.set("Content-Type", "text/html; charset=utf-8");
  return r;
}

Response Response::error(const schemas::Error& e) { return error_response(e); }

}  // namespace imgpipe::gateway
