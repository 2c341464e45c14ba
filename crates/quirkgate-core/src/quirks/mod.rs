//! The quirk layer: how the provider-facing leg of the gateway bends to one
//! provider. A [`Quirks`] value is the resolved profile of one line or
//! trunk; each setting lives in a module of its own and is applied at one
//! seam of the provider leg:
//!
//! | seam | quirks |
//! |---|---|
//! | composing a REGISTER | [`register_call_id`], [`identity`] (Contact user), [`registration`] |
//! | registration retries | [`registration`] |
//! | admitting a call | [`call_caps`] |
//! | addressing an INVITE | [`number_format`], [`tel_uri`], [`uri_params`], [`identity`] |
//! | extensions offered in an INVITE | [`rel100`], [`session_timer`] |
//! | headers of requests to the peer | [`header_edits`] |
//! | a provisional from the peer | [`rel100`] |
//! | an unanswered call | `no_answer_timeout` |
//! | an established call | [`session_timer`] |
//! | peer health | [`options_ping`] |
//!
//! The rest of the core never asks which provider it talks to: it asks the
//! peer's `Quirks`.

pub mod call_caps;
pub mod header_edits;
pub mod identity;
pub mod number_format;
pub mod options_ping;
pub mod register_call_id;
pub mod registration;
pub mod rel100;
pub mod session_timer;
pub mod tel_uri;
pub mod uri_params;

use std::time::Duration;

pub use call_caps::{ActiveCalls, CallCaps, Direction};
pub use header_edits::HeaderEdits;
pub use identity::{FromUser, Pai};
pub use number_format::NumberFormat;
pub use options_ping::PingConfig;
pub use register_call_id::RegisterCallId;
pub use registration::Registration;
pub use rel100::Rel100;
pub use session_timer::{RefreshMethod, Refresher, SessionTimer, TimerMode};

/// Every quirk setting of one peer; `Default` is plain RFC 3261.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct Quirks {
    pub register_call_id: RegisterCallId,
    pub rel100: Rel100,
    /// URI parameters appended to the Request-URI of calls to the peer.
    pub request_uri_params: Vec<String>,
    /// URI parameters appended to the To URI of calls to the peer.
    pub to_params: Vec<String>,
    /// URI parameters appended to the From URI of calls to the peer.
    pub from_params: Vec<String>,
    /// `tel:` URIs (RFC 3966) in the Request-URI and To of calls.
    pub tel_uri: bool,
    pub caps: CallCaps,
    /// Cancel an outgoing call through this peer unanswered this long;
    /// `None` keeps the gateway's default.
    pub no_answer_timeout: Option<Duration>,
    /// The user part of our Contact in REGISTER and in calls.
    pub contact_user: Option<String>,
    pub from_user: FromUser,
    /// The host of our From in calls; the peer's domain by default.
    pub from_domain: Option<String>,
    pub pai: Pai,
    pub number_format: NumberFormat,
    pub session_timer: SessionTimer,
    pub headers: HeaderEdits,
    pub registration: Registration,
    pub options_ping: Option<PingConfig>,
}

/// A call leaving through the peer, before the quirks shape it.
#[derive(Debug, Clone, Copy)]
pub struct OutgoingCall<'a> {
    /// The called number, after the dial plan and the peer's refinement.
    pub number: &'a str,
    pub caller: &'a str,
    pub caller_display: Option<&'a str>,
    /// The line's account at the peer; trunks have none.
    pub account: Option<&'a str>,
    /// The peer's domain (`host[:port]`).
    pub domain: &'a str,
}

/// How the INVITE to the peer addresses the call.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Addressing {
    pub request_uri: String,
    pub from: String,
    pub to: String,
    /// The user part of our Contact.
    pub contact_user: String,
    pub pai: Option<String>,
    /// The called number as the peer sees it.
    pub number: String,
}

impl Quirks {
    /// The addressing of a call through this peer: number format, URI
    /// scheme and parameters, and our identity there.
    pub fn address(&self, call: &OutgoingCall) -> Addressing {
        let number = self.number_format.apply(call.number);
        let callee = if self.tel_uri {
            tel_uri::tel_uri(&number, self.number_format.country_code(), call.domain)
        } else {
            format!("sip:{number}@{}", call.domain)
        };
        let from_user = self.from_user.pick(call.caller, call.account);
        let from_domain = self.from_domain.as_deref().unwrap_or(call.domain);
        let display = call
            .caller_display
            .map(|d| format!("{d} "))
            .unwrap_or_default();
        let from_uri = format!("sip:{from_user}@{from_domain}");
        Addressing {
            request_uri: uri_params::append(&callee, &self.request_uri_params),
            to: format!("<{}>", uri_params::append(&callee, &self.to_params)),
            from: format!(
                "{display}<{}>",
                uri_params::append(&from_uri, &self.from_params)
            ),
            contact_user: self
                .contact_user
                .clone()
                .unwrap_or_else(|| from_user.to_string()),
            pai: self
                .pai
                .value(call.caller_display, call.caller, from_domain),
            number,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn call() -> OutgoingCall<'static> {
        OutgoingCall {
            number: "02155501234",
            caller: "100",
            caller_display: Some("\"Ann\""),
            account: Some("line1"),
            domain: "ims.example:5060",
        }
    }

    #[test]
    fn plain_rfc3261_addressing() {
        let a = Quirks::default().address(&call());
        assert_eq!(a.request_uri, "sip:02155501234@ims.example:5060");
        assert_eq!(a.to, "<sip:02155501234@ims.example:5060>");
        assert_eq!(a.from, "\"Ann\" <sip:line1@ims.example:5060>");
        assert_eq!(a.contact_user, "line1");
        assert_eq!(a.pai, None);
    }

    #[test]
    fn an_ims_trunk_shape() {
        let q = Quirks {
            number_format: NumberFormat::PlusE164 {
                country_code: "86".into(),
            },
            tel_uri: true,
            request_uri_params: vec!["user=phone".into()],
            from_user: FromUser::Fixed("+862155500000".into()),
            from_domain: Some("ims.mnc000.mcc460.3gppnetwork.org".into()),
            from_params: vec!["user=phone".into()],
            pai: Pai::Caller,
            contact_user: Some("pilot".into()),
            ..Quirks::default()
        };
        let a = q.address(&call());
        assert_eq!(a.request_uri, "tel:+862155501234;user=phone");
        assert_eq!(a.to, "<tel:+862155501234>");
        assert_eq!(
            a.from,
            "\"Ann\" <sip:+862155500000@ims.mnc000.mcc460.3gppnetwork.org;user=phone>"
        );
        assert_eq!(
            a.pai.as_deref(),
            Some("\"Ann\" <sip:100@ims.mnc000.mcc460.3gppnetwork.org>")
        );
        assert_eq!(
            (a.contact_user.as_str(), a.number.as_str()),
            ("pilot", "+862155501234")
        );
    }
}
