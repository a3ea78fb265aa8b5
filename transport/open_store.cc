#include <sys/stat.h>

#include "transport/local_store.h"
#include "transport/object_store.h"
#include "util/posix.h"

namespace ferry {

namespace {
// Written at the root of every store; docs/store-format.md.
constexpr char kMarkerKey[] = "FERRY-STORE";
constexpr char kMarkerBody[] = "ferry store format 1\n";
}  // namespace

Result<std::unique_ptr<ObjectStore>> OpenStore(const std::string& url, bool create) {
  std::string path = url;
  if (url.rfind("s3://", 0) == 0)
    return Status::Usage(
        "s3:// stores are not supported by this build yet; use a directory or file:///path");
  if (url.rfind("file://", 0) == 0) path = url.substr(7);
  if (url.find("://") != std::string::npos && url.rfind("file://", 0) != 0)
    return Status::Usage("unknown store URL scheme in '" + url +
                         "': use a directory path or file:///path");
  if (path.empty() || path[0] != '/') {
    if (path.empty()) return Status::Usage("empty store path");
    char* cwd = getcwd(nullptr, 0);
    if (cwd) {
      path = std::string(cwd) + "/" + path;
      free(cwd);
    }
  }
  struct stat st;
  bool exists = stat(path.c_str(), &st) == 0;
  if (exists && !S_ISDIR(st.st_mode))
    return Status::StoreUnavailable("store " + path + " exists and is not a directory");
  if (!exists && !create)
    return Status::StoreUnavailable("store " + path +
                                    " does not exist (push to it first, or check the path)");
  if (!exists) RETURN_IF_ERROR(MkdirAll(path).WithContext("cannot create store"));
  auto store = std::make_unique<LocalStore>(path);
  auto marker = store->Get(kMarkerKey);
  if (marker.ok()) {
    if (*marker != kMarkerBody)
      return Status::StoreUnavailable("store " + path + " has an unknown format (" + kMarkerKey +
                                      "); it was written by a newer Ferry or is damaged");
    return std::unique_ptr<ObjectStore>(std::move(store));
  }
  if (marker.status().code() != Code::kNotFound) return marker.take_status();
  if (!create)
    return Status::StoreUnavailable(path + " is not a Ferry store (no " + kMarkerKey +
                                    " file); check the path");
  auto names = ListDir(path);
  if (!names.ok()) return names.take_status();
  if (!names->empty())
    return Status::StoreUnavailable(
        path + " is not empty and is not a Ferry store; choose a new or empty directory");
  RETURN_IF_ERROR(store->Put(kMarkerKey, kMarkerBody));
  return std::unique_ptr<ObjectStore>(std::move(store));
}

}  // namespace ferry
