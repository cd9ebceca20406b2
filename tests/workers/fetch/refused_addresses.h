#pragma once
// Every special-purpose address an import must never reach (IANA IPv4 and
// IPv6 special-purpose registries, plus the forms that embed them). One table
// for the policy test and for the fetcher test that runs it end to end.

namespace imgpipe::workers::fetch::test {

inline constexpr const char* kRefusedAddresses[] = {
    // IPv4
    "0.0.0.0", "0.1.2.3", "10.0.0.1", "10.255.255.255", "100.64.0.1", "100.127.255.254", "127.0.0.1",
    "127.255.255.254", "169.254.169.254", "169.254.0.1", "172.16.0.1", "172.31.255.255", "192.0.0.8",
    "192.0.2.1", "192.88.99.1", "192.168.1.1", "198.18.0.1", "198.19.255.255", "198.51.100.7", "203.0.113.9",
    "224.0.0.1", "239.255.255.250", "240.0.0.1", "255.255.255.255",
    // IPv6
    "::", "::1", "fc00::1", "fd12:3456::1", "fe80::1", "febf::1", "fec0::1", "ff02::1", "ff0e::1",
    "2001:db8::1", "2001:db8:ffff::1", "64:ff9b::7f00:1", "64:ff9b::a9fe:a9fe", "64:ff9b:1::808:808",
    "::ffff:127.0.0.1", "::ffff:169.254.169.254", "::ffff:10.0.0.1", "::ffff:0.0.0.0", "::127.0.0.1",
    "::8.8.8.8",  // IPv4-compatible is deprecated: refused whatever it embeds
    "2002:7f00:1::1", "2002:a9fe:a9fe::", "2002:c0a8:101::1", "2001::1", "2001:0:4136:e378:8000:63bf:3fff:fdd2",
    "100::1", "100::ffff:ffff:ffff:ffff", "3fff::1", "2001:10::1", "2001:20::1", "::2",
};

}  // namespace imgpipe::workers::fetch::test
