// Engine-level helpers for the unit tests: small chunks and small pushes.
#pragma once

#include <string>

#include "engine/ops.h"
#include "engine/pipeline.h"

namespace ferry::testing {

// 16K/64K/256K chunks, 64 KiB blocks, a 32 MiB budget: many chunks from small test files.
inline void UseSmallChunks(PipelineOptions* p) {
  p->chunking.min_size = 16 << 10;
  p->chunking.avg_size = 64 << 10;
  p->chunking.max_size = 256 << 10;
  p->block_size = 64 << 10;
  p->memory_budget = 32 << 20;
}

// A push of `src` to `ref` with small chunks (UseSmallChunks).
inline PushOptions SmallPush(const std::string& src, const std::string& ref = "app/main") {
  PushOptions o;
  o.sources = {src};
  o.ref = ref;
  UseSmallChunks(&o.pipeline);
  return o;
}

// SmallPush with every chunk an object of its own under chunks/, as format 2
// stored them (no packs): for tests that damage or remove one chunk's object.
// Packed chunks: engine/pack_test.cc.
inline PushOptions LoosePush(const std::string& src, const std::string& ref = "app/main") {
  PushOptions o = SmallPush(src, ref);
  o.pack_below = 0;
  return o;
}

}  // namespace ferry::testing
