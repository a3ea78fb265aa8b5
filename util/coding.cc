#include "util/coding.h"

namespace ferry {

void PutFixed32(std::string* dst, uint32_t v) {
  for (int i = 0; i < 4; i++) dst->push_back(static_cast<char>((v >> (8 * i)) & 0xff));
}

void PutFixed64(std::string* dst, uint64_t v) {
  for (int i = 0; i < 8; i++) dst->push_back(static_cast<char>((v >> (8 * i)) & 0xff));
}

void PutVarint64(std::string* dst, uint64_t v) {
  while (v >= 0x80) {
    dst->push_back(static_cast<char>((v & 0x7f) | 0x80));
    v >>= 7;
  }
  dst->push_back(static_cast<char>(v));
}

void PutLengthPrefixed(std::string* dst, std::string_view s) {
  PutVarint64(dst, s.size());
  dst->append(s.data(), s.size());
}

bool GetFixed32(std::string_view* in, uint32_t* v) {
  if (in->size() < 4) return false;
  uint32_t r = 0;
  for (int i = 0; i < 4; i++) r |= static_cast<uint32_t>(static_cast<uint8_t>((*in)[i])) << (8 * i);
  in->remove_prefix(4);
  *v = r;
  return true;
}

bool GetFixed64(std::string_view* in, uint64_t* v) {
  if (in->size() < 8) return false;
  uint64_t r = 0;
  for (int i = 0; i < 8; i++) r |= static_cast<uint64_t>(static_cast<uint8_t>((*in)[i])) << (8 * i);
  in->remove_prefix(8);
  *v = r;
  return true;
}

bool GetVarint64(std::string_view* in, uint64_t* v) {
  uint64_t r = 0;
  for (int shift = 0, i = 0; shift <= 63 && i < static_cast<int>(in->size()); shift += 7, i++) {
    uint64_t byte = static_cast<uint8_t>((*in)[i]);
    if (shift == 63 && byte > 1) return false;  // overflow
    r |= (byte & 0x7f) << shift;
    if ((byte & 0x80) == 0) {
      if (byte == 0 && i > 0) return false;  // non-minimal: one value, one encoding
      in->remove_prefix(i + 1);
      *v = r;
      return true;
    }
  }
  return false;
}

bool GetBytes(std::string_view* in, size_t n, std::string_view* out) {
  if (in->size() < n) return false;
  *out = in->substr(0, n);
  in->remove_prefix(n);
  return true;
}

bool GetLengthPrefixed(std::string_view* in, std::string_view* out) {
  uint64_t n;
  if (!GetVarint64(in, &n)) return false;
  if (n > in->size()) return false;
  return GetBytes(in, static_cast<size_t>(n), out);
}

}  // namespace ferry
