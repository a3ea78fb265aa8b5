#include "util/glob.h"

#include <fstream>

namespace ferry {

namespace {

// [set] at p[0] == '['; on success *len is its length in the pattern.
bool MatchSet(std::string_view p, char c, size_t* len) {
  size_t i = 1;
  bool negate = i < p.size() && (p[i] == '!' || p[i] == '^');
  if (negate) i++;
  bool hit = false;
  size_t start = i;
  for (; i < p.size() && (p[i] != ']' || i == start); i++) {
    if (i + 2 < p.size() && p[i + 1] == '-' && p[i + 2] != ']') {
      hit |= p[i] <= c && c <= p[i + 2];
      i += 2;
    } else {
      hit |= p[i] == c;
    }
  }
  if (i >= p.size()) return false;  // no closing ']': not a set
  *len = i + 1;
  return hit != negate && c != '/';
}

}  // namespace

bool GlobMatch(std::string_view p, std::string_view s) {
  if (p.empty()) return s.empty();
  if (p.substr(0, 2) == "**") {
    std::string_view rest = p.substr(2);
    // "**/" also matches no directory at all.
    if (rest.substr(0, 1) == "/" && GlobMatch(rest.substr(1), s)) return true;
    for (size_t i = 0; i <= s.size(); i++)
      if (GlobMatch(rest, s.substr(i))) return true;
    return false;
  }
  if (p[0] == '*') {
    for (size_t i = 0; i <= s.size(); i++) {
      if (GlobMatch(p.substr(1), s.substr(i))) return true;
      if (i < s.size() && s[i] == '/') break;  // '*' stays within a segment
    }
    return false;
  }
  if (s.empty()) return false;
  if (p[0] == '?') return s[0] != '/' && GlobMatch(p.substr(1), s.substr(1));
  if (p[0] == '[') {
    size_t len = 0;
    if (MatchSet(p, s[0], &len)) return GlobMatch(p.substr(len), s.substr(1));
    if (len) return false;  // a set that did not match
    // An unclosed '[' is a literal.
  }
  if (p[0] == '\\' && p.size() > 1) p.remove_prefix(1);  // an escaped character
  return p[0] == s[0] && GlobMatch(p.substr(1), s.substr(1));
}

std::string PathFilter::Normalize(std::string p) {
  while (p.size() > 1 && p.back() == '/') p.pop_back();  // "node_modules/": the directory
  return p;
}

bool PathFilter::Matches(const std::string& pattern, std::string_view path) {
  const bool anchored = pattern.find('/') != std::string::npos;
  std::string_view pat = pattern;
  if (!pat.empty() && pat[0] == '/') pat.remove_prefix(1);
  // The path itself, or any directory above it (a matched directory holds it).
  for (size_t end = path.size();; end = path.rfind('/', end - 1)) {
    std::string_view prefix = path.substr(0, end);
    std::string_view name = anchored ? prefix : prefix.substr(prefix.rfind('/') + 1);
    if (GlobMatch(pat, name)) return true;
    if (end == 0 || path.rfind('/', end - 1) == std::string_view::npos) break;
  }
  return false;
}

bool PathFilter::Included(std::string_view path) const {
  bool in = true;
  for (const auto& r : rules_)
    if (Matches(r.pattern, path)) in = r.include;
  return in;
}

Status PathFilter::ExcludeFrom(const std::string& file) {
  std::ifstream in(file);
  if (!in) return Status::Usage("--exclude-from: cannot read " + file);
  std::string line;
  while (std::getline(in, line)) {
    while (!line.empty() && (line.back() == '\r' || line.back() == ' ')) line.pop_back();
    if (line.empty() || line[0] == '#') continue;
    Exclude(line);
  }
  return Status::OK();
}

}  // namespace ferry
