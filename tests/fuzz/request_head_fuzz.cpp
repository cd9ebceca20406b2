// What the transport decides from a request's head before reading a body:
// the framing check (request_head.h), the target split and the query
// decoding. None may crash; a head accepted as unambiguous has at most one
// framing header, and a split target has an absolute path.
#include <string>

#include "gateway/http/http_types.h"
#include "gateway/http/request_head.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  std::string input(reinterpret_cast<const char*>(data), size);
  auto split = input.find('\n');
  std::string target = split == std::string::npos ? input : input.substr(0, split);
  std::string head = split == std::string::npos ? std::string() : input.substr(split + 1);

  // A head without its blank line is incomplete: the parser waits for more and
  // the check runs again on the whole head, so only whole heads are held to it.
  if (head.find("\r\n\r\n") != std::string::npos && !imgpipe::gateway::ambiguous_request_head(head)) {
    // Accepted: "Content-Length" and "Transfer-Encoding" never both appear as field names.
    bool cl = false, te = false;
    size_t pos = 0;
    while ((pos = head.find("\r\n", pos)) != std::string::npos) {
      pos += 2;
      auto rest = std::string_view(head).substr(pos);
      auto lower = [](std::string_view s, std::string_view prefix) {
        if (s.size() < prefix.size()) return false;
        for (size_t i = 0; i < prefix.size(); ++i)
          if ((s[i] | 0x20) != prefix[i]) return false;
        return true;
      };
      if (rest.empty() || rest.substr(0, 2) == "\r\n") break;
      if (lower(rest, "content-length:")) cl = true;
      if (lower(rest, "transfer-encoding:")) te = true;
    }
    if (cl && te) __builtin_trap();
  }

  imgpipe::gateway::Request req;
  req.target = target;
  if (!imgpipe::gateway::split_request_target(target, req.path, req.query)) {
    if (req.path.empty() || req.path.front() != '/') __builtin_trap();
    (void)req.query_param("size");
    (void)req.query_param(std::string_view(target).substr(0, std::min<size_t>(target.size(), 8)));
  }
  return 0;
}
