#include "transport/aws/config.h"

#include <cstdlib>
#include <fstream>

namespace ferry {

std::string Env(const char* name) {
  const char* v = std::getenv(name);
  return v ? v : "";
}

IniFile ReadIni(const std::string& path) {
  IniFile out;
  std::ifstream in(path);
  std::string line, section;
  auto trim = [](std::string s) {
    size_t a = s.find_first_not_of(" \t\r"), b = s.find_last_not_of(" \t\r");
    return a == std::string::npos ? std::string() : s.substr(a, b - a + 1);
  };
  while (std::getline(in, line)) {
    line = trim(line);
    if (line.empty() || line[0] == '#' || line[0] == ';') continue;
    if (line.front() == '[' && line.back() == ']') {
      section = trim(line.substr(1, line.size() - 2));
      if (section.rfind("profile ", 0) == 0) section = trim(section.substr(8));
      continue;
    }
    size_t eq = line.find('=');
    if (eq != std::string::npos) out[section][trim(line.substr(0, eq))] = trim(line.substr(eq + 1));
  }
  return out;
}

AwsFiles AwsFilesFromEnvironment() {
  AwsFiles f;
  std::string home = Env("HOME");
  f.profile = Env("AWS_PROFILE").empty() ? "default" : Env("AWS_PROFILE");
  f.credentials_path = Env("AWS_SHARED_CREDENTIALS_FILE").empty()
                           ? home + "/.aws/credentials"
                           : Env("AWS_SHARED_CREDENTIALS_FILE");
  f.config_path = Env("AWS_CONFIG_FILE").empty() ? home + "/.aws/config" : Env("AWS_CONFIG_FILE");
  return f;
}

}  // namespace ferry
