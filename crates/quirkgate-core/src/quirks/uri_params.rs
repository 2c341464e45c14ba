//! `request_uri_params`, `to_params`, `from_params`: URI parameters a peer
//! insists on (or must not see). One IMS network routes a number only with
//! `user=phone`; other networks refuse the same parameter.

/// `uri` with `params` appended (`user=phone`, or a bare `lr`). A
/// parameter the URI already has is not written twice.
pub fn append(uri: &str, params: &[String]) -> String {
    let mut out = uri.to_string();
    for param in params {
        let name = param.split('=').next().unwrap_or_default();
        let present = uri.split(';').skip(1).any(|p| {
            p.split('=')
                .next()
                .is_some_and(|n| n.eq_ignore_ascii_case(name))
        });
        if !present {
            out.push(';');
            out.push_str(param);
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::append;

    #[test]
    fn parameters_are_appended_once() {
        let p = vec!["user=phone".to_string()];
        assert_eq!(
            append("sip:+4930123@pstn.example", &p),
            "sip:+4930123@pstn.example;user=phone"
        );
        assert_eq!(
            append("sip:1@h;User=phone", &p),
            "sip:1@h;User=phone",
            "already there"
        );
        assert_eq!(append("sip:1@h", &[]), "sip:1@h");
    }
}
