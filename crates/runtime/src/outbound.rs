//! Outbound HTTP to URLs that users supply (webhook endpoints). Such a URL must not reach
//! into our own network (DESIGN.md, "Security"): private, loopback, link-local and other
//! non-public addresses are refused unless the operator allows them. Literal addresses are
//! checked with the URL; names are checked after DNS resolution, inside the client's
//! resolver, so the address checked is the address connected to (no rebinding window).

use std::net::{IpAddr, Ipv4Addr, Ipv6Addr, SocketAddr};
use std::sync::Arc;
use std::time::Duration;

use reqwest::Url;
use reqwest::dns::{Addrs, Name, Resolve, Resolving};

/// How deliveries to user-supplied URLs behave (`[webhooks_out]` in the configuration).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct OutboundConfig {
    /// Bounds each delivery, connect included.
    pub timeout: Duration,
    /// Lets URLs reach private and loopback addresses (tests, or receivers on your own network).
    pub allow_private: bool,
    /// Delivery attempts per event and endpoint before the job is dead.
    pub max_attempts: u32,
}

impl Default for OutboundConfig {
    fn default() -> Self {
        Self {
            timeout: Duration::from_secs(10),
            allow_private: false,
            max_attempts: 10,
        }
    }
}

/// Why a URL is refused. The messages complete "url: …".
#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum UrlError {
    #[error("is not a valid absolute URL ({0})")]
    Invalid(String),
    #[error("must use http or https (got {0:?})")]
    Scheme(String),
    #[error("must not carry a user name or password")]
    Credentials,
    #[error("is longer than {MAX_URL_LEN} characters")]
    TooLong,
    #[error(
        "points to a private, loopback or link-local address ({0}); set webhooks_out.allow_private_addresses to allow it"
    )]
    Private(String),
}

const MAX_URL_LEN: usize = 2048;

/// Parses and checks a user-supplied URL. Names are not resolved here (see the module doc).
pub fn check_url(raw: &str, allow_private: bool) -> Result<Url, UrlError> {
    if raw.len() > MAX_URL_LEN {
        return Err(UrlError::TooLong);
    }
    let url = Url::parse(raw).map_err(|e| UrlError::Invalid(e.to_string()))?;
    if !matches!(url.scheme(), "http" | "https") {
        return Err(UrlError::Scheme(url.scheme().to_string()));
    }
    if !url.username().is_empty() || url.password().is_some() {
        return Err(UrlError::Credentials);
    }
    let host = match url.host() {
        Some(h) => h,
        None => return Err(UrlError::Invalid("no host".into())),
    };
    if allow_private {
        return Ok(url);
    }
    let refused = match host {
        url::Host::Ipv4(ip) => !is_public(IpAddr::V4(ip)),
        url::Host::Ipv6(ip) => !is_public(IpAddr::V6(ip)),
        url::Host::Domain(name) => {
            let name = name.trim_end_matches('.').to_ascii_lowercase();
            name == "localhost" || name.ends_with(".localhost")
        }
    };
    if refused {
        return Err(UrlError::Private(host.to_string()));
    }
    Ok(url)
}

/// Whether an address is on the public internet (not private, loopback, link-local,
/// shared, documentation, multicast, reserved or unspecified). IPv6 forms that carry an IPv4
/// address (mapped, NAT64, 6to4) are judged by that address, so `[::ffff:10.0.0.1]` or
/// `[2002:7f00:1::]` cannot reach what `10.0.0.1` or `127.0.0.1` may not.
pub fn is_public(ip: IpAddr) -> bool {
    match ip {
        IpAddr::V4(v4) => is_public_v4(v4),
        IpAddr::V6(v6) => match embedded_v4(v6) {
            Embedded::V4(v4) => is_public_v4(v4),
            Embedded::Refused => false,
            Embedded::None => is_public_v6(v6),
        },
    }
}

/// What an IPv6 address says about IPv4.
enum Embedded {
    /// It reaches (or is routed by) this IPv4 address.
    V4(Ipv4Addr),
    /// A form that is never a legitimate public destination.
    Refused,
    /// A plain IPv6 address.
    None,
}

fn embedded_v4(ip: Ipv6Addr) -> Embedded {
    let s = ip.segments();
    let tail = Ipv4Addr::new(
        (s[6] >> 8) as u8,
        (s[6] & 0xff) as u8,
        (s[7] >> 8) as u8,
        (s[7] & 0xff) as u8,
    );
    match s {
        // IPv4-mapped ::ffff:a.b.c.d: the socket talks IPv4 to a.b.c.d.
        [0, 0, 0, 0, 0, 0xffff, ..] => Embedded::V4(tail),
        // The rest of ::/8 is reserved: :: and ::1, IPv4-compatible ::a.b.c.d (deprecated by
        // RFC 4291, never routed, yet some stacks still map it onto IPv4) and IPv4-translated
        // ::ffff:0:a.b.c.d (RFC 6145) among them.
        [0, ..] => Embedded::Refused,
        // NAT64 well-known prefix 64:ff9b::/96 (RFC 6052): a gateway forwards to a.b.c.d.
        [0x64, 0xff9b, 0, 0, 0, 0, ..] => Embedded::V4(tail),
        // The rest of 64:ff9b::/32, local-use NAT64 64:ff9b:1::/48 (RFC 8215) included: the
        // IPv4 address may sit anywhere in it, and the network's own gateway serves it.
        [0x64, 0xff9b, ..] => Embedded::Refused,
        // 6to4 2002:V4ADDR::/48 (RFC 3056): relays deliver to the IPv4 address after 2002.
        [0x2002, hi, lo, ..] => Embedded::V4(Ipv4Addr::new(
            (hi >> 8) as u8,
            (hi & 0xff) as u8,
            (lo >> 8) as u8,
            (lo & 0xff) as u8,
        )),
        // IETF protocol assignments 2001::/23 (RFC 2928), Teredo 2001::/32 included: a Teredo
        // address routes to the IPv4 client embedded (inverted) in its last 32 bits and via the
        // server in bits 32..64, either of which may be private; the rest are benchmarking,
        // ORCHID and anycast service blocks. No webhook receiver lives in any of them.
        [0x2001, second, ..] if second < 0x0200 => Embedded::Refused,
        _ => Embedded::None,
    }
}

fn is_public_v4(ip: Ipv4Addr) -> bool {
    let [a, b, c, _] = ip.octets();
    !(ip.is_private()
        || ip.is_loopback()
        || ip.is_link_local()
        || ip.is_unspecified()
        || ip.is_broadcast()
        || ip.is_documentation()
        || ip.is_multicast()
        || a == 0
        || a >= 240
        || (a == 100 && (64..128).contains(&b)) // shared address space (carrier NAT)
        || (a == 192 && b == 0 && c == 0) // IETF protocol assignments
        || (a == 192 && b == 88 && c == 99) // 6to4 relay anycast (deprecated, RFC 7526)
        || (a == 198 && (b == 18 || b == 19))) // benchmarking
}

fn is_public_v6(ip: Ipv6Addr) -> bool {
    let s = ip.segments();
    !(ip.is_multicast()
        || (s[0] & 0xfe00) == 0xfc00 // unique local
        || (s[0] & 0xffc0) == 0xfe80 // link-local
        || (s[0] & 0xffc0) == 0xfec0 // site-local (deprecated, still routed inward by some)
        || (s[0] == 0x0100 && s[1..4] == [0, 0, 0]) // discard-only 100::/64
        || (s[0] == 0x2001 && s[1] == 0x0db8) // documentation
        || (s[0] & 0xfff0) == 0x3ff0 // documentation 3fff::/20 (RFC 9637)
        || s[0] == 0x5f00) // SRv6 segment identifiers (RFC 9602)
}

/// Resolves with the system resolver, then drops every address the policy refuses.
struct GuardedResolver {
    allow_private: bool,
}

impl Resolve for GuardedResolver {
    fn resolve(&self, name: Name) -> Resolving {
        let allow_private = self.allow_private;
        let host = name.as_str().to_string();
        Box::pin(async move {
            let found: Vec<SocketAddr> =
                tokio::net::lookup_host((host.as_str(), 0)).await?.collect();
            let allowed: Vec<SocketAddr> = found
                .iter()
                .copied()
                .filter(|a| allow_private || is_public(a.ip()))
                .collect();
            if allowed.is_empty() && !found.is_empty() {
                return Err(format!(
                    "{host} resolves only to private, loopback or link-local addresses; set webhooks_out.allow_private_addresses to allow it"
                )
                .into());
            }
            let addrs: Addrs = Box::new(allowed.into_iter());
            Ok(addrs)
        })
    }
}

/// The client deliveries use, with the address policy built in. No redirects (a redirect
/// could lead inward after the check) and no proxies from the environment (a proxy would
/// resolve the name instead of us).
pub struct Outbound {
    pub config: OutboundConfig,
    pub client: reqwest::Client,
}

impl std::fmt::Debug for Outbound {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Outbound")
            .field("config", &self.config)
            .finish()
    }
}

impl Outbound {
    pub fn new(config: OutboundConfig) -> Result<Self, reqwest::Error> {
        let client = reqwest::Client::builder()
            .user_agent(concat!("pressroom-webhooks/", env!("CARGO_PKG_VERSION")))
            .timeout(config.timeout)
            .connect_timeout(config.timeout)
            .redirect(reqwest::redirect::Policy::none())
            .no_proxy()
            .dns_resolver(Arc::new(GuardedResolver {
                allow_private: config.allow_private,
            }))
            .build()?;
        Ok(Self { config, client })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn private_and_special_addresses_are_not_public() {
        for ip in [
            "10.0.0.1",
            "172.16.5.4",
            "192.168.1.1",
            "127.0.0.1",
            "169.254.169.254",
            "0.0.0.0",
            "100.64.0.1",
            "255.255.255.255",
            "224.0.0.1",
            "198.18.0.1",
            "::1",
            "::",
            "fc00::1",
            "fd12::1",
            "fe80::1",
            "::ffff:10.0.0.1",
            "::ffff:127.0.0.1",
            "2001:db8::1",
            // IPv4-compatible, NAT64, 6to4 and Teredo forms of inward addresses.
            "::127.0.0.1",
            "::10.0.0.1",
            "::8.8.8.8",
            "::ffff:0:7f00:1",
            "64:ff9b::127.0.0.1",
            "64:ff9b::a9fe:a9fe",
            "64:ff9b:1::1.1.1.1",
            "2002:7f00:1::1",
            "2002:a00:1::",
            "2002:a9fe:a9fe::1",
            "2001:0:4136:e378:8000:63bf:f5ff:fffe", // Teredo, client 10.0.0.1
            "2001::1",
            "fec0::1",
            "100::1",
            "3fff::1",
        ] {
            let ip: IpAddr = ip.parse().expect("test address");
            assert!(!is_public(ip), "{ip} should not be public");
        }
        for ip in [
            "93.184.216.34",
            "1.1.1.1",
            "2606:4700:4700::1111",
            "::ffff:1.1.1.1",
            "64:ff9b::1.1.1.1",
            "2002:101:101::1",
            "2a00:1450:4001::200e",
        ] {
            let ip: IpAddr = ip.parse().expect("test address");
            assert!(is_public(ip), "{ip} should be public");
        }
    }

    #[test]
    fn urls_are_checked_for_scheme_credentials_and_literal_addresses() {
        assert!(check_url("https://hooks.example.com/in", false).is_ok());
        assert!(matches!(
            check_url("ftp://hooks.example.com", false),
            Err(UrlError::Scheme(_))
        ));
        assert!(matches!(
            check_url("not a url", false),
            Err(UrlError::Invalid(_))
        ));
        assert_eq!(
            check_url("https://u:p@hooks.example.com", false),
            Err(UrlError::Credentials)
        );
        for private in [
            "http://127.0.0.1:9000/x",
            "http://[::1]/x",
            "http://localhost/x",
            "http://api.localhost/x",
            "http://169.254.169.254/latest/meta-data",
            "http://10.1.2.3/",
            "http://[::127.0.0.1]/x",
            "http://[::ffff:127.0.0.1]/x",
            "http://[2002:7f00:1::1]/x",
            "http://[64:ff9b::7f00:1]/x",
        ] {
            assert!(
                matches!(check_url(private, false), Err(UrlError::Private(_))),
                "{private} should be refused"
            );
            assert!(check_url(private, true).is_ok(), "{private} when allowed");
        }
        let long = format!("https://example.com/{}", "a".repeat(MAX_URL_LEN));
        assert_eq!(check_url(&long, false), Err(UrlError::TooLong));
    }

    #[tokio::test]
    async fn the_resolver_refuses_names_that_resolve_inward() {
        let guarded = GuardedResolver {
            allow_private: false,
        };
        let name: Name = "localhost".parse().expect("name");
        let err = match guarded.resolve(name).await {
            Ok(_) => panic!("localhost must be refused"),
            Err(e) => e.to_string(),
        };
        assert!(err.contains("private"), "{err}");
        let open = GuardedResolver {
            allow_private: true,
        };
        let name: Name = "localhost".parse().expect("name");
        assert!(open.resolve(name).await.is_ok());
    }
}
