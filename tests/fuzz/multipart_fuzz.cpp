// The multipart parser fed the same body whole and in random splits: it must
// never crash, and both feedings must report the same parts and bytes (a
// boundary may be cut at any byte).
#include <fuzzer/FuzzedDataProvider.h>

#include <string>
#include <vector>

#include "gateway/http/multipart.h"
#include "schemas/errors.h"

namespace {

using imgpipe::gateway::MultipartParser;
using imgpipe::gateway::MultipartPart;

struct Outcome {
  std::vector<std::string> parts;  // name, filename and data of each
  bool failed = false;
  bool done = false;
};

Outcome run(const std::string& boundary, const std::string& body, const std::vector<size_t>& cuts) {
  Outcome out;
  MultipartParser::Callbacks cb;
  cb.on_part_begin = [&](const MultipartPart& p) {
    out.parts.push_back(p.name + "|" + p.filename.value_or("-") + "|" + p.content_type + "|");
    return true;
  };
  cb.on_part_data = [&](const char* d, size_t n) { out.parts.back().append(d, n); };
  try {
    MultipartParser parser(boundary, cb);
    size_t at = 0;
    for (size_t cut : cuts) {
      size_t n = std::min(cut, body.size() - at);
      parser.feed(body.data() + at, n);
      at += n;
    }
    parser.feed(body.data() + at, body.size() - at);
    parser.finish();
    out.done = true;
  } catch (const imgpipe::schemas::Error&) {
    out.failed = true;
  }
  return out;
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  FuzzedDataProvider in(data, size);
  std::string boundary = in.ConsumeBool() ? "B" : "----WebKitFormBoundary7MA4YWxkTrZu0gW";
  std::vector<size_t> cuts;
  for (int i = in.ConsumeIntegralInRange(0, 16); i > 0; --i) cuts.push_back(in.ConsumeIntegralInRange<size_t>(0, 64));
  std::string body = in.ConsumeRemainingBytesAsString();
  Outcome whole = run(boundary, body, {});
  Outcome split = run(boundary, body, cuts);
  // A parser that fails stops where it failed, so only the verdicts must agree then.
  if (whole.failed != split.failed || whole.done != split.done) __builtin_trap();
  if (!whole.failed && whole.parts != split.parts) __builtin_trap();
  // The Content-Type parameter parser on the same bytes.
  try {
    (void)imgpipe::gateway::multipart_boundary(body.substr(0, 200));
  } catch (const imgpipe::schemas::Error&) {
  }
  return 0;
}
