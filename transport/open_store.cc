#include <sys/stat.h>
#include <unistd.h>

#include "transport/local_store.h"
#include "transport/object_store.h"
#include "transport/read_only_store.h"
#include "util/posix.h"

namespace ferry {

namespace {

// Written at the root of every store; docs/store-format.md.
constexpr char kMarkerKey[] = "FERRY-STORE";

// Format 3 and later: a store raised from 1 or 2 may hold small chunks loose.
constexpr char kLooseFlag[] = "loose small chunks\n";

std::string MarkerBody(int version, bool loose = false) {
  return "ferry store format " + std::to_string(version) + "\n" + (loose ? kLooseFlag : "");
}

// The version a marker names; 0 if it names none this Ferry reads.
int MarkerVersion(const std::string& body) {
  for (int v = 1; v <= kStoreFormat; v++)
    if (body == MarkerBody(v) || (v >= 3 && body == MarkerBody(v, true))) return v;
  return 0;
}

Status UnknownFormat(ObjectStore* store) {
  return Status::StoreUnavailable("store " + store->Describe() + " has an unknown format (" +
                                  kMarkerKey + "); it was written by a newer Ferry or is damaged");
}

}  // namespace

// The marker's bytes; read once more if they name no format (a copy damaged
// on its way is not a store of an unknown format).
Result<std::string> GetMarker(ObjectStore* store) {
  ASSIGN_OR_RETURN(std::string body, store->Get(kMarkerKey));
  if (MarkerVersion(body) == 0) return store->Get(kMarkerKey);
  return body;
}

Result<int> StoreFormat(ObjectStore* store) {
  ASSIGN_OR_RETURN(std::string body, GetMarker(store));
  int v = MarkerVersion(body);
  if (v == 0) return UnknownFormat(store);
  return v;
}

Result<bool> StoreMayHoldLooseSmallChunks(ObjectStore* store) {
  auto body = GetMarker(store);
  if (!body.ok() && body.status().code() == Code::kNotFound) return true;
  RETURN_IF_ERROR(body.status());
  int v = MarkerVersion(*body);
  if (v == 0) return UnknownFormat(store);
  return v < 3 || *body == MarkerBody(v, true);
}

Status UpgradeStoreFormat(ObjectStore* store, int to) {
  auto v = StoreFormat(store);
  // No marker: not opened as a store (an in-memory test store); nothing to raise.
  if (!v.ok() && v.status().code() == Code::kNotFound) return Status::OK();
  RETURN_IF_ERROR(v.status());
  if (*v >= to) return Status::OK();
  return store->Put(kMarkerKey, MarkerBody(to, /*loose=*/to >= 3 && *v < 3));
}

Status CheckStoreMarker(ObjectStore* store, OpenMode mode,
                        const std::function<Result<bool>()>& is_empty) {
  auto marker = GetMarker(store);
  if (marker.ok()) {
    if (MarkerVersion(*marker) == 0) return UnknownFormat(store);
    return Status::OK();
  }
  if (marker.status().code() != Code::kNotFound) return marker.take_status();
  if (mode == OpenMode::kExisting)
    return Status::StoreUnavailable(store->Describe() + " is not a Ferry store (no " + kMarkerKey +
                                    "); check the path or URL");
  // Two pushes may create one store at the same moment: whoever writes the
  // marker second finds the first one's marker, and that is a store.
  auto marked_meanwhile = [&]() -> bool {
    auto again = store->Get(kMarkerKey);
    return again.ok() && MarkerVersion(*again) != 0;
  };
  ASSIGN_OR_RETURN(bool empty, is_empty());
  if (!empty) {
    if (marked_meanwhile()) return Status::OK();
    return Status::StoreUnavailable(store->Describe() +
                                    " is not empty and is not a Ferry store; choose a new or empty "
                                    "directory or prefix");
  }
  if (mode == OpenMode::kDryRun) return Status::OK();  // it would become a store
  Status st = store->ReplaceIf(kMarkerKey, std::nullopt, MarkerBody(kStoreFormat));
  if (st.code() == Code::kConflict && marked_meanwhile()) return Status::OK();
  return st;
}

namespace {

Result<std::unique_ptr<ObjectStore>> OpenLocal(const std::string& url, OpenMode mode) {
  std::string path = url.rfind("file://", 0) == 0 ? url.substr(7) : url;
  if (path.empty()) return Status::Usage("empty store path");
  if (path[0] != '/') {
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
  if (!exists && mode == OpenMode::kExisting)
    return Status::StoreUnavailable("store " + path +
                                    " does not exist (push to it first, or check the path)");
  if (!exists && mode == OpenMode::kDryRun)  // a store that would be created: empty
    return std::unique_ptr<ObjectStore>(
        std::make_unique<ReadOnlyStore>(nullptr, LocalStore(path).Describe()));
  if (!exists) RETURN_IF_ERROR(MkdirAll(path).WithContext("cannot create store"));
  auto store = std::make_unique<LocalStore>(path);
  RETURN_IF_ERROR(CheckStoreMarker(store.get(), mode, [&]() -> Result<bool> {
    ASSIGN_OR_RETURN(auto names, ListDir(path));
    for (const auto& n : names)  // another push's unfinished write or lock is not content
      if (n.rfind(kTempPrefix, 0) != 0) return false;
    return true;
  }));
  if (mode == OpenMode::kDryRun)
    return std::unique_ptr<ObjectStore>(std::make_unique<ReadOnlyStore>(std::move(store)));
  return std::unique_ptr<ObjectStore>(std::move(store));
}

}  // namespace

Result<std::unique_ptr<ObjectStore>> OpenStore(const std::string& url, OpenMode mode) {
  if (url.rfind("s3://", 0) == 0)
    return Status::Internal("OpenStore opens directory stores; s3:// goes through OpenDestination");
  if (url.find("://") != std::string::npos && url.rfind("file://", 0) != 0)
    return Status::Usage("unknown store URL scheme in '" + url +
                         "': use a directory path, file:///path or s3://bucket/prefix/");
  return OpenLocal(url, mode);
}

}  // namespace ferry
