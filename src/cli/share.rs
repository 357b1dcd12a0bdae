//! `share`, `buckets` and `ls`: a link to an uploaded object that opens for whoever gets it
//! (presigned, expiring; the plain URL for a public bucket), the account's buckets with their
//! regions, and what a bucket holds under a folder.

use std::process::ExitCode;
use std::time::Duration;

use clap::Args;

use super::display::printable;
use super::{CliError, CliResult, ConnectionArgs, client_for, credentials};
use crate::oss::client::Client;
use crate::oss::endpoint::Endpoint;
use crate::oss::error::parse_iso8601;
use crate::oss::presign::{MAX_EXPIRES_SECS, PresignRequest};
use crate::units::{human_bytes, parse_duration, utc_minute};

/// Where `buckets` asks when no endpoint is given: any region lists every bucket.
const LIST_BUCKETS_ENDPOINT: &str = "oss-cn-hangzhou.aliyuncs.com";

#[derive(Debug, Args)]
pub struct ShareArgs {
    /// The object to share: its name in --bucket, or oss://BUCKET/NAME.
    #[arg(value_name = "KEY")]
    pub key: String,
    /// The bucket holding the object (not needed with oss://BUCKET/NAME).
    #[arg(long, value_name = "B")]
    pub bucket: Option<String>,
    /// How long the link works: 1s to 7d, e.g. 1h, 12h, 1d, 7d.
    #[arg(long, value_name = "TIME", default_value = "1d", value_parser = share_expiry)]
    pub expires: Duration,
    /// Make the link download the file under its own name instead of showing it in the browser.
    #[arg(long)]
    pub download: bool,
    /// A custom domain bound to the bucket (CNAME), e.g. files.example.com: the link uses it.
    #[arg(long, value_name = "D")]
    pub domain: Option<String>,
    #[command(flatten)]
    pub connection: ConnectionArgs,
}

#[derive(Debug, Args)]
pub struct BucketsArgs {
    /// Only buckets whose name starts with this.
    #[arg(long, value_name = "P", default_value = "")]
    pub prefix: String,
    /// OSS endpoint [default: OSS_ENDPOINT, else oss-cn-hangzhou.aliyuncs.com; any region
    /// lists the buckets of every region].
    #[arg(long, value_name = "E")]
    pub endpoint: Option<String>,
    /// Region for the signature [default: read from the endpoint's name].
    #[arg(long, value_name = "R")]
    pub region: Option<String>,
    /// Address buckets in the path, for IP addresses and local servers.
    #[arg(long)]
    pub path_style: bool,
    /// Request signature version.
    #[arg(long, value_enum, default_value = "v4", value_name = "v4|v1")]
    pub signature: super::SignatureArg,
}

#[derive(Debug, Args)]
pub struct LsArgs {
    /// The folder to list, e.g. photos/2024/ (a missing trailing / is added) [default: the
    /// top of the bucket].
    #[arg(value_name = "PREFIX", default_value = "")]
    pub prefix: String,
    /// The bucket to list.
    #[arg(long, value_name = "B")]
    pub bucket: String,
    /// Every object below the folder, not only those directly in it.
    #[arg(long, short)]
    pub recursive: bool,
    #[command(flatten)]
    pub connection: ConnectionArgs,
}

fn share_expiry(text: &str) -> Result<Duration, String> {
    let d = parse_duration(text).map_err(|e| e.to_string())?;
    if d < Duration::from_secs(1) || d.as_secs() > MAX_EXPIRES_SECS {
        return Err(format!(
            "a share link can last from 1s to 7d (OSS's limit), not {text}"
        ));
    }
    Ok(d)
}

/// "1 day", "3 h", "45 min", "20 s": how long a link lives.
fn lifetime(secs: u64) -> String {
    match secs {
        s if s % 86_400 == 0 => match s / 86_400 {
            1 => "1 day".to_owned(),
            n => format!("{n} days"),
        },
        s if s % 3600 == 0 => format!("{} h", s / 3600),
        s if s % 60 == 0 => format!("{} min", s / 60),
        s => format!("{s} s"),
    }
}

/// The bucket and key of `KEY` / `oss://BUCKET/KEY`.
fn target(key: &str, bucket: Option<&str>) -> Result<(String, String), CliError> {
    if let Some(rest) = key.strip_prefix("oss://") {
        let Some((b, k)) = rest.split_once('/') else {
            return Err(CliError::Usage(format!(
                "\"{key}\" names no object: use oss://BUCKET/NAME"
            )));
        };
        if bucket.is_some_and(|given| given != b) {
            return Err(CliError::Usage(format!(
                "--bucket {} and {key} name different buckets",
                bucket.unwrap_or_default()
            )));
        }
        return Ok((b.to_owned(), k.to_owned()));
    }
    match bucket {
        Some(b) => Ok((b.to_owned(), key.to_owned())),
        None => Err(CliError::Usage(
            "which bucket? pass --bucket B or give the object as oss://BUCKET/NAME".into(),
        )),
    }
}

pub async fn share(args: ShareArgs) -> CliResult {
    let (bucket, key) = target(&args.key, args.bucket.as_deref())?;
    crate::oss::limits::validate_bucket(&bucket).map_err(|e| CliError::Usage(e.to_string()))?;
    crate::oss::limits::validate_key(&key).map_err(|e| CliError::Usage(e.to_string()))?;
    let domain = args
        .domain
        .as_deref()
        .map(Endpoint::cname)
        .transpose()
        .map_err(|e| CliError::Usage(e.to_string()))?;
    let connection = args.connection.connection()?;
    let client = client_for(&connection, credentials()?)?;
    // A link to nothing would only fail for the person it is sent to.
    client
        .head_object(&bucket, &key)
        .await
        .map_err(|e| CliError::from_oss(&format!("cannot share oss://{bucket}/{key}"), &e))?;
    let endpoint = domain.as_ref().unwrap_or(&client.config().endpoint);
    if !args.download && is_public(&client, &bucket).await {
        println!("{}", endpoint.object_url(&bucket, &key));
        eprintln!("The bucket is public: this link works for anyone and does not expire.");
        return Ok(ExitCode::SUCCESS);
    }
    let file_name = key.rsplit('/').next().unwrap_or(&key).to_owned();
    let mut req = PresignRequest::new("GET", &bucket, &key);
    if args.download {
        req = req.download_as(&file_name);
    }
    let secs = args.expires.as_secs();
    let link = client
        .presign(&req, secs, domain.as_ref())
        .map_err(|e| CliError::Usage(e.user_message()))?;
    println!("{}", link.url);
    eprintln!(
        "Anyone with this link can download {} until {} (for {}).",
        printable(&key),
        utc_minute(link.expires_at),
        lifetime(secs)
    );
    Ok(ExitCode::SUCCESS)
}

/// Whether anyone may read the bucket without a link; a key that may not ask is told no.
async fn is_public(client: &Client, bucket: &str) -> bool {
    match client.get_bucket_info(bucket).await {
        Ok(info) => info.is_public_read(),
        Err(e) => {
            tracing::debug!("GetBucketInfo failed, sharing with a signed link: {e}");
            false
        }
    }
}

pub async fn buckets(args: BucketsArgs) -> CliResult {
    let endpoint = args
        .endpoint
        .clone()
        .filter(|e| !e.trim().is_empty())
        .or_else(|| {
            std::env::var("OSS_ENDPOINT")
                .ok()
                .filter(|e| !e.trim().is_empty())
        })
        .unwrap_or_else(|| LIST_BUCKETS_ENDPOINT.to_owned());
    let connection = ConnectionArgs {
        endpoint: Some(endpoint),
        region: args.region.clone(),
        path_style: args.path_style,
        signature: args.signature,
    }
    .connection()?;
    let client = client_for(&connection, credentials()?)?;
    let list = client
        .list_buckets(&args.prefix)
        .await
        .map_err(|e| CliError::from_oss("cannot list the buckets", &e))?;
    if list.is_empty() {
        eprintln!("This key sees no buckets.");
        return Ok(ExitCode::SUCCESS);
    }
    let width = list.iter().map(|b| b.name.len()).max().unwrap_or(0);
    for b in &list {
        let created = parse_iso8601(&b.creation_date)
            .map(|t| utc_minute(t)[..10].to_owned())
            .unwrap_or_default();
        println!("{:width$}  {:16}  {created}", b.name, b.signing_region());
    }
    Ok(ExitCode::SUCCESS)
}

pub async fn ls(args: LsArgs) -> CliResult {
    let mut prefix = args.prefix.trim_start_matches('/').to_owned();
    if !prefix.is_empty() && !prefix.ends_with('/') {
        prefix.push('/');
    }
    crate::oss::limits::validate_bucket(&args.bucket)
        .map_err(|e| CliError::Usage(e.to_string()))?;
    let connection = args.connection.connection()?;
    let client = client_for(&connection, credentials()?)?;
    let delimiter = if args.recursive { "" } else { "/" };
    let listing = client
        .list_objects_v2(&args.bucket, &prefix, delimiter)
        .await
        .map_err(|e| {
            CliError::from_oss(&format!("cannot list oss://{}/{prefix}", args.bucket), &e)
        })?;
    for p in &listing.prefixes {
        println!("{:>10}  {:16}  {}", "DIR", "", printable(p));
    }
    for o in &listing.objects {
        // The folder's own marker is the folder itself, not something in it.
        if o.key == prefix {
            continue;
        }
        let modified = parse_iso8601(&o.last_modified)
            .map(|t| utc_minute(t)[..16].to_owned())
            .unwrap_or_default();
        println!(
            "{:>10}  {modified:16}  {}",
            human_bytes(o.size),
            printable(&o.key)
        );
    }
    let objects = listing.objects.iter().filter(|o| o.key != prefix).count();
    eprintln!(
        "{} folders, {objects} objects in oss://{}/{prefix}",
        listing.prefixes.len(),
        args.bucket
    );
    Ok(ExitCode::SUCCESS)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn expiry_and_targets() {
        assert_eq!(share_expiry("1d").unwrap(), Duration::from_secs(86_400));
        assert_eq!(share_expiry("7d").unwrap(), Duration::from_secs(604_800));
        assert!(share_expiry("8d").is_err());
        assert!(share_expiry("0s").is_err());
        assert!(share_expiry("soon").is_err());
        assert_eq!(lifetime(86_400), "1 day");
        assert_eq!(lifetime(7 * 86_400), "7 days");
        assert_eq!(lifetime(7200), "2 h");
        assert_eq!(lifetime(90), "90 s");
        assert_eq!(utc_minute(1702743657), "2023-12-16 16:20 UTC");

        assert_eq!(
            target("oss://b1/dir/a.txt", None).unwrap(),
            ("b1".into(), "dir/a.txt".into())
        );
        assert_eq!(
            target("dir/a.txt", Some("b1")).unwrap(),
            ("b1".into(), "dir/a.txt".into())
        );
        assert!(target("a.txt", None).is_err());
        assert!(target("oss://b1", None).is_err());
        assert!(target("oss://b1/k", Some("b2")).is_err());
    }
}
