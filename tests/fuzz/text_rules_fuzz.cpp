// The text rule: whatever clean_text makes of any bytes follows the rule, and
// text that follows it is left as it is (short of trimming).
#include <string>

#include "schemas/text_rules.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  using namespace imgpipe::schemas;
  std::string input(reinterpret_cast<const char*>(data), size);
  std::string cleaned = clean_text(input, 255);
  if (cleaned.size() > 255 || !text_problem(cleaned, 255).empty()) __builtin_trap();
  if (clean_text(cleaned, 255) != cleaned) __builtin_trap();  // cleaning is idempotent
  if (text_problem(input, 255).empty() && input.find_first_of(" \t") == std::string::npos && cleaned != input)
    __builtin_trap();
  return 0;
}
