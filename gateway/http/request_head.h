#pragma once
// What a request's raw header block says about its framing, decided before
// the HTTP parser reads it. Anything two parsers could read differently — a
// proxy in front and imgpipe — is refused, not guessed (request smuggling:
// RFC 9112 6.1 and 6.3, 5.2 obs-fold, 11.2).

#include <optional>
#include <string>
#include <string_view>

namespace imgpipe::gateway {

// `block` is the request line and header fields up to and including the blank
// line ("...\r\n\r\n"). Returns nullopt when the framing is unambiguous, else
// the problem in words safe to show the client:
// - a NUL, a bare CR or a bare LF anywhere;
// - obsolete line folding (a field line starting with SP or HTAB);
// - a field name that is empty or not a token (so "Content-Length :" too);
// - Content-Length repeated, or not 1*DIGIT;
// - Transfer-Encoding repeated, or anything but "chunked";
// - Content-Length and Transfer-Encoding both present.
std::optional<std::string> ambiguous_request_head(std::string_view block);

// Splits a request target into the decoded path and the raw query. Returns
// nullopt on success, else the problem in words for a 400: the target is not
// origin- or absolute-form, or its path is empty, relative or holds a NUL.
std::optional<std::string> split_request_target(std::string_view target, std::string& path, std::string& query);

}  // namespace imgpipe::gateway
