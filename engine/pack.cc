#include "engine/pack.h"

#include <chrono>
#include <map>
#include <mutex>
#include <set>

#include "engine/ops.h"
#include "manifest/repo.h"
#include "util/coding.h"
#include "util/log.h"
#include "util/parallel.h"

namespace ferry {

namespace {

constexpr char kIndexHeader[] = "ferry pack index 1\n";
constexpr size_t kIndexHeaderLen = sizeof(kIndexHeader) - 1;
constexpr char kPackMagic[] = "FERRYPK1";
constexpr size_t kTrailerLen = 4 + 8;  // u32 index length + magic
constexpr size_t kEntryLen = 32 + 8 + 4 + 4;
// Key prefixes (docs/store-format.md), for making keys and parsing listings.
constexpr std::string_view kPacksDir = "packs/", kIndexDir = "index/", kDamagedDir = "damaged/";

}  // namespace

std::string PackKey(const Digest& pack) {
  std::string hex = DigestHex(pack);
  return std::string(kPacksDir) + hex.substr(0, 2) + "/" + hex;
}

std::string PackIndexKey(const Digest& pack) { return std::string(kIndexDir) + DigestHex(pack); }

std::string DamagedPackedKey(const Digest& chunk, const Digest& pack) {
  return std::string(kDamagedDir) + DigestHex(chunk) + "." + DigestHex(pack);
}

std::string EncodePackIndex(const std::vector<PackEntry>& entries) {
  std::string out(kIndexHeader, kIndexHeaderLen);
  PutFixed32(&out, static_cast<uint32_t>(entries.size()));
  for (const auto& e : entries) {
    out.append(DigestBytes(e.id));
    PutFixed64(&out, e.offset);
    PutFixed32(&out, e.stored);
    PutFixed32(&out, e.raw);
  }
  out.append(DigestBytes(Sha256::Of(out)));
  return out;
}

Result<std::vector<PackEntry>> DecodePackIndex(std::string_view bytes, uint64_t blob_area) {
  auto bad = [](const std::string& why) {
    return Status::VerifyFailed("pack index is damaged: " + why).SetDataLoss();
  };
  if (bytes.size() < kIndexHeaderLen + 4 + 32 ||
      bytes.substr(0, kIndexHeaderLen) != std::string_view(kIndexHeader, kIndexHeaderLen))
    return bad("no header");
  std::string_view body = bytes.substr(0, bytes.size() - 32);
  if (DigestBytes(Sha256::Of(body)) != bytes.substr(bytes.size() - 32))
    return bad("checksum mismatch");
  std::string_view in = body.substr(kIndexHeaderLen);
  uint32_t n = 0;
  if (!GetFixed32(&in, &n) || in.size() != static_cast<uint64_t>(n) * kEntryLen)
    return bad("wrong length");
  std::vector<PackEntry> entries(n);
  for (auto& e : entries) {
    std::string_view id;
    GetBytes(&in, 32, &id);
    std::copy(id.begin(), id.end(), e.id.begin());
    GetFixed64(&in, &e.offset);
    GetFixed32(&in, &e.stored);
    GetFixed32(&in, &e.raw);
    if (e.stored == 0 || e.offset > blob_area || e.stored > blob_area - e.offset)
      return bad("a blob lies outside the pack");
  }
  return entries;
}

size_t PackBuilder::bytes() const {
  return data_.size() + kIndexHeaderLen + 4 + entries_.size() * kEntryLen + 32 + kTrailerLen;
}

void PackBuilder::Add(const Digest& id, std::string_view stored, uint32_t raw) {
  if (data_.capacity() < reserve_) data_.reserve(reserve_);
  entries_.push_back({id, data_.size(), static_cast<uint32_t>(stored.size()), raw});
  data_.append(stored);
}

PackBuilder::Sealed PackBuilder::Seal() {
  Sealed s;
  s.index = EncodePackIndex(entries_);
  s.chunks = entries_.size();
  s.data = std::move(data_);
  s.data.append(s.index);
  PutFixed32(&s.data, static_cast<uint32_t>(s.index.size()));
  s.data.append(kPackMagic, 8);
  s.id = Sha256::Of(s.data);
  data_.clear();
  entries_.clear();
  return s;
}

Result<std::vector<PackEntry>> ReadPackTrailer(ObjectStore* store, const Digest& pack,
                                               uint64_t pack_size) {
  const std::string key = PackKey(pack);
  auto bad = [&](const std::string& why) {
    return Status::VerifyFailed("pack " + key + " is damaged: " + why).SetDataLoss();
  };
  if (pack_size < kTrailerLen) return bad("too short");
  ASSIGN_OR_RETURN(std::string tail, store->GetRange(key, pack_size - kTrailerLen, kTrailerLen));
  std::string_view in = tail;
  uint32_t len = 0;
  if (!GetFixed32(&in, &len) || in != std::string_view(kPackMagic, 8)) return bad("no trailer");
  if (len > pack_size - kTrailerLen) return bad("index length beyond the pack");
  const uint64_t blob_area = pack_size - kTrailerLen - len;
  ASSIGN_OR_RETURN(std::string index, store->GetRange(key, blob_area, len));
  auto entries = DecodePackIndex(index, blob_area);
  if (!entries.ok()) return entries.status().WithContext(key);
  return entries;
}

Result<std::string> PackReader::Read(const Digest& pack, uint64_t offset, uint32_t len,
                                     bool fresh) {
  const uint64_t index = window_ ? offset / window_ : 0;
  auto direct = [&] {
    reads_++;
    return store_->GetRange(PackKey(pack), offset, len);
  };
  if (fresh || window_ == 0 || (offset + len - 1) / window_ != index)  // or straddles two windows
    return direct();
  Window w = GetWindow(pack, index);
  const Result<std::string>& bytes = w.get();
  if (!bytes.ok()) {
    // Not kept for its neighbours: each of them (and this blob) is read on its own.
    {
      std::lock_guard<std::mutex> l(mu_);
      auto it = windows_.find({pack, index});
      if (it != windows_.end() &&
          it->second.wait_for(std::chrono::seconds(0)) == std::future_status::ready &&
          !it->second.get().ok())
        windows_.erase(it);
    }
    if (bytes.status().code() == Code::kNotFound) return bytes.status();
    return direct();
  }
  const uint64_t at = offset - index * window_;
  if (at >= bytes->size()) return std::string();  // the pack is shorter than its index says
  return bytes->substr(at, len);
}

PackReader::Window PackReader::GetWindow(const Digest& pack, uint64_t index) {
  const auto key = std::make_pair(pack, index);
  std::promise<Result<std::string>> promise;
  Window w;
  {
    std::lock_guard<std::mutex> l(mu_);
    auto it = windows_.find(key);
    if (it != windows_.end()) return it->second;
    w = promise.get_future().share();
    windows_.emplace(key, w);
    order_.push_back(key);
    while (order_.size() > max_windows_) {  // readers of an evicted window keep their copy
      windows_.erase(order_.front());
      order_.pop_front();
    }
  }
  reads_++;
  promise.set_value(store_->GetRange(PackKey(pack), index * window_, window_));
  return w;
}

namespace {

// "<prefix><hex>" (with "<h2>/" after the prefix if `nested`) → its digest.
std::optional<Digest> DigestAfter(const std::string& key, size_t prefix_len, bool nested) {
  size_t at = prefix_len + (nested ? 3 : 0);
  if (key.size() < at) return std::nullopt;
  return ParseDigestHex(std::string_view(key).substr(at));
}

}  // namespace

Result<std::unique_ptr<ChunkCatalog>> ChunkCatalog::Load(ObjectStore* store, unsigned threads) {
  auto cat = std::make_unique<ChunkCatalog>();
  ASSIGN_OR_RETURN(cat->loose_small_, StoreMayHoldLooseSmallChunks(store));
  ASSIGN_OR_RETURN(auto pack_keys, store->List(kPacksDir));
  ASSIGN_OR_RETURN(auto index_keys, store->List(kIndexDir));
  ASSIGN_OR_RETURN(auto damaged_keys, store->List(kDamagedDir));

  std::set<Digest> indexed;
  for (const auto& k : index_keys)
    if (auto d = DigestAfter(k, kIndexDir.size(), false)) indexed.insert(*d);
  std::set<std::pair<Digest, Digest>> damaged;  // (chunk, pack)
  for (const auto& k : damaged_keys) {
    size_t dot = k.find('.');
    if (dot == std::string::npos) continue;  // a loose chunk set aside
    auto chunk =
        ParseDigestHex(std::string_view(k).substr(kDamagedDir.size(), dot - kDamagedDir.size()));
    auto pack = ParseDigestHex(std::string_view(k).substr(dot + 1));
    if (chunk && pack) damaged.emplace(*chunk, *pack);
  }
  for (const auto& k : pack_keys)
    if (auto d = DigestAfter(k, kPacksDir.size(), true)) cat->packs_.push_back(*d);

  // Each listed pack's entries: from index/<pack>, else from its trailer.
  std::vector<std::vector<PackEntry>> entries(cat->packs_.size());
  std::mutex mu;
  Status first_error;
  ParallelFor(cat->packs_.size(), threads, [&](size_t i) {
    const Digest& pack = cat->packs_[i];
    // The pack's size bounds its blobs: a pack cut short (a disk that lost
    // data) does not vouch for chunks beyond its end, whatever index/ says.
    auto size = store->Size(PackKey(pack));
    Result<std::vector<PackEntry>> got = Status::NotFound("");
    if (!size.ok()) {
      got = size.take_status();
    } else {
      if (indexed.count(pack)) {
        auto bytes = store->Get(PackIndexKey(pack));
        if (bytes.ok())
          got = *size >= kTrailerLen + bytes->size()
                    ? DecodePackIndex(*bytes, *size - kTrailerLen - bytes->size())
                    : Status::VerifyFailed("pack index is longer than its pack").SetDataLoss();
        if (!got.ok() && got.status().code() != Code::kNotFound)
          LogWarn(PackIndexKey(pack) + ": " + got.status().ToString() + "; reading the pack's own");
      }
      if (!got.ok()) got = ReadPackTrailer(store, pack, *size);
    }
    if (got.ok()) {
      entries[i] = std::move(*got);
    } else if (got.status().code() == Code::kNotFound) {
      // Deleted since the listing: nothing of it is here.
    } else if (got.status().data_loss()) {
      LogWarn(got.status().ToString() + "; its chunks count as absent");
    } else {
      std::lock_guard<std::mutex> l(mu);
      if (first_error.ok()) first_error = got.take_status();
    }
  });
  RETURN_IF_ERROR(first_error);
  for (size_t p = 0; p < entries.size(); p++)
    for (const auto& e : entries[p]) {
      if (damaged.count({e.id, cat->packs_[p]})) continue;
      cat->slots_.emplace(e.id, Slot{static_cast<uint32_t>(p), e.stored, e.offset});
    }
  return cat;
}

std::optional<ChunkCatalog::Location> ChunkCatalog::Find(const Digest& chunk) const {
  std::shared_lock<std::shared_mutex> l(mu_);
  auto it = slots_.find(chunk);
  if (it == slots_.end()) return std::nullopt;
  return Location{packs_[it->second.pack], it->second.offset, it->second.stored};
}

void ChunkCatalog::Exclude(const Digest& chunk, const Digest& pack) {
  std::unique_lock<std::shared_mutex> l(mu_);
  auto it = slots_.find(chunk);
  if (it != slots_.end() && packs_[it->second.pack] == pack) slots_.erase(it);
}

size_t ChunkCatalog::size() const {
  std::shared_lock<std::shared_mutex> l(mu_);
  return slots_.size();
}

}  // namespace ferry
