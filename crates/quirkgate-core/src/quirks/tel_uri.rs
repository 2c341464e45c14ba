//! `uri_scheme = "tel"`: some PSTN gateways take only `tel:` URIs
//! (RFC 3966) and answer `416 Unsupported URI Scheme` to `sip:`.

/// The `tel:` URI of `number`: global when it starts with `+`, otherwise
/// local with the `phone-context` RFC 3966 §5.1.5 requires (the country
/// code as `+CC` when known, else the peer's domain).
pub fn tel_uri(number: &str, country_code: Option<&str>, domain: &str) -> String {
    if number.starts_with('+') {
        return format!("tel:{number}");
    }
    let context = match country_code {
        Some(cc) => format!("+{}", cc.trim_start_matches('+')),
        None => host_only(domain).to_string(),
    };
    format!("tel:{number};phone-context={context}")
}

/// A domain context is a host name: `host:port` and `[v6]:port` lose
/// the port.
fn host_only(domain: &str) -> &str {
    match domain.find(']') {
        Some(end) => &domain[..=end],
        None => domain.split(':').next().unwrap_or(domain),
    }
}

#[cfg(test)]
mod tests {
    use super::tel_uri;

    #[test]
    fn global_and_local_numbers() {
        assert_eq!(tel_uri("+8613800138000", None, "x"), "tel:+8613800138000");
        assert_eq!(
            tel_uri("5550123", Some("49"), "x"),
            "tel:5550123;phone-context=+49"
        );
        assert_eq!(
            tel_uri("5550123", None, "pstn.example:5070"),
            "tel:5550123;phone-context=pstn.example"
        );
        assert_eq!(
            tel_uri("12", None, "[::1]:5070"),
            "tel:12;phone-context=[::1]"
        );
    }
}
