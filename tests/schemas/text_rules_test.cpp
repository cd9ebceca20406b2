#include "schemas/text_rules.h"

#include <gtest/gtest.h>

#include <string>

#include "schemas/errors.h"

namespace imgpipe::schemas {
namespace {

// The hostile inputs of issue 16, each with what cleaning leaves of it.
struct Hostile {
  std::string input, cleaned;
};
const Hostile kHostile[] = {
    {std::string("cat\0.jpg", 8), "cat.jpg"},
    {"cat\r\nSet-Cookie: x", "cat  Set-Cookie: x"},
    {"cat\x1b[31mred", "cat[31mred"},
    {"cat\x7f", "cat"},
    {"cat\xc2\x85next", "catnext"},                      // U+0085 (C1 NEL)
    {"invoice\xe2\x80\xaegpj.exe", "invoicegpj.exe"},      // U+202E RIGHT-TO-LEFT OVERRIDE
    {"a\xe2\x81\xa6" "b\xe2\x81\xa9", "ab"},              // U+2066 .. U+2069 isolates
    {"slash\xc0\xaf", "slash\xef\xbf\xbd\xef\xbf\xbd"},  // overlong '/'
    {"nul\xc0\x80", "nul\xef\xbf\xbd\xef\xbf\xbd"},      // overlong NUL
    {"sur\xed\xa0\x80", "sur\xef\xbf\xbd\xef\xbf\xbd\xef\xbf\xbd"},  // a UTF-16 surrogate
    {"cut\xe2\x82", "cut\xef\xbf\xbd\xef\xbf\xbd"},                // truncated sequence
};

TEST(TextRules, HostileInputsAreProblems) {
  for (const auto& h : kHostile) EXPECT_NE(text_problem(h.input, 255), "") << h.input;
  EXPECT_EQ(text_problem(std::string(10 * 1024, 'a'), 255), "is longer than 255 bytes");
}

TEST(TextRules, FineTextIsNoProblem) {
  for (std::string s : {"", "cat.jpg", "Caf\xc3\xa9 \xe6\x97\xa5\xe6\x9c\xac \xf0\x9f\x90\x88", "a b-c_d (1)"})
    EXPECT_EQ(text_problem(s, 255), "") << s;
}

TEST(TextRules, CleaningRemovesWhatIsHostileAndKeepsTheRest) {
  for (const auto& h : kHostile) {
    EXPECT_EQ(clean_text(h.input, 255), h.cleaned) << h.input;
    EXPECT_EQ(text_problem(clean_text(h.input, 255), 255), "") << h.input;
  }
  EXPECT_EQ(clean_text("  Caf\xc3\xa9\t ", 255), "Caf\xc3\xa9");
}

TEST(TextRules, CleaningCutsLongTextAtACharacterBoundary) {
  std::string ten_kb;
  while (ten_kb.size() < 10 * 1024) ten_kb += "\xc3\xa9";  // 2-byte characters
  auto cut = clean_text("x" + ten_kb, 255);
  EXPECT_LE(cut.size(), 255u);
  EXPECT_GE(cut.size(), 254u);
  EXPECT_EQ(text_problem(cut, 255), "");
}

TEST(TextRules, RequireThrowsValidationErrorNamingTheField) {
  try {
    require_clean_text("a\xe2\x80\xae", 50, "tags");
    FAIL() << "no throw";
  } catch (const Error& e) {
    EXPECT_EQ(e.id(), ErrorCode::invalid_field);
    EXPECT_EQ(e.info().code, "validation_error");
    EXPECT_NE(std::string(e.what()).find("'tags'"), std::string::npos) << e.what();
  }
  EXPECT_NO_THROW(require_clean_text("fine", 50, "tags"));
}

}  // namespace
}  // namespace imgpipe::schemas
