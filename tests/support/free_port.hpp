#pragma once
// A TCP port for a test server to listen on, picked below the kernel's ephemeral range.
//
// A port the kernel hands out for bind(0) comes from the ephemeral range, and until the
// server (often another process, started a moment later) binds it, any outgoing
// connection on the machine may take it as its source port: under `ctest -j2` the other
// test's database and SMTP connections do, now and then, and the server cannot listen.
// Ports below the range are never given to outgoing connections.

#include <cstdint>
#include <string>

namespace smarthost::test {

// Free on `address` (IPv4) when checked, and never handed out twice by one process;
// random, so parallel tests rarely pick the same.
std::uint16_t free_tcp_port(const std::string& address = "127.0.0.1");

}  // namespace smarthost::test
