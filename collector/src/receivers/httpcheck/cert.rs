//! Just enough X.509 DER reading for `httpcheck.tls.cert_remaining`: the certificate's
//! `notAfter`, subject common name, issuer and DNS/IP subject alternative names.

use std::fmt;

/// What the expiry metric reports about a certificate.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct CertSummary {
    /// `notAfter`, seconds since the Unix epoch.
    pub(crate) not_after: i64,
    /// Subject common name (empty when absent).
    pub(crate) common_name: String,
    /// Issuer distinguished name, most specific first (`CN=..,O=..,C=..`).
    pub(crate) issuer: String,
    /// DNS names and IP addresses from the subject alternative names.
    pub(crate) sans: Vec<String>,
}

/// Why a certificate could not be read.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct CertError(&'static str);

impl fmt::Display for CertError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "malformed certificate: {}", self.0)
    }
}

impl std::error::Error for CertError {}

/// One DER element: tag byte and contents.
struct Tlv<'a> {
    tag: u8,
    body: &'a [u8],
}

/// Splits the next element off `input`.
fn next<'a>(input: &mut &'a [u8]) -> Result<Tlv<'a>, CertError> {
    let [tag, first, rest @ ..] = *input else {
        return Err(CertError("truncated element"));
    };
    let (tag, first) = (*tag, *first);
    let (len, rest) = if first < 0x80 {
        (usize::from(first), rest)
    } else {
        let n = usize::from(first & 0x7f);
        if n == 0 || n > 4 {
            return Err(CertError("bad length"));
        }
        let Some((len, rest)) = rest.split_at_checked(n) else {
            return Err(CertError("bad length"));
        };
        let len = len
            .iter()
            .fold(0usize, |acc, b| (acc << 8) | usize::from(*b));
        (len, rest)
    };
    let Some((body, rest)) = rest.split_at_checked(len) else {
        return Err(CertError("element longer than its container"));
    };
    *input = rest;
    Ok(Tlv { tag, body })
}

fn expect<'a>(input: &mut &'a [u8], tag: u8, what: &'static str) -> Result<&'a [u8], CertError> {
    let tlv = next(input)?;
    if tlv.tag != tag {
        return Err(CertError(what));
    }
    Ok(tlv.body)
}

const SEQUENCE: u8 = 0x30;
const SET: u8 = 0x31;
const OID: u8 = 0x06;
const UTC_TIME: u8 = 0x17;
const GENERALIZED_TIME: u8 = 0x18;

/// Reads the summary of a DER certificate.
pub(crate) fn summarize(der: &[u8]) -> Result<CertSummary, CertError> {
    let mut input = der;
    let mut cert = expect(&mut input, SEQUENCE, "certificate is not a sequence")?;
    let mut tbs = expect(&mut cert, SEQUENCE, "tbsCertificate is not a sequence")?;
    let mut field = next(&mut tbs)?;
    if field.tag == 0xa0 {
        // Explicit version; the serial number follows.
        field = next(&mut tbs)?;
    }
    let _serial = field;
    let _signature = expect(&mut tbs, SEQUENCE, "signature algorithm")?;
    let issuer = expect(&mut tbs, SEQUENCE, "issuer")?;
    let mut validity = expect(&mut tbs, SEQUENCE, "validity")?;
    let _not_before = next(&mut validity)?;
    let not_after = next(&mut validity)?;
    let subject = expect(&mut tbs, SEQUENCE, "subject")?;
    let _spki = expect(&mut tbs, SEQUENCE, "subject public key info")?;
    let mut sans = Vec::new();
    while !tbs.is_empty() {
        let tlv = next(&mut tbs)?;
        if tlv.tag == 0xa3 {
            let mut wrapper = tlv.body;
            sans = subject_alt_names(expect(&mut wrapper, SEQUENCE, "extensions")?)?;
        }
    }
    let names = name_parts(subject)?;
    Ok(CertSummary {
        not_after: parse_time(not_after.tag, not_after.body)?,
        common_name: names
            .iter()
            .find(|(k, _)| *k == "CN")
            .map(|(_, v)| v.clone())
            .unwrap_or_default(),
        issuer: name_parts(issuer)?
            .iter()
            .rev()
            .map(|(k, v)| format!("{k}={v}"))
            .collect::<Vec<_>>()
            .join(","),
        sans,
    })
}

/// `(short name, value)` of each attribute of a distinguished name, in encoded order.
fn name_parts(mut name: &[u8]) -> Result<Vec<(&'static str, String)>, CertError> {
    let mut out = Vec::new();
    while !name.is_empty() {
        let mut rdn = expect(&mut name, SET, "relative distinguished name")?;
        while !rdn.is_empty() {
            let mut atv = expect(&mut rdn, SEQUENCE, "attribute")?;
            let oid = expect(&mut atv, OID, "attribute type")?;
            let value = next(&mut atv)?;
            let key = match oid {
                [0x55, 0x04, 0x03] => "CN",
                [0x55, 0x04, 0x06] => "C",
                [0x55, 0x04, 0x07] => "L",
                [0x55, 0x04, 0x08] => "ST",
                [0x55, 0x04, 0x0a] => "O",
                [0x55, 0x04, 0x0b] => "OU",
                _ => continue,
            };
            out.push((key, String::from_utf8_lossy(value.body).into_owned()));
        }
    }
    Ok(out)
}

fn subject_alt_names(mut extensions: &[u8]) -> Result<Vec<String>, CertError> {
    while !extensions.is_empty() {
        let mut ext = expect(&mut extensions, SEQUENCE, "extension")?;
        let oid = expect(&mut ext, OID, "extension id")?;
        if oid != [0x55, 0x1d, 0x11] {
            continue;
        }
        let mut value = next(&mut ext)?;
        if value.tag == 0x01 {
            // `critical` flag.
            value = next(&mut ext)?;
        }
        let mut octets = value.body;
        let mut names = expect(&mut octets, SEQUENCE, "subjectAltName")?;
        let mut out = Vec::new();
        while !names.is_empty() {
            let name = next(&mut names)?;
            match (name.tag, name.body) {
                (0x82, body) => out.push(String::from_utf8_lossy(body).into_owned()),
                (0x87, &[a, b, c, d]) => out.push(std::net::Ipv4Addr::new(a, b, c, d).to_string()),
                (0x87, body) => {
                    if let Ok(octets) = <[u8; 16]>::try_from(body) {
                        out.push(std::net::Ipv6Addr::from(octets).to_string());
                    }
                }
                _ => {}
            }
        }
        return Ok(out);
    }
    Ok(Vec::new())
}

/// UTCTime (`YYMMDDHHMMSSZ`) or GeneralizedTime (`YYYYMMDDHHMMSSZ`) as Unix seconds. Works on
/// bytes: the field comes from the server, and anything but ASCII digits is an error, never a
/// slice at a non-character boundary.
fn parse_time(tag: u8, body: &[u8]) -> Result<i64, CertError> {
    let digits = body
        .strip_suffix(b"Z")
        .ok_or(CertError("time is not UTC"))?;
    if !digits.iter().all(u8::is_ascii_digit) {
        return Err(CertError("time has non-digits"));
    }
    let num = |from: usize, len: usize| -> Result<i64, CertError> {
        let field = digits
            .get(from..from + len)
            .ok_or(CertError("time is too short"))?;
        Ok(field
            .iter()
            .fold(0i64, |acc, d| acc * 10 + i64::from(d - b'0')))
    };
    let (year, at) = match (tag, digits.len()) {
        (UTC_TIME, 12) => {
            let yy = num(0, 2)?;
            // RFC 5280: two-digit years 50-99 are 19xx.
            (if yy >= 50 { 1900 + yy } else { 2000 + yy }, 2)
        }
        (GENERALIZED_TIME, 14) => (num(0, 4)?, 4),
        _ => return Err(CertError("unsupported time format")),
    };
    let month = num(at, 2)?;
    let day = num(at + 2, 2)?;
    let hour = num(at + 4, 2)?;
    let minute = num(at + 6, 2)?;
    let second = num(at + 8, 2)?;
    if !(1..=12).contains(&month) || !(1..=31).contains(&day) {
        return Err(CertError("date out of range"));
    }
    Ok(days_from_civil(year, month, day) * 86_400 + hour * 3600 + minute * 60 + second)
}

/// Days since 1970-01-01 of a proleptic Gregorian date (Howard Hinnant's algorithm).
fn days_from_civil(y: i64, m: i64, d: i64) -> i64 {
    let y = if m <= 2 { y - 1 } else { y };
    let era = y.div_euclid(400);
    let yoe = y - era * 400;
    let mp = (m + 9) % 12;
    let doy = (153 * mp + 2) / 5 + d - 1;
    let doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    era * 146_097 + doe - 719_468
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn non_ascii_time_fields_are_errors_not_panics() {
        // 12 bytes before the Z, so the length check passes, with a two-byte character where
        // the old code sliced the year: it panicked and stopped the receiver.
        let body = "2\u{e9}010203040Z".as_bytes();
        assert_eq!(body.len(), 13);
        assert!(parse_time(UTC_TIME, body).is_err());
        let body = "20\u{e9}0102030405Z".as_bytes();
        assert!(parse_time(GENERALIZED_TIME, body).is_err());
        assert!(parse_time(UTC_TIME, b"4912312359+9Z").is_err());
        assert!(parse_time(UTC_TIME, b"").is_err());
    }

    #[test]
    fn civil_days() {
        assert_eq!(days_from_civil(1970, 1, 1), 0);
        assert_eq!(days_from_civil(2000, 3, 1), 11_017);
        assert_eq!(
            parse_time(UTC_TIME, b"491231235959Z").unwrap(),
            2_524_607_999
        );
        assert_eq!(
            parse_time(GENERALIZED_TIME, b"20380119031408Z").unwrap(),
            2_147_483_648
        );
        assert!(parse_time(UTC_TIME, b"4912312359Z").is_err());
    }

    #[test]
    fn garbage_is_an_error_not_a_panic() {
        for bad in [
            &b""[..],
            b"\x30",
            b"\x30\x85\xff\xff\xff\xff\xff",
            b"\x30\x03\x30\x01",
            b"\x04\x00",
        ] {
            assert!(summarize(bad).is_err());
        }
    }
}
