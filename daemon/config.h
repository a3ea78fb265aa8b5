// The daemon's configuration file (TOML, via toml++): docs/daemon.md has an
// example. Every key has the name of the command-line option that sets it
// (without "--", '-' as '_'); an unknown key is an error, so a typo never
// silently falls back to a default.
#pragma once

#include <string>

#include "daemon/daemon.h"
#include "util/status.h"
#include "util/units.h"

namespace ferry::daemon {

// A duration: "90" or "90s", "5m", "2h", "1d" (also "1.5s"). kUsage naming
// `option` if malformed or negative.
using ferry::ParseDuration;  // util/units.h

// Reads `path`. Jobs start from `defaults` (store options, schedule,
// compression) and override what the file sets. kUsage naming the file, the
// line and the key for anything wrong.
Result<DaemonOptions> LoadConfig(const std::string& path, const JobOptions& defaults);

}  // namespace ferry::daemon
