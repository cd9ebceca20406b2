// The fetcher verifies TLS certificates: against a real HTTPS server on
// 127.0.0.1 whose certificate is self-signed (generated here, so no CA in the
// system store can vouch for it) the fetch fails before any HTTP request is
// sent. A control request with plain libcurl that trusts exactly that
// certificate succeeds against the same server, so the failure is the
// verification and not a broken fixture. Only 127.0.0.1 is bound or contacted.
#include <arpa/inet.h>
#include <curl/curl.h>
#include <netinet/in.h>
#include <openssl/err.h>
#include <openssl/evp.h>
#include <openssl/pem.h>
#include <openssl/ssl.h>
#include <openssl/x509.h>
#include <openssl/x509v3.h>
#include <poll.h>
#include <sys/socket.h>
#include <unistd.h>

#include <gtest/gtest.h>

#include <atomic>
#include <chrono>
#include <filesystem>
#include <memory>
#include <mutex>
#include <optional>
#include <stdexcept>
#include <string>
#include <thread>
#include <vector>

#include "schemas/errors.h"
#include "workers/fetch/fetch_hooks.h"
#include "workers/fetch/url_fetcher.h"
#include "tests/workers/fetch/http_fixture.h"

namespace imgpipe::workers::fetch {
namespace {

using schemas::Error;
using schemas::ErrorCode;
using namespace std::chrono_literals;

// A few bytes that start like a JPEG; the fetcher does not decode.
const std::string kBody = std::string("\xFF\xD8\xFF\xE0", 4) + "tiny-jpeg-ish-body" + std::string("\xFF\xD9", 2);

struct KeyFree {
  void operator()(EVP_PKEY* k) const { EVP_PKEY_free(k); }
};
struct CertFree {
  void operator()(X509* c) const { X509_free(c); }
};
struct CtxFree {
  void operator()(SSL_CTX* c) const { SSL_CTX_free(c); }
};

// A P-256 key and a self-signed certificate for CN=localhost with
// subjectAltName DNS:localhost, IP:127.0.0.1, valid from an hour ago for a day.
struct SelfSigned {
  std::unique_ptr<EVP_PKEY, KeyFree> key;
  std::unique_ptr<X509, CertFree> cert;
  std::string pem;  // the certificate, for the control client's trust store
};

SelfSigned make_self_signed() {
  SelfSigned out;
  out.key.reset(EVP_EC_gen("P-256"));
  if (!out.key) throw std::runtime_error("EVP_EC_gen failed");
  out.cert.reset(X509_new());
  X509* x = out.cert.get();
  X509_set_version(x, 2);
  ASN1_INTEGER_set(X509_get_serialNumber(x), 0x1a2b3c);
  X509_gmtime_adj(X509_getm_notBefore(x), -3600);
  X509_gmtime_adj(X509_getm_notAfter(x), 86400);
  X509_set_pubkey(x, out.key.get());
  X509_NAME* name = X509_get_subject_name(x);
  X509_NAME_add_entry_by_txt(name, "CN", MBSTRING_ASC, reinterpret_cast<const unsigned char*>("localhost"), -1, -1, 0);
  X509_set_issuer_name(x, name);  // self-signed
  X509V3_CTX v3;
  X509V3_set_ctx_nodb(&v3);
  X509V3_set_ctx(&v3, x, x, nullptr, nullptr, 0);
  for (auto [nid, value] : std::vector<std::pair<int, const char*>>{{NID_subject_alt_name, "DNS:localhost,IP:127.0.0.1"},
                                                                    {NID_basic_constraints, "critical,CA:FALSE"}}) {
    X509_EXTENSION* ext = X509V3_EXT_conf_nid(nullptr, &v3, nid, value);
    if (!ext || !X509_add_ext(x, ext, -1)) throw std::runtime_error("X509 extension failed");
    X509_EXTENSION_free(ext);
  }
  if (X509_sign(x, out.key.get(), EVP_sha256()) <= 0) throw std::runtime_error("X509_sign failed");
  BIO* bio = BIO_new(BIO_s_mem());
  PEM_write_bio_X509(bio, x);
  char* data = nullptr;
  const long n = BIO_get_mem_data(bio, &data);
  out.pem.assign(data, static_cast<size_t>(n));
  BIO_free(bio);
  return out;
}

// HTTPS on 127.0.0.1:<ephemeral>: one connection at a time, TLS handshake with
// the self-signed certificate, then one request read and a 200 with kBody.
class TlsFixture {
 public:
  explicit TlsFixture(const SelfSigned& id) {
    ctx_.reset(SSL_CTX_new(TLS_server_method()));
    if (!ctx_ || SSL_CTX_use_certificate(ctx_.get(), id.cert.get()) != 1 ||
        SSL_CTX_use_PrivateKey(ctx_.get(), id.key.get()) != 1 || SSL_CTX_check_private_key(ctx_.get()) != 1) {
      throw std::runtime_error("fixture: SSL_CTX setup failed");
    }
    listen_fd_ = test::listen_loopback("127.0.0.1", port_);
    thread_ = std::thread([this] { run(); });
  }
  ~TlsFixture() {
    stop_ = true;
    thread_.join();
    ::close(listen_fd_);
  }
  TlsFixture(const TlsFixture&) = delete;
  TlsFixture& operator=(const TlsFixture&) = delete;

  uint16_t port() const { return port_; }
  std::string url(const std::string& path) const { return "https://127.0.0.1:" + std::to_string(port_) + path; }

  int accepts() const { return accepts_.load(); }
  int client_hellos() const { return client_hellos_.load(); }   // connections that began a TLS handshake
  int handshakes_done() const { return handshakes_done_.load(); }
  std::vector<std::string> requests() const {
    std::lock_guard lock(m_);
    return requests_;
  }
  std::vector<std::string> handshake_errors() const {
    std::lock_guard lock(m_);
    return errors_;
  }
  std::vector<int> handshake_reasons() const {
    std::lock_guard lock(m_);
    return reasons_;
  }

 private:
  void run() {
    while (!stop_) {
      pollfd p{listen_fd_, POLLIN, 0};
      if (::poll(&p, 1, 10) <= 0) continue;
      const int fd = ::accept4(listen_fd_, nullptr, nullptr, SOCK_CLOEXEC);
      if (fd < 0) continue;
      ++accepts_;
      serve(fd);
      ::shutdown(fd, SHUT_RDWR);
      ::close(fd);
    }
  }

  void serve(int fd) {
    timeval tv{2, 0};  // never hang the fixture on a silent client
    ::setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof tv);
    ::setsockopt(fd, SOL_SOCKET, SO_SNDTIMEO, &tv, sizeof tv);
    // A TLS handshake starts with a handshake record: content type 0x16.
    unsigned char first = 0;
    if (::recv(fd, &first, 1, MSG_PEEK) == 1 && first == 0x16) ++client_hellos_;
    SSL* ssl = SSL_new(ctx_.get());
    SSL_set_fd(ssl, fd);
    ERR_clear_error();
    if (SSL_accept(ssl) != 1) {
      const unsigned long e = ERR_peek_error();
      char buf[256];
      ERR_error_string_n(e, buf, sizeof buf);
      std::lock_guard lock(m_);
      errors_.emplace_back(buf);
      reasons_.push_back(ERR_GET_REASON(e));
      ERR_clear_error();
      SSL_free(ssl);
      return;
    }
    ++handshakes_done_;
    std::string request;
    char buf[4096];
    while (request.find("\r\n\r\n") == std::string::npos && request.size() < 65536) {
      const int n = SSL_read(ssl, buf, sizeof buf);
      if (n <= 0) break;
      request.append(buf, static_cast<size_t>(n));
    }
    {
      std::lock_guard lock(m_);
      requests_.push_back(request);
    }
    if (!request.empty()) {
      const std::string response = "HTTP/1.1 200 OK\r\nContent-Type: image/jpeg\r\nContent-Length: " +
                                   std::to_string(kBody.size()) + "\r\nConnection: close\r\n\r\n" + kBody;
      SSL_write(ssl, response.data(), static_cast<int>(response.size()));
    }
    SSL_shutdown(ssl);
    SSL_free(ssl);
    ERR_clear_error();
  }

  std::unique_ptr<SSL_CTX, CtxFree> ctx_;
  int listen_fd_ = -1;
  uint16_t port_ = 0;
  std::atomic<bool> stop_{false};
  std::atomic<int> accepts_{0}, client_hellos_{0}, handshakes_done_{0};
  mutable std::mutex m_;
  std::vector<std::string> requests_, errors_;
  std::vector<int> reasons_;
  std::thread thread_;
};

size_t collect(char* data, size_t size, size_t n, void* user) {
  static_cast<std::string*>(user)->append(data, size * n);
  return size * n;
}

class TlsVerify : public ::testing::Test {
 protected:
  void SetUp() override {
    const auto* info = ::testing::UnitTest::GetInstance()->current_test_info();
    file_ = std::filesystem::temp_directory_path() / ("imgpipe_tls_" + std::to_string(::getpid()) + "_" + info->name());
    id_ = make_self_signed();
    server_ = std::make_unique<TlsFixture>(id_);
    config_.allow_private = true;
    config_.connect_timeout = 2000ms;
    config_.total_deadline = 4000ms;
  }
  void TearDown() override { std::filesystem::remove(file_); }

  SelfSigned id_;
  std::unique_ptr<TlsFixture> server_;
  FetchConfig config_;
  std::filesystem::path file_;
};

TEST_F(TlsVerify, SelfSignedCertificateIsRefusedBeforeAnyRequest) {
  std::vector<std::string> connects;
  testing::FetchHooks hooks;
  hooks.on_connect = [&](const IpAddress& a, uint16_t port) { connects.push_back(a.to_string() + ":" + std::to_string(port)); };

  std::optional<Error> error;
  try {
    testing::fetch_to_file(server_->url("/x.jpg"), file_, 1 << 20, config_, hooks);
  } catch (const Error& e) {
    error = e;
  }
  ASSERT_TRUE(error.has_value()) << "the fetch of a self-signed HTTPS URL succeeded";
  // url_fetcher.cpp maps CURLE_PEER_FAILED_VERIFICATION (and SSL connect errors) to import_failed.
  EXPECT_EQ(error->id(), ErrorCode::import_failed) << error->what();
  EXPECT_NE(std::string(error->what()).find("TLS"), std::string::npos)
      << "not reported as a TLS failure: " << error->what();
  EXPECT_NE(std::string(error->what()).find("127.0.0.1"), std::string::npos) << error->what();

  ASSERT_EQ(connects.size(), 1u) << "exactly one connection, no retry elsewhere";
  EXPECT_EQ(connects[0], "127.0.0.1:" + std::to_string(server_->port()));

  // The server saw a TLS handshake start and never an HTTP request.
  // (the fixture thread records the failed handshake concurrently: wait for it)
  for (int i = 0; i < 300 && server_->handshake_errors().empty() && server_->handshakes_done() == 0; ++i)
    std::this_thread::sleep_for(10ms);
  EXPECT_EQ(server_->accepts(), 1);
  EXPECT_EQ(server_->client_hellos(), 1) << "no TLS ClientHello reached the server";
  EXPECT_EQ(server_->handshakes_done(), 0) << "the client completed the handshake with an untrusted certificate";
  EXPECT_TRUE(server_->requests().empty()) << "an HTTP request was sent over an unverified connection: "
                                           << server_->requests().front();
  // The client aborted the handshake because it does not know the issuer
  // (alert unknown_ca), i.e. certificate verification, not some other TLS error.
  const auto reasons = server_->handshake_reasons();
  ASSERT_EQ(reasons.size(), 1u);
  EXPECT_EQ(reasons[0], SSL_R_TLSV1_ALERT_UNKNOWN_CA) << server_->handshake_errors()[0];

  // Nothing from the server reached the destination file.
  EXPECT_EQ(std::filesystem::exists(file_) ? std::filesystem::file_size(file_) : 0u, 0u);
}

// Control: the fixture is a working HTTPS server. Plain libcurl with the same
// verification switches, trusting exactly the generated certificate, gets the
// body; so the refusal above is the certificate not being trusted.
TEST_F(TlsVerify, ControlTheSameServerWorksWhenItsCertificateIsTrusted) {
  curl_global_init(CURL_GLOBAL_DEFAULT);
  CURL* c = curl_easy_init();
  ASSERT_NE(c, nullptr);
  std::string body;
  curl_blob ca{id_.pem.data(), id_.pem.size(), CURL_BLOB_COPY};
  const std::string url = server_->url("/x.jpg");
  curl_easy_setopt(c, CURLOPT_URL, url.c_str());
  curl_easy_setopt(c, CURLOPT_PROXY, "");
  curl_easy_setopt(c, CURLOPT_NOSIGNAL, 1L);
  curl_easy_setopt(c, CURLOPT_SSL_VERIFYPEER, 1L);
  curl_easy_setopt(c, CURLOPT_SSL_VERIFYHOST, 2L);
  curl_easy_setopt(c, CURLOPT_CAINFO_BLOB, &ca);
  curl_easy_setopt(c, CURLOPT_TIMEOUT_MS, 4000L);
  curl_easy_setopt(c, CURLOPT_WRITEFUNCTION, collect);
  curl_easy_setopt(c, CURLOPT_WRITEDATA, &body);
  const CURLcode rc = curl_easy_perform(c);
  long status = 0;
  curl_easy_getinfo(c, CURLINFO_RESPONSE_CODE, &status);
  curl_easy_cleanup(c);
  ASSERT_EQ(rc, CURLE_OK) << curl_easy_strerror(rc);
  EXPECT_EQ(status, 200);
  EXPECT_EQ(body, kBody);
  EXPECT_EQ(server_->handshakes_done(), 1);
  ASSERT_EQ(server_->requests().size(), 1u);
  EXPECT_TRUE(server_->requests()[0].starts_with("GET /x.jpg HTTP/1.1\r\n")) << server_->requests()[0];
}

}  // namespace
}  // namespace imgpipe::workers::fetch
