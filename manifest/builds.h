// Finding a build: what `ferry ls` and `ferry log` show of each, a ref's
// history, and the newest build carrying a tag (`--tag commit=SHA`).
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <utility>
#include <vector>

#include "manifest/manifest.h"
#include "transport/object_store.h"
#include "util/status.h"

namespace ferry {

struct BuildSummary {
  Digest id{};
  Status problem;  // the manifest could not be read: only `id` is set
  int64_t created_unix_ns = 0;
  std::string ref;  // the ref it was pushed to ("" if none)
  std::optional<Digest> parent;
  std::vector<std::pair<std::string, std::string>> tags;
  uint64_t files = 0, bytes = 0;        // regular files and their bytes
  std::optional<Digest> superseded_by;  // a later push replaced its objects in place
  bool has_signature = false;           // a signed statement is stored beside it (not checked here)
};

// Reads manifest `id` (checked against its ID) into a summary; a damaged or
// missing manifest is a summary with `problem` set, not an error.
Result<BuildSummary> SummarizeBuild(ObjectStore* store, const Digest& id);

// Ref `ref`'s builds, newest first, following each build's parent: at most
// `max` (0: all). A damaged manifest ends the walk (its summary says so).
// kNotFound if the ref does not exist.
Result<std::vector<BuildSummary>> RefHistory(ObjectStore* store, const std::string& ref,
                                             size_t max = 0);

// Every ref and the build it points to (BuildSummary::ref is the ref's name
// here), sorted by name.
Result<std::vector<BuildSummary>> ListRefBuilds(ObjectStore* store);

// The newest build (by creation time) carrying tag key=value: in `ref`'s
// history, or among every manifest of the store if `ref` is empty. kNotFound
// naming the tag if none does.
Result<Digest> FindBuildByTag(ObjectStore* store, const std::string& key, const std::string& value,
                              const std::string& ref = "");

}  // namespace ferry
