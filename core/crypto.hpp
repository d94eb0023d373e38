#pragma once
// Secrets: argon2id password hashes and random tokens (libsodium).

#include <array>
#include <cstddef>
#include <string>
#include <string_view>

namespace smarthost::crypto {

// Call once at start-up; throws if libsodium cannot initialise.
void init();

// argon2id in libsodium's self-describing string format ($argon2id$v=19$m=...).
std::string hash_password(std::string_view password);
// Constant-time with respect to the password; deliberately slow (run off the I/O threads).
bool verify_password(std::string_view hash, std::string_view password);

// A random password of `length` characters from an unambiguous alphabet.
std::string random_password(std::size_t length = 24);

std::array<unsigned char, 32> sha256(std::string_view data);

}  // namespace smarthost::crypto
