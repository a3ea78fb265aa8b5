// Path filters for push (--exclude / --include / --exclude-from), with the
// semantics documented in docs/filters.md:
//   *   any run of characters within one path segment (not '/')
//   **  any run of characters across segments ("a/**/b" also matches "a/b")
//   ?   one character other than '/';  [abc] [a-z] [!x]  one character of a set
//   A pattern without '/' matches a name at any depth ("*.log", "node_modules");
//   one with '/' matches from the top of the source ("dist/*.map"; a leading
//   '/' is allowed). A pattern that matches a directory matches everything in it.
//   Rules apply in the order given and the last one that matches a path decides
//   (as in aws s3 sync); a path no rule matches is included.
#pragma once

#include <string>
#include <string_view>
#include <vector>

#include "util/status.h"

namespace ferry {

// Whether `path` (relative, '/'-separated) matches `pattern` as a whole.
bool GlobMatch(std::string_view pattern, std::string_view path);

class PathFilter {
 public:
  void Exclude(std::string pattern) { rules_.push_back({Normalize(std::move(pattern)), false}); }
  void Include(std::string pattern) { rules_.push_back({Normalize(std::move(pattern)), true}); }
  // One pattern per line; blank lines and lines starting with '#' are skipped.
  // kUsage naming the file if it cannot be read.
  Status ExcludeFrom(const std::string& file);
  bool empty() const { return rules_.empty(); }
  // The rules, one per line ("-pattern" or "+pattern"): equal for equal filters.
  std::string Describe() const {
    std::string s;
    for (const auto& r : rules_) s += (r.include ? "+" : "-") + r.pattern + "\n";
    return s;
  }
  // Whether `path` stays in (a file or a directory).
  bool Included(std::string_view path) const;
  // Whether one pattern matches `path` by these rules (names at any depth,
  // directories holding their contents).
  static bool MatchesPath(const std::string& pattern, std::string_view path) {
    return Matches(Normalize(pattern), path);
  }

 private:
  struct Rule {
    std::string pattern;
    bool include;
  };
  static std::string Normalize(std::string p);
  static bool Matches(const std::string& pattern, std::string_view path);
  std::vector<Rule> rules_;
};

}  // namespace ferry
