//! Endpoints as people type them, and the URL of each request: virtual-hosted addressing for
//! Alibaba endpoints, path style for IPs and local servers, custom domains bound to one bucket.

use std::net::IpAddr;

use super::limits::InvalidInput;
use super::sign::{uri_encode, uri_encode_path};

/// How the bucket appears in a request's URL.
#[derive(Clone, Copy, Debug, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum Addressing {
    /// `https://bucket.host/key`: Alibaba's endpoints.
    VirtualHosted,
    /// `http://host/bucket/key`: IP addresses, localhost, OSS-compatible servers.
    PathStyle,
    /// `https://custom-domain/key`: a domain bound to one bucket.
    Cname,
}

#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Endpoint {
    /// `https` or `http`.
    pub scheme: String,
    /// Host name or IP, with `:port` when one was given.
    pub host: String,
    pub addressing: Addressing,
}

impl Endpoint {
    /// Reads an endpoint as a person may type it: `oss-cn-hangzhou.aliyuncs.com`,
    /// `https://oss-cn-hangzhou.aliyuncs.com/`, `http://127.0.0.1:9000`, `files.example.com`.
    /// HTTPS unless a scheme says otherwise.
    pub fn parse(input: &str) -> Result<Self, InvalidInput> {
        let bad = || InvalidInput::Endpoint(input.trim().to_owned());
        let s = input.trim();
        let (scheme, rest) = match s.split_once("://") {
            Some((scheme, rest)) => (scheme.to_ascii_lowercase(), rest),
            None => ("https".to_owned(), s),
        };
        if scheme != "https" && scheme != "http" {
            return Err(bad());
        }
        let host = rest.trim_end_matches('/');
        if host.is_empty()
            || host.contains('/')
            || host.contains('?')
            || host.contains('@')
            || host.contains(char::is_whitespace)
        {
            return Err(bad());
        }
        let url = reqwest::Url::parse(&format!("{scheme}://{host}/")).map_err(|_| bad())?;
        let name = url.host_str().ok_or_else(bad)?.to_ascii_lowercase();
        let host = match url.port() {
            Some(p) => format!("{name}:{p}"),
            None => name.clone(),
        };
        let addressing = if is_ip_or_local(&name) {
            Addressing::PathStyle
        } else if name.ends_with(".aliyuncs.com") {
            Addressing::VirtualHosted
        } else {
            Addressing::Cname
        };
        Ok(Self {
            scheme,
            host,
            addressing,
        })
    }

    /// A custom domain bound to one bucket, as a person types it: the bucket is never part of
    /// its URLs.
    pub fn cname(input: &str) -> Result<Self, InvalidInput> {
        let mut e = Self::parse(input)?;
        e.addressing = Addressing::Cname;
        Ok(e)
    }

    /// The same endpoint with the bucket in the path (for OSS-compatible servers).
    pub fn with_path_style(mut self) -> Self {
        self.addressing = Addressing::PathStyle;
        self
    }

    /// The host name without the port.
    pub fn host_name(&self) -> &str {
        if self.host.starts_with('[') {
            // An IPv6 literal: `[::1]:9000`.
            return self.host.split_inclusive(']').next().unwrap_or(&self.host);
        }
        self.host.split(':').next().unwrap_or(&self.host)
    }

    /// The V4 region of an Alibaba endpoint: `oss-cn-hangzhou.aliyuncs.com` → `cn-hangzhou`
    /// (`-internal` endpoints too). `None` for others (accelerate, custom, local): ask the user.
    pub fn region(&self) -> Option<String> {
        let first = self
            .host_name()
            .strip_suffix(".aliyuncs.com")?
            .rsplit('.')
            .next()?;
        let region = first.strip_prefix("oss-")?;
        let region = region.strip_suffix("-internal").unwrap_or(region);
        if region.is_empty() || region.starts_with("accelerate") {
            return None;
        }
        Some(region.to_owned())
    }

    /// The URL of a request. `query` holds decoded pairs; an empty value gives a bare key.
    pub fn url(
        &self,
        bucket: Option<&str>,
        key: Option<&str>,
        query: &[(String, String)],
    ) -> String {
        let key_path = key.map(uri_encode_path).unwrap_or_default();
        let (host, path) = match (self.addressing, bucket) {
            (Addressing::VirtualHosted, Some(b)) => {
                (format!("{b}.{}", self.host), format!("/{key_path}"))
            }
            (Addressing::PathStyle, Some(b)) => (self.host.clone(), format!("/{b}/{key_path}")),
            _ => (self.host.clone(), format!("/{key_path}")),
        };
        let mut url = format!("{}://{host}{path}", self.scheme);
        for (i, (k, v)) in query.iter().enumerate() {
            url.push(if i == 0 { '?' } else { '&' });
            url.push_str(&uri_encode(k));
            if !v.is_empty() {
                url.push('=');
                url.push_str(&uri_encode(v));
            }
        }
        url
    }

    /// The base URL of the endpoint, as shown to people.
    pub fn base_url(&self) -> String {
        format!("{}://{}", self.scheme, self.host)
    }

    /// The public URL of an object (what "copy URL" gives).
    pub fn object_url(&self, bucket: &str, key: &str) -> String {
        self.url(Some(bucket), Some(key), &[])
    }
}

fn is_ip_or_local(name: &str) -> bool {
    name == "localhost"
        || name.ends_with(".localhost")
        || name
            .trim_start_matches('[')
            .trim_end_matches(']')
            .parse::<IpAddr>()
            .is_ok()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_what_people_type() {
        let e = Endpoint::parse("oss-cn-hangzhou.aliyuncs.com").unwrap();
        assert_eq!(
            (e.scheme.as_str(), e.host.as_str(), e.addressing),
            (
                "https",
                "oss-cn-hangzhou.aliyuncs.com",
                Addressing::VirtualHosted
            )
        );
        assert_eq!(e.region().as_deref(), Some("cn-hangzhou"));

        let e = Endpoint::parse(" https://OSS-cn-shanghai-internal.aliyuncs.com/ ").unwrap();
        assert_eq!(e.host, "oss-cn-shanghai-internal.aliyuncs.com");
        assert_eq!(e.region().as_deref(), Some("cn-shanghai"));

        let e = Endpoint::parse("http://127.0.0.1:9000").unwrap();
        assert_eq!(
            (e.scheme.as_str(), e.host.as_str(), e.addressing),
            ("http", "127.0.0.1:9000", Addressing::PathStyle)
        );
        assert_eq!(e.region(), None);
        assert_eq!(e.host_name(), "127.0.0.1");

        assert_eq!(
            Endpoint::parse("localhost:8080").unwrap().addressing,
            Addressing::PathStyle
        );
        assert_eq!(
            Endpoint::parse("http://[::1]:9000").unwrap().host_name(),
            "[::1]"
        );
        assert_eq!(
            Endpoint::parse("http://[::1]:9000").unwrap().addressing,
            Addressing::PathStyle
        );

        let e = Endpoint::parse("files.example.com").unwrap();
        assert_eq!(e.addressing, Addressing::Cname);
        assert_eq!(e.region(), None);

        assert_eq!(
            Endpoint::parse("oss-accelerate.aliyuncs.com")
                .unwrap()
                .region(),
            None
        );
        assert_eq!(
            Endpoint::parse("oss-accelerate-overseas.aliyuncs.com")
                .unwrap()
                .region(),
            None
        );
    }

    #[test]
    fn refuses_nonsense() {
        for bad in [
            "",
            "ftp://x.com",
            "https://",
            "a b.com",
            "x.com/path",
            "http://user@x.com",
            "http://x.com:99999",
        ] {
            assert!(Endpoint::parse(bad).is_err(), "{bad:?}");
        }
        let msg = Endpoint::parse("ftp://x").unwrap_err().to_string();
        assert!(msg.contains("oss-cn-hangzhou.aliyuncs.com"), "{msg}");
    }

    #[test]
    fn builds_urls() {
        let q = vec![
            ("uploadId".to_owned(), "a/b+c".to_owned()),
            ("partNumber".to_owned(), "3".to_owned()),
        ];
        let v = Endpoint::parse("oss-cn-hangzhou.aliyuncs.com").unwrap();
        assert_eq!(
            v.url(Some("bkt"), Some("dir/a b+中.txt"), &q),
            "https://bkt.oss-cn-hangzhou.aliyuncs.com/dir/a%20b%2B%E4%B8%AD.txt?uploadId=a%2Fb%2Bc&partNumber=3"
        );
        assert_eq!(
            v.url(Some("bkt"), None, &[("uploads".into(), String::new())]),
            "https://bkt.oss-cn-hangzhou.aliyuncs.com/?uploads"
        );
        let p = v.clone().with_path_style();
        assert_eq!(
            p.url(Some("bkt"), Some("k"), &[]),
            "https://oss-cn-hangzhou.aliyuncs.com/bkt/k"
        );
        assert_eq!(
            p.url(Some("bkt"), None, &[]),
            "https://oss-cn-hangzhou.aliyuncs.com/bkt/"
        );
        assert_eq!(
            p.url(None, None, &[]),
            "https://oss-cn-hangzhou.aliyuncs.com/"
        );
        let c = Endpoint::parse("https://cdn.example.com").unwrap();
        assert_eq!(
            c.url(Some("bkt"), Some("k"), &[]),
            "https://cdn.example.com/k"
        );
    }
}
