// The format sniffer on arbitrary heads: no crash, no read past the span, and
// the answer depends only on the bytes given (asked twice, same answer).
#include <span>
#include <vector>

#include "workers/image/format.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  std::vector<uint8_t> copy(data, data + size);  // exact-size heap buffer: ASan sees any overread
  auto first = imgpipe::workers::image::sniff(std::span<const uint8_t>(copy));
  auto second = imgpipe::workers::image::sniff(std::span<const uint8_t>(copy));
  if (first != second) __builtin_trap();
  if (first) (void)imgpipe::workers::image::mime_type(*first);
  (void)imgpipe::workers::image::format_from_name(std::string_view(reinterpret_cast<const char*>(data), size));
  return 0;
}
