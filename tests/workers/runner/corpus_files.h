#pragma once
// Photos from the test corpus (tests/corpus, made by ops/corpus; or
// IMGPIPE_TEST_CORPUS) for the worker tests that run the real pipeline.
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <sstream>
#include <string>

namespace imgpipe::test {

inline std::filesystem::path corpus_file(const std::string& name) {
  const char* dir = std::getenv("IMGPIPE_TEST_CORPUS");
  return std::filesystem::path(dir && *dir ? dir : "tests/corpus") / name;
}

inline std::string slurp(const std::filesystem::path& p) {
  std::ifstream in(p, std::ios::binary);
  std::stringstream s;
  s << in.rdbuf();
  return s.str();
}

}  // namespace imgpipe::test
