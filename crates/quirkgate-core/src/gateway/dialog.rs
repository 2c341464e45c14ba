//! One leg of a call: a dialog of its own (RFC 3261 §12), with its own
//! Call-ID, tags, CSeq space, route set and remote target. Nothing of one
//! leg is ever copied to the other except what the B2BUA relays on purpose.

use bytes::Bytes;

use crate::ids::IdGenerator;
use crate::msg::build::MessageWriter;
use crate::msg::headers::NameAddr;
use crate::msg::{HeaderName, SipMessage};
use crate::transport::Flow;

#[derive(Debug, Clone)]
pub(super) struct Leg {
    pub call_id: Bytes,
    pub local_tag: String,
    /// The From value we send on this leg, our tag included.
    pub local_header: Bytes,
    /// The To value we send on this leg; the peer's tag once known.
    pub remote_header: Bytes,
    pub remote_tag: Option<Bytes>,
    pub local_cseq: u32,
    /// The peer's Contact: the Request-URI of requests in this dialog.
    pub remote_target: Bytes,
    pub route_set: Vec<Bytes>,
    pub flow: Flow,
    /// Our Contact on this leg.
    pub contact: Bytes,
    /// The credentials our INVITE on this leg needed: the 2xx's ACK
    /// carries them too (RFC 3261 §22.4).
    pub credentials: Option<(HeaderName, String)>,
}

fn with_tag(value: &[u8], tag: &[u8]) -> Bytes {
    Bytes::from(crate::msg::build::with_tag(value, tag))
}

/// The `<uri>` part of a Contact value, for use as a target.
fn contact_target(msg: &SipMessage) -> Option<Bytes> {
    let c = msg.contacts().next()?.ok()?;
    Some(Bytes::copy_from_slice(c.uri))
}

impl Leg {
    /// The caller's side, from its initial INVITE; we are the UAS.
    pub fn from_invite(
        invite: &SipMessage,
        flow: Flow,
        local_tag: String,
        contact: Bytes,
    ) -> Option<Leg> {
        let from = invite.header(HeaderName::From)?;
        let to = invite.header(HeaderName::To)?;
        Some(Leg {
            call_id: Bytes::copy_from_slice(invite.call_id()?),
            local_header: with_tag(to, local_tag.as_bytes()),
            local_tag,
            remote_header: Bytes::copy_from_slice(from),
            remote_tag: invite
                .from_header()?
                .ok()?
                .tag()
                .map(Bytes::copy_from_slice),
            local_cseq: 0,
            remote_target: contact_target(invite)?,
            route_set: invite
                .header_values(HeaderName::RecordRoute)
                .map(Bytes::copy_from_slice)
                .collect(),
            flow,
            contact,
            credentials: None,
        })
    }

    /// The callee's side before any answer; we are the UAC.
    pub fn outgoing(
        ids: &mut IdGenerator,
        from: &str,
        to: &str,
        target: Bytes,
        flow: Flow,
        contact: Bytes,
    ) -> Leg {
        let local_tag = ids.tag();
        Leg {
            call_id: Bytes::from(ids.call_id()),
            local_header: with_tag(from.as_bytes(), local_tag.as_bytes()),
            local_tag,
            remote_header: Bytes::from(to.to_string()),
            remote_tag: None,
            local_cseq: 0,
            remote_target: target,
            route_set: Vec::new(),
            flow,
            contact,
            credentials: None,
        }
    }

    /// Learns the peer's tag, target and route set from a response that
    /// creates or confirms the dialog (RFC 3261 §12.1.2).
    pub fn learn_from_response(&mut self, resp: &SipMessage) {
        // A 2xx confirms the dialog: its Record-Route is the route set even
        // if an early dialog with the same tag had another (§13.2.2.4).
        let confirms = resp.status().is_some_and(|s| (200..300).contains(&s));
        if let Some(Ok(to)) = resp.to_header() {
            if let Some(tag) = to.tag() {
                if confirms || self.remote_tag.as_deref() != Some(tag) {
                    self.remote_tag = Some(Bytes::copy_from_slice(tag));
                    if let Some(value) = resp.header(HeaderName::To) {
                        self.remote_header = Bytes::copy_from_slice(value);
                    }
                    let mut routes: Vec<Bytes> = resp
                        .header_values(HeaderName::RecordRoute)
                        .map(Bytes::copy_from_slice)
                        .collect();
                    routes.reverse();
                    self.route_set = routes;
                }
            }
        }
        if let Some(target) = contact_target(resp) {
            self.remote_target = target;
        }
    }

    /// A target refresh (re-INVITE, UPDATE) may change the peer's Contact.
    pub fn learn_target(&mut self, msg: &SipMessage) {
        if let Some(target) = contact_target(msg) {
            self.remote_target = target;
        }
    }

    /// Starts a request inside this dialog with a fresh branch and the next
    /// CSeq; `seq` overrides the CSeq number (ACK and CANCEL reuse one).
    pub fn request(
        &mut self,
        ids: &mut IdGenerator,
        method: &str,
        seq: Option<u32>,
    ) -> (MessageWriter, u32) {
        let seq = seq.unwrap_or_else(|| {
            self.local_cseq += 1;
            self.local_cseq
        });
        let mut w = MessageWriter::request(method.as_bytes(), &self.remote_target);
        w.known(HeaderName::Via, self.via(&ids.branch()).as_bytes());
        w.known(HeaderName::MaxForwards, b"70");
        w.known(HeaderName::From, &self.local_header);
        w.known(HeaderName::To, &self.remote_header);
        w.known(HeaderName::CallId, &self.call_id);
        w.known(HeaderName::CSeq, format!("{seq} {method}").as_bytes());
        for route in &self.route_set {
            w.known(HeaderName::Route, route);
        }
        if method != "ACK" && method != "BYE" && method != "CANCEL" {
            w.known(HeaderName::Contact, &self.contact_header());
        }
        (w, seq)
    }

    pub fn via(&self, branch: &str) -> String {
        self.flow.via(branch)
    }

    pub fn contact_header(&self) -> Vec<u8> {
        let mut v = b"<".to_vec();
        v.extend_from_slice(&self.contact);
        v.push(b'>');
        v
    }
}

/// The display name and URI user of a From/To value, for the other leg.
pub(super) fn display_and_user(value: &[u8]) -> (Option<String>, Option<String>) {
    let Ok(na) = NameAddr::parse(value) else {
        return (None, None);
    };
    let display = na
        .display_name
        .map(|d| String::from_utf8_lossy(d).into_owned());
    (display, super::uri_number(na.uri))
}
