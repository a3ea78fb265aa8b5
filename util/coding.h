// Endian-neutral encoding helpers for Ferry's binary formats (docs/manifest-format.md).
// Fixed-width integers are little-endian; varints are LEB128 (7 bits a byte, low first).
#pragma once

#include <cstdint>
#include <string>
#include <string_view>

namespace ferry {

void PutFixed32(std::string* dst, uint32_t v);
void PutFixed64(std::string* dst, uint64_t v);
void PutVarint64(std::string* dst, uint64_t v);
// Varint length followed by the bytes.
void PutLengthPrefixed(std::string* dst, std::string_view s);

// Readers consume from the front of *in and return false (leaving *in unspecified)
// if the input is too short or malformed. They never read past in->end().
// GetVarint64 also rejects non-minimal encodings (0x80 0x00 for 0), so every
// value has one encoding and a manifest one byte form.
bool GetFixed32(std::string_view* in, uint32_t* v);
bool GetFixed64(std::string_view* in, uint64_t* v);
bool GetVarint64(std::string_view* in, uint64_t* v);
bool GetLengthPrefixed(std::string_view* in, std::string_view* out);
bool GetBytes(std::string_view* in, size_t n, std::string_view* out);

}  // namespace ferry
