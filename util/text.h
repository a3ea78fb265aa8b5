// Escaping text for the formats Ferry writes by hand.
#pragma once

#include <cstdint>
#include <string>

namespace ferry {

// &, <, >, " and ' as XML entities (element text and attribute values).
std::string XmlEscape(const std::string& s);

// A time as RFC 3339 in UTC, to the second: "2026-12-02T12:00:03Z".
std::string UtcTime(int64_t unix_seconds);

}  // namespace ferry
