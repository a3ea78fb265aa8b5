// The AWS shared configuration and credentials files (~/.aws/config,
// ~/.aws/credentials) and the environment variables the AWS CLI and SDKs
// read, as far as Ferry uses them.
#pragma once

#include <map>
#include <string>

namespace ferry {

// section -> key -> value. "[profile dev]" (config file) is section "dev".
using IniFile = std::map<std::string, std::map<std::string, std::string>>;
IniFile ReadIni(const std::string& path);

// $NAME, or "" if unset.
std::string Env(const char* name);

struct AwsFiles {
  std::string profile;           // AWS_PROFILE, else "default"
  std::string credentials_path;  // AWS_SHARED_CREDENTIALS_FILE, else ~/.aws/credentials
  std::string config_path;       // AWS_CONFIG_FILE, else ~/.aws/config
};
AwsFiles AwsFilesFromEnvironment();

}  // namespace ferry
