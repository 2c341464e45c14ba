//! `contact_user`, `from_user`, `from_domain`, `pai`: who the gateway says
//! it is at the peer. Trunks often want their pilot number in From and the
//! real caller in P-Asserted-Identity (RFC 3325); registrars sometimes want
//! the account or the DID as the Contact user.

/// The user part of our From in calls to the peer.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub enum FromUser {
    /// The line's account, or the caller's number at a trunk.
    #[default]
    Default,
    /// The caller's number.
    Caller,
    /// The line's account (a trunk without one keeps the caller).
    Account,
    /// A fixed user, such as the trunk's pilot number.
    Fixed(String),
}

/// The P-Asserted-Identity of calls to the peer.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub enum Pai {
    #[default]
    Off,
    /// The caller's number at our From domain.
    Caller,
    /// A fixed identity: a `sip:`/`tel:` URI.
    Fixed(String),
}

impl FromUser {
    pub fn pick<'a>(&'a self, caller: &'a str, account: Option<&'a str>) -> &'a str {
        match self {
            FromUser::Default | FromUser::Account => account.unwrap_or(caller),
            FromUser::Caller => caller,
            FromUser::Fixed(user) => user,
        }
    }
}

impl Pai {
    /// The header value, if one is sent.
    pub fn value(&self, display: Option<&str>, caller: &str, domain: &str) -> Option<String> {
        let display = display.map(|d| format!("{d} ")).unwrap_or_default();
        match self {
            Pai::Off => None,
            Pai::Caller => Some(format!("{display}<sip:{caller}@{domain}>")),
            Pai::Fixed(uri) => Some(format!("<{uri}>")),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn from_user_choices() {
        assert_eq!(FromUser::Default.pick("100", Some("acct")), "acct");
        assert_eq!(FromUser::Default.pick("100", None), "100");
        assert_eq!(FromUser::Caller.pick("100", Some("acct")), "100");
        assert_eq!(
            FromUser::Fixed("0215550100".into()).pick("100", None),
            "0215550100"
        );
    }

    #[test]
    fn pai_values() {
        assert_eq!(Pai::Off.value(None, "100", "d"), None);
        assert_eq!(
            Pai::Caller
                .value(Some("\"Ann\""), "+4930100", "pbx.example")
                .as_deref(),
            Some("\"Ann\" <sip:+4930100@pbx.example>")
        );
        assert_eq!(
            Pai::Fixed("tel:+4930100".into())
                .value(None, "1", "d")
                .as_deref(),
            Some("<tel:+4930100>")
        );
    }
}
