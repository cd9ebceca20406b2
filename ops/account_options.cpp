#include "ops/account_options.h"

#include "gateway/accounts/secrets.h"

namespace imgpipe::ops {
namespace po = boost::program_options;
namespace acc = gateway::accounts;

void add_account_options(po::options_description& into, AccountOptions& o) {
  po::options_description a("Accounts (API keys, verification, tiers, retention: docs/accounts.md)");
  a.add_options()
      ("token-secret", po::value(&o.token_secret),
       "HMAC secret of email verification links, at least 32 characters (every gateway of an install needs the same); "
       "unset: generated once into <data-dir>/token.secret")
      ("smtp-url", po::value(&o.smtp_url)->default_value(""),
       "send verification mail over SMTP, e.g. smtp://mail:25 or smtps://user:pass@mail:465; mail always also goes to "
       "<data-dir>/outbox (imgpipe mail ls)")
      ("smtp-from", po::value(&o.smtp_from)->default_value("imgpipe <noreply@localhost>"), "From: of outgoing mail")
      ("smtp-retry-min", po::value(&o.smtp_retry_min)->default_value(o.smtp_retry_min),
       "seconds before the first retry of a mail the SMTP server did not take; doubles per attempt")
      ("smtp-retry-max", po::value(&o.smtp_retry_max)->default_value(o.smtp_retry_max),
       "the longest wait between two delivery attempts of a mail, in seconds")
      ("trusted-proxy", po::value(&o.trusted_proxies)->composing(),
       "CIDR of a reverse proxy whose X-Forwarded-For is believed (rightmost untrusted hop); repeatable")
      ("plans-file", po::value(&o.plans_file)->default_value(""),
       "JSON file of tier limits (anonymous, plans); defaults follow the img.pro table")
      ("anonymous-uploads-per-hour", po::value(&o.anon_per_hour)->default_value(0),
       "anonymous uploads and imports per client IP per hour; 0: the plans file's, or 20")
      ("anonymous-uploads-per-day", po::value(&o.anon_per_day)->default_value(0),
       "anonymous uploads and imports per client IP per day; 0: the plans file's, or 100")
      ("sweep-interval", po::value(&o.sweep_interval)->default_value(o.sweep_interval),
       "seconds between sweeps of expired images and unreferenced blobs")
      ("blob-grace", po::value(&o.blob_grace)->default_value(o.blob_grace),
       "seconds an unreferenced blob is kept before it is removed")
      ("clock-file", po::value(&o.clock_file)->default_value(""),
       "TESTS ONLY: a file holding seconds added to the clock (expiry, quotas and limits without sleeping)");
  into.add(a);
}

std::vector<std::string> check_account_options(const po::variables_map& vm, AccountOptions& o) {
  std::vector<std::string> problems;
  o.token_secret_given = vm.count("token-secret") > 0;
  if (o.token_secret_given && o.token_secret.size() < 32)
    problems.push_back("--token-secret (IMGPIPE_TOKEN_SECRET) is empty or shorter than 32 characters");
  for (const auto& cidr : o.trusted_proxies)
    if (!acc::parse_cidr(cidr)) problems.push_back("--trusted-proxy takes an address or CIDR, got '" + cidr + "'");
  if (o.anon_per_hour < 0 || o.anon_per_day < 0) problems.push_back("--anonymous-uploads-per-hour/-day must not be negative");
  if (o.sweep_interval <= 0) problems.push_back("--sweep-interval must be positive");
  if (o.blob_grace < 0) problems.push_back("--blob-grace must not be negative");
  if (!o.smtp_url.empty() && o.smtp_url.rfind("smtp://", 0) != 0 && o.smtp_url.rfind("smtps://", 0) != 0)
    problems.push_back("--smtp-url must start with smtp:// or smtps://");
  if (o.smtp_retry_min < 1 || o.smtp_retry_max < o.smtp_retry_min)
    problems.push_back("--smtp-retry-min must be at least 1 and --smtp-retry-max at least --smtp-retry-min");
  if (!o.plans_file.empty()) try {
      acc::load_tiers(o.plans_file);
    } catch (const std::exception& e) {
      problems.push_back(e.what());
    }
  return problems;
}

acc::AccountsConfig make_accounts_config(const AccountOptions& o, const std::filesystem::path& data_dir) {
  acc::AccountsConfig c;
  if (!o.plans_file.empty()) c.tiers = acc::load_tiers(o.plans_file);
  c.tiers.anonymous.max_file_bytes = o.anonymous_max_bytes;
  if (o.anon_per_hour > 0) c.tiers.anonymous.uploads_per_hour = o.anon_per_hour;
  if (o.anon_per_day > 0) c.tiers.anonymous.uploads_per_day = o.anon_per_day;
  std::vector<acc::Cidr> cidrs;
  for (const auto& p : o.trusted_proxies) cidrs.push_back(*acc::parse_cidr(p));
  c.proxies = acc::TrustedProxies(std::move(cidrs));
  c.token_secret = o.token_secret_given ? o.token_secret : acc::load_or_create_secret(data_dir / "token.secret");
  c.admin_token = acc::load_or_create_secret(data_dir / "admin.token");
  c.mail.outbox = data_dir / "outbox";
  c.mail.smtp_url = o.smtp_url;
  c.mail.from = o.smtp_from;
  c.mail.retry_min_seconds = o.smtp_retry_min;
  c.mail.retry_max_seconds = o.smtp_retry_max;
  c.mail.give_up_seconds = c.verify_link_ttl_seconds;
  return c;
}

void write_admin_url(const std::filesystem::path& data_dir, const std::string& listen, unsigned port) {
  auto colon = listen.rfind(':');
  std::string host = colon == std::string::npos ? "" : listen.substr(0, colon);
  if (host.empty() || host == "0.0.0.0") host = "127.0.0.1";
  if (host == "::" || host == "[::]") host = "[::1]";
  acc::write_private_file(data_dir / "admin.url", "http://" + host + ":" + std::to_string(port) + "\n");
}

}  // namespace imgpipe::ops
