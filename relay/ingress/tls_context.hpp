#pragma once
// The server's TLS context: TLS 1.2 and later, certificate chain and key from PEM files,
// replaced as a whole on reload (SIGHUP) so sessions in progress keep the old one.

#include <boost/asio/ssl/context.hpp>
#include <filesystem>
#include <memory>

namespace smarthost::ingress {

class TlsContextProvider {
  public:
    // Throws std::runtime_error naming the file when a certificate or key cannot be loaded.
    TlsContextProvider(std::filesystem::path certificate, std::filesystem::path private_key);

    std::shared_ptr<boost::asio::ssl::context> current() const { return current_; }
    // Loads the files again; keeps the old context and rethrows when they are broken.
    void reload();

  private:
    std::filesystem::path certificate_;
    std::filesystem::path private_key_;
    std::shared_ptr<boost::asio::ssl::context> current_;
};

}  // namespace smarthost::ingress
