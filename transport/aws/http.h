// A small synchronous HTTP client (libcurl easy) for the credential
// endpoints: container credentials, instance metadata, STS. S3 traffic goes
// through S3Client; this is for a few requests an hour. TLS is verified.
#pragma once

#include <string>
#include <utility>
#include <vector>

#include "util/status.h"

namespace ferry {

struct HttpReply {
  long status = 0;
  std::string body;
};

// kStoreUnavailable naming `url` if no answer came within timeout_ms (the
// whole request); an HTTP error status is returned as a reply, not an error.
Result<HttpReply> HttpRequest(const std::string& method, const std::string& url,
                              const std::vector<std::pair<std::string, std::string>>& headers,
                              const std::string& body, long timeout_ms);

}  // namespace ferry
