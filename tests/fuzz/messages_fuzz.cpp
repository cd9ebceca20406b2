// The topic message codecs on arbitrary bytes: decode must throw
// schemas::Error or return a message that encodes and decodes to the same
// encoding (a round trip through what the bus would carry).
#include <string>

#include "schemas/account_event.h"
#include "schemas/errors.h"
#include "schemas/messages.h"

namespace {

template <typename Decode>
void round_trip(const std::string& json, Decode decode) {
  try {
    auto first = decode(json);
    std::string encoded = encode_of(first);
    auto second = decode(encoded);
    if (encode_of(second) != encoded) __builtin_trap();
  } catch (const imgpipe::schemas::Error&) {
  }
}

}  // namespace

namespace imgpipe::schemas {
std::string encode_of(const IngestJob& m) { return encode(m); }
std::string encode_of(const ImageEvent& m) { return encode(m); }
std::string encode_of(const DeadLetter& m) { return encode(m); }
std::string encode_of(const ImageRecord& m) { return encode_record(m); }
std::string encode_of(const AccountEvent& m) { return encode(m); }
std::string encode_of(const Account& m) { return encode_account(m); }
}  // namespace imgpipe::schemas

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  using namespace imgpipe::schemas;
  if (size == 0) return 0;
  std::string json(reinterpret_cast<const char*>(data) + 1, size - 1);
  switch (data[0] % 6) {
    case 0: round_trip(json, decode_ingest_job); break;
    case 1: round_trip(json, decode_image_event); break;
    case 2: round_trip(json, decode_dead_letter); break;
    case 3: round_trip(json, decode_record); break;
    case 4: round_trip(json, decode_account_event); break;
    default: round_trip(json, decode_account); break;
  }
  return 0;
}
