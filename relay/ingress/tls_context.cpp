#include "relay/ingress/tls_context.hpp"

#include <fmt/format.h>

#include <stdexcept>

namespace smarthost::ingress {
namespace {

namespace ssl = boost::asio::ssl;

std::shared_ptr<ssl::context> load(const std::filesystem::path& certificate,
                                   const std::filesystem::path& private_key) {
    auto context = std::make_shared<ssl::context>(ssl::context::tls_server);
    context->set_options(ssl::context::default_workarounds | ssl::context::no_sslv2 |
                         ssl::context::no_sslv3 | ssl::context::no_tlsv1 |
                         ssl::context::no_tlsv1_1 | ssl::context::single_dh_use);
    SSL_CTX_set_min_proto_version(context->native_handle(), TLS1_2_VERSION);
    boost::system::error_code ec;
    context->use_certificate_chain_file(certificate.string(), ec);
    if (ec)
        throw std::runtime_error(fmt::format("{}: cannot load the TLS certificate: {}",
                                             certificate.string(), ec.message()));
    context->use_private_key_file(private_key.string(), ssl::context::pem, ec);
    if (ec)
        throw std::runtime_error(fmt::format("{}: cannot load the TLS private key: {}",
                                             private_key.string(), ec.message()));
    if (SSL_CTX_check_private_key(context->native_handle()) != 1)
        throw std::runtime_error(fmt::format("{}: the private key does not match {}",
                                             private_key.string(), certificate.string()));
    return context;
}

}  // namespace

TlsContextProvider::TlsContextProvider(std::filesystem::path certificate,
                                       std::filesystem::path private_key)
    : certificate_(std::move(certificate)),
      private_key_(std::move(private_key)),
      current_(load(certificate_, private_key_)) {}

void TlsContextProvider::reload() {
    current_ = load(certificate_, private_key_);
}

}  // namespace smarthost::ingress
