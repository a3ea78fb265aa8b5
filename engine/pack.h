// Pack files of the store layout (docs/store-format.md, "Packs"): small
// chunks stored as blobs of large objects, each pack carrying an index of its
// blobs that is also copied to index/<pack>. A ChunkCatalog is what a store's
// indexes say, loaded once when the store is opened.
#pragma once

#include <atomic>
#include <deque>
#include <future>
#include <map>
#include <memory>
#include <mutex>
#include <optional>
#include <shared_mutex>
#include <string>
#include <string_view>
#include <unordered_map>
#include <vector>

#include "crypto/hash.h"
#include "transport/object_store.h"
#include "util/status.h"

namespace ferry {

std::string PackKey(const Digest& pack);       // packs/ab/ab12...
std::string PackIndexKey(const Digest& pack);  // index/ab12...
// "damaged/<chunk hex>.<pack hex>": a packed chunk verify found corrupt.
std::string DamagedPackedKey(const Digest& chunk, const Digest& pack);

struct PackEntry {
  Digest id{};          // the chunk
  uint64_t offset = 0;  // of its blob in the pack
  uint32_t stored = 0;  // the blob's length (codec byte + payload)
  uint32_t raw = 0;     // the chunk's uncompressed size
};

// The pack index format. Decode checks the header, the SHA-256 and, given
// the pack's blob area size, that every blob lies inside it.
std::string EncodePackIndex(const std::vector<PackEntry>& entries);
Result<std::vector<PackEntry>> DecodePackIndex(std::string_view bytes, uint64_t blob_area);

// Appends blobs; Seal() makes the pack's bytes, ID and index.
class PackBuilder {
 public:
  // `reserve`: bytes to allocate at the first Add (a pack that stays within
  // it, index and trailer included, is never copied while it grows).
  // `buffer`: an earlier pack's bytes, whose memory is reused (its pages are
  // already mapped: no page faults for the next 16 MiB).
  explicit PackBuilder(size_t reserve = 0, std::string buffer = {})
      : reserve_(reserve), data_(std::move(buffer)) {
    data_.clear();
  }
  // What to reserve for packs cut once bytes() reaches `target`, blobs under
  // `below` each: the last blob and its index entry may pass the target.
  static size_t ReserveFor(size_t target, size_t below) { return target + below + 64; }

  void Add(const Digest& id, std::string_view stored, uint32_t raw);
  // The pack's size if sealed now: blobs, index and trailer.
  size_t bytes() const;
  bool empty() const { return entries_.empty(); }

  struct Sealed {
    Digest id{};
    std::string data;   // the whole pack
    std::string index;  // its index (as at its end)
    size_t chunks = 0;
  };
  Sealed Seal();

 private:
  size_t reserve_;
  std::string data_;
  std::vector<PackEntry> entries_;
};

// Reads a pack's own index from its trailer (when index/<pack> is missing
// or damaged). `pack_size` is the pack object's size.
Result<std::vector<PackEntry>> ReadPackTrailer(ObjectStore* store, const Digest& pack,
                                               uint64_t pack_size);

// Reads blobs out of packs. On a network store a blob is cut from a window
// of its pack (`window` bytes, aligned), read with one ranged GET and kept
// among the last `max_windows`: verify and restore read blobs in about the
// order they were packed, so one GET serves hundreds of small chunks. With
// window 0 every blob is its own ranged read (local disks). Thread-safe;
// threads wanting one window wait for the one read of it.
class PackReader {
 public:
  PackReader(ObjectStore* store, size_t window, size_t max_windows)
      : store_(store), window_(window), max_windows_(max_windows) {}
  // The blob's bytes; `fresh`: read them from the store, not a window.
  Result<std::string> Read(const Digest& pack, uint64_t offset, uint32_t len, bool fresh = false);
  uint64_t reads() const { return reads_; }  // ranged reads sent

 private:
  using Window = std::shared_future<Result<std::string>>;
  Window GetWindow(const Digest& pack, uint64_t index);

  ObjectStore* store_;
  size_t window_, max_windows_;
  std::mutex mu_;
  std::map<std::pair<Digest, uint64_t>, Window> windows_;  // guarded by mu_
  std::deque<std::pair<Digest, uint64_t>> order_;          // guarded by mu_: oldest first
  std::atomic<uint64_t> reads_{0};
};

// Where each packed chunk of a store is. Safe for concurrent use.
class ChunkCatalog {
 public:
  struct Location {
    Digest pack{};
    uint64_t offset = 0;
    uint32_t stored = 0;
  };

  // Every index/ object whose pack is listed under packs/ (a listed pack
  // without a usable index: its trailer), checked against the pack's size,
  // less the blobs damaged/ names. `threads`: reads in flight.
  static Result<std::unique_ptr<ChunkCatalog>> Load(ObjectStore* store, unsigned threads);
  // An empty catalog (a store that does not exist yet).
  ChunkCatalog() = default;

  std::optional<Location> Find(const Digest& chunk) const;
  // Leaves out `chunk` if it is found in `pack` (verify set it aside).
  void Exclude(const Digest& chunk, const Digest& pack);
  size_t size() const;
  size_t packs() const { return packs_.size(); }
  // The store may hold small chunks as objects of their own (raised from
  // format 1 or 2, docs/store-format.md), so a miss here is not conclusive.
  bool loose_small() const { return loose_small_; }

 private:
  struct Slot {
    uint32_t pack;
    uint32_t stored;
    uint64_t offset;
  };
  mutable std::shared_mutex mu_;
  std::vector<Digest> packs_;
  std::unordered_map<Digest, Slot, DigestHash> slots_;  // guarded by mu_
  bool loose_small_ = true;
};

}  // namespace ferry
