//! `number_format`: how the called number is written toward the peer.
//! Some networks want `+E.164`, some the international digits without `+`,
//! some the national form; the office dials whatever it is used to.

/// The form of numbers sent to the peer.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub enum NumberFormat {
    /// As the dial plan left it.
    #[default]
    Unchanged,
    /// `+` country code and number.
    PlusE164 { country_code: String },
    /// Country code and number, no `+`.
    E164 { country_code: String },
    /// The national form: the trunk prefix and the national number.
    National { country_code: String },
}

/// The international prefix dialled before a country code (`00` in most
/// of the world) and the national trunk prefix (`0`).
const INTERNATIONAL_PREFIX: &str = "00";
const TRUNK_PREFIX: &str = "0";

impl NumberFormat {
    pub fn country_code(&self) -> Option<&str> {
        match self {
            NumberFormat::Unchanged => None,
            NumberFormat::PlusE164 { country_code }
            | NumberFormat::E164 { country_code }
            | NumberFormat::National { country_code } => Some(country_code),
        }
    }

    /// `number` in this format. Digits other than a number's (`*`, `#`,
    /// short codes without a trunk prefix) pass unchanged: they are not
    /// telephone numbers to reformat.
    pub fn apply(&self, number: &str) -> String {
        let (cc, plus) = match self {
            NumberFormat::Unchanged => return number.to_string(),
            NumberFormat::PlusE164 { country_code } => (country_code, true),
            NumberFormat::E164 { country_code } => (country_code, false),
            NumberFormat::National { country_code } => {
                return match international(number, country_code) {
                    Some(digits) => match digits.strip_prefix(country_code.as_str()) {
                        Some(national) => format!("{TRUNK_PREFIX}{national}"),
                        // Abroad: keep it international.
                        None => format!("{INTERNATIONAL_PREFIX}{digits}"),
                    },
                    None => number.to_string(),
                };
            }
        };
        match international(number, cc) {
            Some(digits) if plus => format!("+{digits}"),
            Some(digits) => digits,
            None => number.to_string(),
        }
    }
}

/// The country code and number of `number`, from `+CC…`, `00CC…` or a
/// national `0…` in country `cc`.
fn international(number: &str, cc: &str) -> Option<String> {
    let digits = |s: &str| s.bytes().all(|b| b.is_ascii_digit()) && !s.is_empty();
    let found = if let Some(rest) = number.strip_prefix('+') {
        rest.to_string()
    } else if let Some(rest) = number.strip_prefix(INTERNATIONAL_PREFIX) {
        rest.to_string()
    } else if let Some(rest) = number.strip_prefix(TRUNK_PREFIX) {
        format!("{cc}{rest}")
    } else {
        return None;
    };
    digits(&found).then_some(found)
}

#[cfg(test)]
mod tests {
    use super::NumberFormat;

    #[test]
    fn national_international_and_plus_forms() {
        let cc = || "86".to_string();
        let plus = NumberFormat::PlusE164 { country_code: cc() };
        assert_eq!(plus.apply("02155501234"), "+862155501234");
        assert_eq!(plus.apply("0049301234"), "+49301234");
        assert_eq!(plus.apply("+862155501234"), "+862155501234");
        assert_eq!(plus.apply("110"), "110", "a short code stays");
        assert_eq!(plus.apply("*21#"), "*21#");
        let e164 = NumberFormat::E164 { country_code: cc() };
        assert_eq!(e164.apply("02155501234"), "862155501234");
        let national = NumberFormat::National { country_code: cc() };
        assert_eq!(national.apply("+862155501234"), "02155501234");
        assert_eq!(national.apply("+49301234"), "0049301234");
        assert_eq!(NumberFormat::Unchanged.apply("0215"), "0215");
    }
}
