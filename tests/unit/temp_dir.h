#pragma once
// make_temp_dir: a fresh, empty directory for one test's files, named <prefix>XXXXXX under the
// system temp directory (mkdtemp). Throws when it cannot be made, which fails the test.

#include <stdlib.h>

#include <filesystem>
#include <stdexcept>
#include <string>

namespace fp {

inline std::filesystem::path make_temp_dir(const std::string& prefix) {
  std::string tmpl = (std::filesystem::temp_directory_path() / (prefix + "XXXXXX")).string();
  if (mkdtemp(tmpl.data()) == nullptr) throw std::runtime_error("mkdtemp failed: " + tmpl);
  return tmpl;
}

}  // namespace fp
