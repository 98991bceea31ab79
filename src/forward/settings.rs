//! What `[upstream]` compiles to (docs/reference.md#forwarding): the forward module owns
//! its settings, `config` builds them, and the URL is taken apart here once, at load.

use std::path::PathBuf;
use std::time::Duration;

use http::uri::{Authority, Scheme};
use http::{HeaderValue, Uri};
use rustls::pki_types::ServerName;

/// `[upstream]`, ready for [`super::Forwarder::new`].
#[derive(Debug, Clone)]
pub struct Upstream {
    /// `http` or `https` with an authority; a path other than `/` is a prefix.
    url: Uri,
    /// Time to the upstream's response head.
    pub timeout: Duration,
    pub preserve_host: bool,
    pub ca_file: Option<PathBuf>,
    /// Largest JSON response buffered for field filtering (502 beyond).
    pub max_filtered_body: usize,
    pub(super) authority: Authority,
    /// `Host` of forwarded requests unless `preserve_host`.
    pub(super) host: HeaderValue,
    /// The URL's path without its trailing `/` (empty for `/`).
    pub(super) prefix: String,
    /// `host:port` to connect to; `[::1]` stays bracketed.
    pub(super) connect: String,
    /// `https`: the name the certificate must carry (an IP literal unbracketed).
    pub(super) tls_name: Option<ServerName<'static>>,
}

/// Why an upstream URL cannot be forwarded to (a config error at `upstream.url`).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum InvalidUpstream {
    #[error("expected a URL with a host")]
    NoAuthority,
    #[error("the host is not a valid Host header value")]
    Host,
    #[error("the host is not a valid TLS server name")]
    ServerName,
}

impl Upstream {
    /// Timeout 30s, `preserve_host` off, the system roots, 1 MiB filtered bodies.
    pub const DEFAULT_TIMEOUT: Duration = Duration::from_secs(30);
    pub const DEFAULT_MAX_FILTERED_BODY: usize = 1 << 20;

    /// Takes `url` apart (scheme and authority already checked by the config's
    /// `UpstreamUrl`); the other settings start at their defaults.
    pub fn new(url: Uri) -> Result<Upstream, InvalidUpstream> {
        let authority = url
            .authority()
            .cloned()
            .ok_or(InvalidUpstream::NoAuthority)?;
        let host = HeaderValue::from_str(authority.as_str()).map_err(|_| InvalidUpstream::Host)?;
        let https = url.scheme() == Some(&Scheme::HTTPS);
        let port = authority.port_u16().unwrap_or(if https { 443 } else { 80 });
        let name = authority.host();
        let tls_name = match https {
            true => Some(
                ServerName::try_from(
                    name.trim_start_matches('[')
                        .trim_end_matches(']')
                        .to_owned(),
                )
                .map_err(|_| InvalidUpstream::ServerName)?,
            ),
            false => None,
        };
        Ok(Upstream {
            connect: format!("{name}:{port}"),
            prefix: url.path().trim_end_matches('/').to_owned(),
            url,
            timeout: Upstream::DEFAULT_TIMEOUT,
            preserve_host: false,
            ca_file: None,
            max_filtered_body: Upstream::DEFAULT_MAX_FILTERED_BODY,
            authority,
            host,
            tls_name,
        })
    }

    /// The same settings for another URL.
    pub fn with_url(self, url: Uri) -> Result<Upstream, InvalidUpstream> {
        Ok(Upstream {
            timeout: self.timeout,
            preserve_host: self.preserve_host,
            ca_file: self.ca_file,
            max_filtered_body: self.max_filtered_body,
            ..Upstream::new(url)?
        })
    }

    pub fn url(&self) -> &Uri {
        &self.url
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn upstream(url: &str) -> Upstream {
        Upstream::new(url.parse().unwrap()).unwrap()
    }

    #[test]
    fn the_url_is_taken_apart_once() {
        let u = upstream("https://api.example:8443/v1/");
        assert_eq!(u.connect, "api.example:8443");
        assert_eq!(u.host, "api.example:8443");
        assert_eq!(u.prefix, "/v1");
        assert_eq!(
            u.tls_name,
            Some(ServerName::try_from("api.example").unwrap())
        );
        let plain = upstream("http://10.0.0.1");
        assert_eq!(
            (plain.connect.as_str(), plain.prefix.as_str()),
            ("10.0.0.1:80", "")
        );
        assert_eq!(plain.tls_name, None);
    }

    #[test]
    fn ipv6_stays_bracketed_to_connect_and_bare_for_the_certificate() {
        let u = upstream("https://[::1]/");
        assert_eq!(u.connect, "[::1]:443");
        assert_eq!(u.tls_name, Some(ServerName::try_from("::1").unwrap()));
    }

    #[test]
    fn another_url_keeps_the_other_settings() {
        let mut u = upstream("http://a.example/");
        u.timeout = Duration::from_secs(2);
        u.preserve_host = true;
        let v = u
            .with_url("http://b.example:81/p".parse().unwrap())
            .unwrap();
        assert_eq!((v.timeout, v.preserve_host), (Duration::from_secs(2), true));
        assert_eq!(
            (v.connect.as_str(), v.prefix.as_str()),
            ("b.example:81", "/p")
        );
    }

    #[test]
    fn a_url_without_a_host_is_refused() {
        assert_eq!(
            Upstream::new(Uri::from_static("/only/a/path")).unwrap_err(),
            InvalidUpstream::NoAuthority
        );
    }
}
