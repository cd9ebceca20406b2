#pragma once
// Streaming multipart/form-data (RFC 7578 over RFC 2046) parser. Fed the body
// in chunks of any size (a boundary may be split at any byte); file parts go
// to the callbacks as they arrive and are never held in memory. Only a part's
// header block (bounded) is buffered.
//
// Every malformed input throws schemas::Error(ErrorCode::bad_request) with a
// message safe to show the client.

#include <cstddef>
#include <cstdint>
#include <functional>
#include <optional>
#include <string>
#include <string_view>

namespace imgpipe::gateway {

struct MultipartLimits {
  size_t max_header_bytes = 8 * 1024;  // one part's header block
  size_t max_parts = 32;
  size_t max_field_bytes = 64 * 1024;  // a part without filename (a form field)
};

struct MultipartPart {
  std::string name;                     // Content-Disposition name (required)
  std::optional<std::string> filename;  // set for file parts, even when empty
  std::string content_type;             // empty when the part has none
};

// The boundary parameter of a "multipart/form-data; boundary=..." Content-Type
// (quoted or not). Throws bad_request when the type is not multipart/form-data
// or the boundary is missing, longer than 70 characters or has characters
// RFC 2046 forbids.
std::string multipart_boundary(std::string_view content_type);

class MultipartParser {
 public:
  struct Callbacks {
    // Return false to skip the part's data (on_part_data is not called for it).
    std::function<bool(const MultipartPart&)> on_part_begin;
    std::function<void(const char* data, size_t size)> on_part_data;
    std::function<void()> on_part_end;
  };

  MultipartParser(std::string boundary, Callbacks callbacks, MultipartLimits limits = {});

  // Feeds the next bytes of the body. Callbacks run from inside; exceptions
  // they throw propagate (and leave the parser unusable).
  void feed(const char* data, size_t size);
  void feed(std::string_view data) { feed(data.data(), data.size()); }
  // The body ended: throws unless the closing boundary was seen.
  void finish();

  bool done() const { return state_ == State::epilogue; }
  size_t parts() const { return parts_; }

 private:
  enum class State { preamble, boundary_tail, boundary_dash, boundary_lf, headers, data, epilogue };

  void start_part();
  void emit(const char* data, size_t size);
  size_t scan(const char* p, size_t n, bool keep_data);

  std::string delimiter_;  // "\r\n--" + boundary
  Callbacks cb_;
  MultipartLimits limits_;
  State state_ = State::preamble;
  size_t match_ = 2;  // bytes of delimiter_ matched; the body start counts as a CRLF
  std::string header_block_;
  MultipartPart part_;
  bool keep_ = false;
  size_t part_bytes_ = 0;
  size_t parts_ = 0;
};

}  // namespace imgpipe::gateway
