//! MD5, the second way to check a body when the server gives no CRC-64: the `Content-MD5` a
//! write may carry (OSS refuses a body whose MD5 differs), the MD5 of a file range computed off
//! the async threads, and OSS ETags read as MD5s where they are one. The normal path, where the
//! server answers with its CRC-64, computes none of this.
//!
//! What OSS puts in an ETag: for a PutObject or an UploadPart, the MD5 of the body in uppercase
//! hex, quoted; for an object made by CompleteMultipartUpload, the MD5 of the concatenated
//! binary MD5s of its parts, then `-` and the number of parts. Some objects have other ETags
//! (server-side encryption with KMS, appendable objects): those are not MD5s, and the helpers
//! here say so rather than guess.

use base64::Engine as _;
use md5::{Digest as _, Md5};

use super::chunks::{CHUNK_SIZE, open_for_upload, read_exact_at_or};
use super::error::Error;
use super::types::FileRange;

/// An MD5 digest.
pub type Md5Digest = [u8; 16];

/// The MD5 of a byte slice.
pub fn md5(bytes: &[u8]) -> Md5Digest {
    Md5::digest(bytes).into()
}

/// The `Content-MD5` header value for a digest: its 16 bytes in base64.
pub fn content_md5(md5: &Md5Digest) -> String {
    base64::engine::general_purpose::STANDARD.encode(md5)
}

/// The digest in a `Content-MD5` value, `None` when it is not base64 of 16 bytes.
pub fn parse_content_md5(value: &str) -> Option<Md5Digest> {
    let bytes = base64::engine::general_purpose::STANDARD
        .decode(value.trim())
        .ok()?;
    bytes.try_into().ok()
}

/// The MD5 of a range of a file, read in chunks on the blocking pool so no async thread waits
/// on the disk or the hash. A file shorter than the range is an error, as when sending it.
pub async fn md5_of_range(range: &FileRange) -> Result<Md5Digest, Error> {
    let range = range.clone();
    let path = range.path.clone();
    let io = |source| Error::Io {
        path: path.clone(),
        source,
    };
    tokio::task::spawn_blocking(move || md5_of_range_blocking(&range))
        .await
        .map_err(|e| io(std::io::Error::other(e)))?
        .map_err(io)
}

fn md5_of_range_blocking(range: &FileRange) -> std::io::Result<Md5Digest> {
    let file = open_for_upload(&range.path)?;
    let mut hasher = Md5::new();
    let mut buf = vec![0u8; CHUNK_SIZE.min(usize::try_from(range.len).unwrap_or(CHUNK_SIZE))];
    let mut done = 0u64;
    while done < range.len {
        let want = (range.len - done).min(buf.len() as u64) as usize;
        read_exact_at_or(
            &file,
            &mut buf[..want],
            range.offset + done,
            "the file is shorter than the part being checked",
        )?;
        hasher.update(&buf[..want]);
        done += want as u64;
    }
    Ok(hasher.finalize().into())
}

/// The hex digits of an ETag, without the quotes OSS puts around it.
fn unquote(etag: &str) -> &str {
    let e = etag.trim();
    let e = e.strip_prefix("W/").unwrap_or(e);
    e.strip_prefix('"')
        .and_then(|e| e.strip_suffix('"'))
        .unwrap_or(e)
}

fn parse_hex_md5(hex: &str) -> Option<Md5Digest> {
    if hex.len() != 32 || !hex.is_ascii() {
        return None;
    }
    let mut out = [0u8; 16];
    for (i, byte) in out.iter_mut().enumerate() {
        *byte = u8::from_str_radix(&hex[2 * i..2 * i + 2], 16).ok()?;
    }
    Some(out)
}

fn hex(md5: &Md5Digest) -> String {
    md5.iter().map(|b| format!("{b:02X}")).collect()
}

/// The MD5 an ETag stands for when it is the plain MD5 of a body (a part's or a PutObject's):
/// 32 hex digits, quoted or not. `None` for anything else, such as a multipart object's ETag.
pub fn etag_md5(etag: &str) -> Option<Md5Digest> {
    parse_hex_md5(unquote(etag))
}

/// A multipart object's ETag read as (MD5 of the parts' MD5s, number of parts), when it has
/// that form: `"<32 hex digits>-<N>"`.
pub fn multipart_etag_parts(etag: &str) -> Option<(Md5Digest, u32)> {
    let (digest, count) = unquote(etag).split_once('-')?;
    let count: u32 = count.parse().ok().filter(|n| *n >= 1)?;
    Some((parse_hex_md5(digest)?, count))
}

/// The ETag OSS gives an object completed from parts with these MD5s, in part order:
/// `"<MD5 of the concatenated digests>-<N>"`, quoted and in uppercase as OSS writes it.
pub fn multipart_etag(part_md5s: &[Md5Digest]) -> String {
    let mut hasher = Md5::new();
    for m in part_md5s {
        hasher.update(m);
    }
    let digest: Md5Digest = hasher.finalize().into();
    format!("\"{}-{}\"", hex(&digest), part_md5s.len())
}

/// How an ETag compares with the MD5 of what was sent.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum EtagCheck {
    /// The ETag is that MD5: the server stored exactly those bytes.
    Matches,
    /// The ETag is an MD5, and not that one: the bytes were damaged on the way.
    Differs,
    /// The ETag is not an MD5 (encryption, another kind of object): it proves nothing.
    NotAnMd5,
}

/// Compares a part's or a PutObject's ETag with the MD5 of the bytes sent.
pub fn compare_etag(etag: &str, sent: &Md5Digest) -> EtagCheck {
    match etag_md5(etag) {
        Some(m) if &m == sent => EtagCheck::Matches,
        Some(_) => EtagCheck::Differs,
        None => EtagCheck::NotAnMd5,
    }
}

/// An MD5 in the uppercase hex OSS uses in ETags, for messages.
pub fn to_hex(md5: &Md5Digest) -> String {
    hex(md5)
}

#[cfg(test)]
mod tests {
    use super::*;

    // MD5("0123456789"), the example of Alibaba's Content-MD5 documentation.
    const DIGITS_MD5_B64: &str = "eB5eJF1ptWaXm4bijSPyxw==";
    const DIGITS_MD5_HEX: &str = "781E5E245D69B566979B86E28D23F2C7";

    #[test]
    fn content_md5_is_base64_of_the_binary_digest() {
        let m = md5(b"0123456789");
        assert_eq!(content_md5(&m), DIGITS_MD5_B64);
        assert_eq!(parse_content_md5(DIGITS_MD5_B64), Some(m));
        assert_eq!(to_hex(&m), DIGITS_MD5_HEX);
        // Base64 of the hex text is a common mistake: 32 bytes, not an MD5.
        assert_eq!(
            parse_content_md5("NzgxZTVlMjQ1ZDY5YjU2Njk3OWI4NmUyOGQyM2YyYzc="),
            None
        );
        assert_eq!(parse_content_md5("not base64!"), None);
    }

    #[test]
    fn etags_read_as_md5_only_when_they_are_one() {
        let m = md5(b"0123456789");
        for etag in [
            format!("\"{DIGITS_MD5_HEX}\""),
            DIGITS_MD5_HEX.to_owned(),
            format!("\"{}\"", DIGITS_MD5_HEX.to_lowercase()),
            format!("W/\"{DIGITS_MD5_HEX}\""),
        ] {
            assert_eq!(etag_md5(&etag), Some(m), "{etag}");
            assert_eq!(compare_etag(&etag, &m), EtagCheck::Matches, "{etag}");
        }
        assert_eq!(
            compare_etag(&format!("\"{DIGITS_MD5_HEX}\""), &md5(b"x")),
            EtagCheck::Differs
        );
        for not_md5 in [
            "",
            "\"\"",
            "\"781E5E245D69B566979B86E28D23F2C7-2\"",
            "\"781E5E245D69B566979B86E28D23F2\"",
            "\"Z81E5E245D69B566979B86E28D23F2C7\"",
            "\"781E5E245D69B566979B86E28D23F2C7F\"",
            "\"é81E5E245D69B566979B86E28D23F2C\"",
        ] {
            assert_eq!(etag_md5(not_md5), None, "{not_md5}");
            assert_eq!(compare_etag(not_md5, &m), EtagCheck::NotAnMd5, "{not_md5}");
        }
    }

    #[test]
    fn multipart_etags_are_the_md5_of_the_part_md5s() {
        let parts = [md5(b"part one"), md5(b"part two")];
        let mut concat = Vec::new();
        concat.extend_from_slice(&parts[0]);
        concat.extend_from_slice(&parts[1]);
        let expected = format!("\"{}-2\"", to_hex(&md5(&concat)));
        assert_eq!(multipart_etag(&parts), expected);
        assert_eq!(multipart_etag_parts(&expected), Some((md5(&concat), 2)));
        // A multipart ETag is not a body's MD5, and a body's MD5 is not a multipart ETag.
        assert_eq!(etag_md5(&expected), None);
        assert_eq!(multipart_etag_parts(&format!("\"{DIGITS_MD5_HEX}\"")), None);
        assert_eq!(
            multipart_etag_parts(&format!("\"{DIGITS_MD5_HEX}-0\"")),
            None
        );
        assert_eq!(
            multipart_etag_parts(&format!("\"{DIGITS_MD5_HEX}-x\"")),
            None
        );
    }

    #[tokio::test]
    async fn md5_of_a_file_range() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("f");
        let data: Vec<u8> = (0..3 * CHUNK_SIZE as u32 + 17)
            .map(|i| (i % 251) as u8)
            .collect();
        std::fs::write(&path, &data).unwrap();
        let range = |offset: u64, len: u64| FileRange {
            path: path.clone(),
            offset,
            len,
        };
        let len = data.len() as u64;
        assert_eq!(md5_of_range(&range(0, len)).await.unwrap(), md5(&data));
        assert_eq!(
            md5_of_range(&range(5, len - 10)).await.unwrap(),
            md5(&data[5..data.len() - 5])
        );
        assert_eq!(md5_of_range(&range(7, 0)).await.unwrap(), md5(b""));
        let short = md5_of_range(&range(len - 3, 10)).await.unwrap_err();
        assert!(matches!(short, Error::Io { .. }), "{short:?}");
        let gone = FileRange {
            path: dir.path().join("missing"),
            offset: 0,
            len: 1,
        };
        assert!(matches!(
            md5_of_range(&gone).await,
            Err(Error::Io { source, .. }) if source.kind() == std::io::ErrorKind::NotFound
        ));
    }
}
