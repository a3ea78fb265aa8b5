// The one place where errno becomes a Status, and the file helpers built on it.
#pragma once

#include <string>
#include <string_view>
#include <vector>

#include "util/status.h"

namespace ferry {

// Maps errno to a Status: ENOSPC/EDQUOT -> kNoSpace, ENOENT -> kNotFound,
// anything else -> `fallback`. Message: "<context>: <strerror>".
Status PosixError(const std::string& context, int err, Code fallback = Code::kStoreUnavailable);

// Reads a whole file. kNotFound if it does not exist.
Result<std::string> ReadFileToString(const std::string& path);

// Writes `data` to dir/name atomically: a unique temp file in `dir`, fsync,
// rename over the final name, fsync of `dir`. A crash leaves either the old
// content or the new, never a partial file under `name`. Temp files start
// with kTempPrefix.
inline constexpr std::string_view kTempPrefix = ".ferry-tmp-";
Status WriteFileAtomic(const std::string& dir, const std::string& name, std::string_view data,
                       bool sync = true);

// mkdir -p with mode 0755.
Status MkdirAll(const std::string& path);
Status FsyncDir(const std::string& dir);
// Names in a directory, without "." and "..". kNotFound if it does not exist.
Result<std::vector<std::string>> ListDir(const std::string& dir);
// Writes all of `data` to fd (handles short writes and EINTR).
Status WriteAll(int fd, std::string_view data, const std::string& what);
// Unique suffix for temp names: pid + counter + random.
std::string UniqueSuffix();

}  // namespace ferry
