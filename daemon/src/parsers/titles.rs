//! Finding titles in words for the check ids tools report (testssl's `cert_trust` becomes
//! "Certificate not trusted"), so human output says what is wrong without the tool's
//! vocabulary.
//!
//! Owns only the wording. Must not touch fingerprints: they hash the tool's id (the
//! title the parser passed to `new_finding`), so a reworded title keeps every finding's
//! identity across versions; the id itself stays in the finding's `evidence`.

use super::normalize::clip;

/// testssl.sh ids (compared without case: 3.x writes `BEAST`, 2.9 `beast`) and what a
/// LOW-or-worse result of each means.
const TESTSSL: &[(&str, &str)] = &[
    ("cert_trust", "Certificate not trusted"),
    ("cert_chain_of_trust", "Certificate chain not trusted"),
    (
        "cert_expirationstatus",
        "Certificate expired or expiring soon",
    ),
    ("cert_notafter", "Certificate expires soon"),
    ("cert_validityperiod", "Certificate valid for too long"),
    ("cert_extlifespan", "Certificate valid for too long"),
    (
        "cert_signaturealgorithm",
        "Weak certificate signature algorithm",
    ),
    ("cert_keysize", "Certificate key too small"),
    ("cert_commonname", "Certificate name does not match"),
    (
        "cert_subjectaltname",
        "Certificate has no matching subject alternative name",
    ),
    (
        "cert_revocation",
        "No certificate revocation information (CRL or OCSP)",
    ),
    ("cert_ocspurl", "No OCSP URL in the certificate"),
    (
        "cert_crldistributionpoints",
        "No CRL distribution point in the certificate",
    ),
    (
        "cert_mustStapleExtension",
        "Certificate must-staple without OCSP stapling",
    ),
    ("ocsp_stapling", "OCSP stapling not offered"),
    ("dns_caarecord", "No CAA DNS record"),
    ("sslv2", "SSLv2 offered"),
    ("sslv3", "SSLv3 offered"),
    ("tls1", "TLS 1.0 offered (deprecated)"),
    ("tls1_1", "TLS 1.1 offered (deprecated)"),
    ("tls1_2", "TLS 1.2 not offered"),
    ("tls1_3", "TLS 1.3 not offered"),
    ("heartbleed", "Heartbleed (CVE-2014-0160)"),
    ("ccs", "CCS injection (CVE-2014-0224)"),
    ("ticketbleed", "Ticketbleed (CVE-2016-9244)"),
    ("robot", "ROBOT: RSA padding oracle"),
    ("secure_renego", "Secure renegotiation not supported"),
    (
        "secure_client_renego",
        "Client-initiated renegotiation allowed",
    ),
    ("crime_tls", "TLS compression enabled (CRIME)"),
    ("breach", "HTTP compression enabled (BREACH)"),
    ("poodle_ssl", "POODLE: SSLv3 with CBC ciphers"),
    (
        "fallback_scsv",
        "TLS_FALLBACK_SCSV not supported (downgrade)",
    ),
    ("sweet32", "64-bit block ciphers (SWEET32)"),
    ("freak", "Export RSA ciphers (FREAK)"),
    ("drown", "DROWN: this key is used with SSLv2"),
    ("logjam", "Weak Diffie-Hellman parameters (LOGJAM)"),
    (
        "logjam-common_primes",
        "Common Diffie-Hellman primes (LOGJAM)",
    ),
    ("beast", "Vulnerable to BEAST (CBC ciphers with TLS 1.0)"),
    ("beast_cbc_tls1", "CBC ciphers offered with TLS 1.0"),
    ("cbc_tls1", "CBC ciphers offered with TLS 1.0"),
    ("beast_cbc_ssl3", "CBC ciphers offered with SSLv3"),
    ("lucky13", "CBC ciphers (LUCKY13)"),
    ("winshock", "Winshock (CVE-2014-6321)"),
    ("rc4", "RC4 ciphers offered"),
    ("cipherlist_null", "NULL ciphers offered (no encryption)"),
    (
        "cipherlist_anull",
        "Anonymous ciphers offered (no authentication)",
    ),
    ("cipherlist_export", "Export ciphers offered"),
    ("cipherlist_low", "Low-strength ciphers offered"),
    ("cipherlist_3des_idea", "3DES or IDEA ciphers offered"),
    ("cipherlist_obsoleted", "Obsolete CBC ciphers offered"),
    ("cipherlist_average", "Average-strength ciphers offered"),
    (
        "cipherlist_strong_nofs",
        "Strong ciphers without forward secrecy offered",
    ),
    ("cipher_order", "No server cipher order"),
    ("fs", "No forward secrecy"),
    ("pfs", "No forward secrecy"),
    (
        "fs_tls12_sig_algs",
        "Weak TLS 1.2 signature algorithms offered",
    ),
    (
        "tls_session_ticket",
        "TLS session ticket valid for too long",
    ),
    ("hsts", "HSTS not set"),
    ("hsts_time", "HSTS max-age too short"),
    ("security_headers", "Security headers missing"),
    ("cookie_secure", "Cookie without the Secure flag"),
    ("cookie_httponly", "Cookie without the HttpOnly flag"),
    ("overall_grade", "Overall TLS grade"),
    ("banner_server", "Server banner discloses software"),
    (
        "banner_application",
        "Application banner discloses software",
    ),
];

/// The title of a testssl result: its id in words, with the certificate number testssl
/// adds for servers with several (`OCSP_stapling <cert#2>`); an id without words keeps
/// the id and says the result ("id: finding"). Cipher ids name the cipher offered.
pub fn testssl(id: &str, finding: &str) -> String {
    let (base, cert) = match id.split_once(" <cert#") {
        Some((b, rest)) => (b, rest.strip_suffix('>')),
        None => (id, None),
    };
    let lower = base.to_ascii_lowercase();
    let words = TESTSSL
        .iter()
        .find(|(k, _)| k.eq_ignore_ascii_case(&lower))
        .map(|(_, w)| w.to_string());
    let title = match words {
        Some(w) if lower == "overall_grade" => format!("{w}: {}", clip(finding, 10)),
        Some(w) => w,
        None if lower.starts_with("cipher-") || lower.starts_with("cipher_") => {
            // "TLSv1.2   x0a     DES-CBC3-SHA   ...": the protocol and the cipher name.
            let words: Vec<&str> = finding.split_whitespace().collect();
            match (words.first(), words.get(2)) {
                (Some(proto), Some(name)) => format!("Weak cipher offered: {name} ({proto})"),
                _ => format!("{base}: {}", clip(finding, 60)),
            }
        }
        None => format!("{base}: {}", clip(finding, 60)),
    };
    match cert {
        Some(n) => format!("{title} (certificate {n})"),
        None => title,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn testssl_ids_read_as_what_is_wrong() {
        assert_eq!(testssl("cert_trust", "failed"), "Certificate not trusted");
        assert_eq!(
            testssl("BEAST", "VULNERABLE"),
            testssl("beast", "VULNERABLE")
        );
        assert_eq!(
            testssl("TLS1", "offered (deprecated)"),
            "TLS 1.0 offered (deprecated)"
        );
        assert_eq!(
            testssl("OCSP_stapling <cert#2>", "not offered"),
            "OCSP stapling not offered (certificate 2)"
        );
        assert_eq!(
            testssl(
                "cipher-tls1_2_x0a",
                "TLSv1.2   x0a     DES-CBC3-SHA    RSA   3DES  168"
            ),
            "Weak cipher offered: DES-CBC3-SHA (TLSv1.2)"
        );
        assert_eq!(testssl("overall_grade", "B"), "Overall TLS grade: B");
        // An id with no words still says what testssl found.
        assert_eq!(testssl("new_check", "vulnerable"), "new_check: vulnerable");
        for (id, words) in TESTSSL {
            assert_ne!(testssl(id, "x"), *id, "{id}: {words}");
        }
    }
}
