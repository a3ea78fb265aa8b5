#include "engine/chunk_codec.h"

#include <zstd.h>

#include <cstring>

namespace ferry {

namespace {
constexpr char kRaw = 0;
constexpr char kZstd = 1;
}  // namespace

ChunkEncoder::ChunkEncoder(int level)
    : level_(level), cctx_(level > 0 ? ZSTD_createCCtx() : nullptr) {
  if (cctx_) ZSTD_CCtx_setParameter(static_cast<ZSTD_CCtx*>(cctx_), ZSTD_c_compressionLevel, level);
}

ChunkEncoder::~ChunkEncoder() { ZSTD_freeCCtx(static_cast<ZSTD_CCtx*>(cctx_)); }

void ChunkEncoder::Encode(const uint8_t* data, size_t n, std::string* out) {
  if (level_ > 0) {
    size_t bound = ZSTD_compressBound(n);
    out->resize(1 + bound);
    size_t z = ZSTD_compress2(static_cast<ZSTD_CCtx*>(cctx_), out->data() + 1, bound, data, n);
    if (!ZSTD_isError(z) && z < n - n / 32) {
      (*out)[0] = kZstd;
      out->resize(1 + z);
      return;
    }
  }
  out->resize(1 + n);
  (*out)[0] = kRaw;
  if (n) std::memcpy(out->data() + 1, data, n);
}

size_t ChunkEncoderMemory(uint32_t max_size, int level) {
  if (level <= 0) return max_size + 1;
  // A zstd context at levels <= 9 with <= 4 MiB inputs stays under 8 MiB; higher levels use
  // larger windows and tables.
  size_t ctx = level <= 9 ? (8u << 20) : (64u << 20);
  return ZSTD_compressBound(max_size) + 1 + ctx;
}

Status DecodeChunk(std::string_view stored, const Digest& id, uint32_t size, std::string* out) {
  std::string name = "chunk " + DigestHex(id);
  auto corrupt = [&](const std::string& why) {
    return Status::VerifyFailed(name + " is corrupt: " + why).SetDataLoss();
  };
  if (stored.empty()) return corrupt("the stored object is empty");
  std::string_view payload = stored.substr(1);
  if (stored[0] == kRaw) {
    out->assign(payload.data(), payload.size());
  } else if (stored[0] == kZstd) {
    unsigned long long content = ZSTD_getFrameContentSize(payload.data(), payload.size());
    if (content == ZSTD_CONTENTSIZE_ERROR || content == ZSTD_CONTENTSIZE_UNKNOWN || content != size)
      return corrupt("bad zstd frame header");
    out->resize(size);
    size_t r = ZSTD_decompress(out->data(), size, payload.data(), payload.size());
    if (ZSTD_isError(r)) return corrupt(std::string("zstd: ") + ZSTD_getErrorName(r));
    if (r != size) return corrupt("decompressed to the wrong size");
  } else {
    return corrupt("unknown codec byte " + std::to_string(static_cast<uint8_t>(stored[0])));
  }
  if (out->size() != size)
    return corrupt("it holds " + std::to_string(out->size()) + " bytes, the manifest says " +
                   std::to_string(size));
  if (Sha256::Of(*out) != id) return corrupt("its SHA-256 does not match");
  return Status::OK();
}

}  // namespace ferry
