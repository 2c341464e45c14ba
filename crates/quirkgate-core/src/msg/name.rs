//! Header names the gateway recognises, with their RFC 3261 §7.3.3 compact
//! forms. Any other name is kept as it was written.

macro_rules! header_names {
    ($( $variant:ident => $canonical:literal $(, $compact:literal)? ; )*) => {
        /// A header name the gateway knows by meaning.
        #[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
        pub enum HeaderName {
            $( $variant, )*
            /// Any header the gateway does not own; forwarded unchanged.
            Other,
        }

        impl HeaderName {
            /// Recognises a name case-insensitively, compact forms included.
            pub fn from_bytes(name: &[u8]) -> HeaderName {
                $(
                    if name.eq_ignore_ascii_case($canonical.as_bytes())
                        $( || name.eq_ignore_ascii_case($compact.as_bytes()) )?
                    {
                        return HeaderName::$variant;
                    }
                )*
                HeaderName::Other
            }

            /// The long form, used when the gateway writes a header itself.
            pub fn as_str(self) -> &'static str {
                match self {
                    $( HeaderName::$variant => $canonical, )*
                    HeaderName::Other => "",
                }
            }
        }
    };
}

header_names! {
    Via => "Via", "v";
    From => "From", "f";
    To => "To", "t";
    CallId => "Call-ID", "i";
    CSeq => "CSeq";
    Contact => "Contact", "m";
    Route => "Route";
    RecordRoute => "Record-Route";
    MaxForwards => "Max-Forwards";
    ContentLength => "Content-Length", "l";
    ContentType => "Content-Type", "c";
    WwwAuthenticate => "WWW-Authenticate";
    ProxyAuthenticate => "Proxy-Authenticate";
    Authorization => "Authorization";
    ProxyAuthorization => "Proxy-Authorization";
    Require => "Require";
    ProxyRequire => "Proxy-Require";
    Supported => "Supported", "k";
    Unsupported => "Unsupported";
    Allow => "Allow";
    RSeq => "RSeq";
    RAck => "RAck";
    SessionExpires => "Session-Expires", "x";
    MinSe => "Min-SE";
    PAssertedIdentity => "P-Asserted-Identity";
    CallInfo => "Call-Info";
    Expires => "Expires";
    Date => "Date";
    Subject => "Subject", "s";
    Event => "Event", "o";
    ReferTo => "Refer-To", "r";
    Privacy => "Privacy";
}

impl HeaderName {
    /// Headers that RFC 3261 §7.3.1 allows only once per message; repeating
    /// them makes the message ambiguous (RFC 4475 `multi01`).
    pub fn is_single_valued(self) -> bool {
        matches!(
            self,
            HeaderName::From
                | HeaderName::To
                | HeaderName::CallId
                | HeaderName::CSeq
                | HeaderName::MaxForwards
                | HeaderName::ContentType
                | HeaderName::Expires
                | HeaderName::RSeq
                | HeaderName::RAck
                | HeaderName::SessionExpires
                | HeaderName::MinSe
                | HeaderName::Date
        )
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn compact_and_odd_case_names() {
        assert_eq!(HeaderName::from_bytes(b"v"), HeaderName::Via);
        assert_eq!(
            HeaderName::from_bytes(b"MaX-fOrWaRdS"),
            HeaderName::MaxForwards
        );
        assert_eq!(HeaderName::from_bytes(b"I"), HeaderName::CallId);
        assert_eq!(HeaderName::from_bytes(b"C%6Fntact"), HeaderName::Other);
        assert_eq!(HeaderName::CallId.as_str(), "Call-ID");
    }
}
