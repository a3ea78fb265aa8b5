// Escaping text for the formats Ferry writes by hand.
#pragma once

#include <string>

namespace ferry {

// &, <, >, " and ' as XML entities (element text and attribute values).
std::string XmlEscape(const std::string& s);

}  // namespace ferry
