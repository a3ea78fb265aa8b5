// libFuzzer target for the manifest decoder: no input may crash it, and any
// input it accepts must be canonical (re-encoding gives the same bytes), so
// one manifest has exactly one ID.
#include <cstdint>
#include <cstdlib>
#include <string>
#include <string_view>

#include "manifest/manifest.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  std::string_view in(reinterpret_cast<const char*>(data), size);
  auto m = ferry::DecodeManifest(in, "fuzz input");
  if (m.ok()) {
    ferry::Manifest copy = *m;
    if (ferry::EncodeManifest(&copy) != in) std::abort();  // accepted a non-canonical form
  } else if (m.status().code() != ferry::Code::kCorruptManifest) {
    std::abort();  // every rejection is a corrupt-manifest error
  }
  return 0;
}
