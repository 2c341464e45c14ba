//! `100rel`: what the provider leg says and does about reliable
//! provisional responses (RFC 3262). One provider demanded 100rel in a 183
//! although our INVITE had not offered it, then answered the PRACK with
//! 405; with `disabled` its 183 is taken as an ordinary provisional.

/// The provider leg's 100rel behaviour; the local leg negotiates its own.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum Rel100 {
    /// `Supported: 100rel`, and PRACK for a reliable provisional.
    #[default]
    Supported,
    /// Never offered, and a reliable provisional is taken as unreliable:
    /// no PRACK goes out.
    Disabled,
    /// Not offered, but a reliable provisional is PRACKed.
    SupportedNotAnnounced,
    /// `Require: 100rel`.
    Required,
}

impl Rel100 {
    /// Whether our INVITE lists 100rel in Supported.
    pub fn in_supported(self) -> bool {
        self == Rel100::Supported
    }

    /// Whether our INVITE lists 100rel in Require.
    pub fn in_require(self) -> bool {
        self == Rel100::Required
    }

    /// Whether a provisional with `Require: 100rel` is PRACKed.
    pub fn pracks(self) -> bool {
        self != Rel100::Disabled
    }
}
