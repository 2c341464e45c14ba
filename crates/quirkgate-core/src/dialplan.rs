//! The dial plan, in the office PBX's terms: routes chosen by the longest
//! prefix of the called number, number transitions (delete, replace,
//! insert) with optional re-analysis, a last "refine" transition per
//! outgoing line or trunk, and a blacklist by caller and called prefix.

use std::collections::HashMap;

/// Where a route sends a call.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Target {
    User(String),
    Line(String),
    Trunk(String),
    /// Several lines, used round-robin.
    Group(String),
}

impl Target {
    /// `user:100`, `line:acme`, `trunk:gw`, `group:out`.
    pub fn parse(s: &str) -> Result<Target, String> {
        let (kind, name) = s.split_once(':').ok_or_else(|| {
            format!("'{s}' should be user:NUMBER, line:NAME, trunk:NAME or group:NAME")
        })?;
        if name.is_empty() {
            return Err(format!("'{s}' names nothing after '{kind}:'"));
        }
        let name = name.to_string();
        match kind {
            "user" => Ok(Target::User(name)),
            "line" => Ok(Target::Line(name)),
            "trunk" => Ok(Target::Trunk(name)),
            "group" => Ok(Target::Group(name)),
            other => Err(format!(
                "unknown target kind '{other}' (user, line, trunk or group)"
            )),
        }
    }
}

/// A change of the called number at a position.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Transition {
    /// Removes `len` digits from `at`.
    Delete { at: usize, len: usize },
    /// Replaces `len` digits from `at` with `with`.
    Replace { at: usize, len: usize, with: String },
    /// Inserts `with` at `at`.
    Insert { at: usize, with: String },
}

impl Transition {
    /// Applies the transition; positions past the end clamp to it, so a
    /// short number is never an error at run time.
    pub fn apply(&self, number: &str) -> String {
        let chars: Vec<char> = number.chars().collect();
        let clamp = |i: usize| i.min(chars.len());
        let (at, len, with) = match self {
            Transition::Delete { at, len } => (*at, *len, ""),
            Transition::Replace { at, len, with } => (*at, *len, with.as_str()),
            Transition::Insert { at, with } => (*at, 0, with.as_str()),
        };
        let (start, end) = (clamp(at), clamp(at.saturating_add(len)));
        chars[..start]
            .iter()
            .copied()
            .chain(with.chars())
            .chain(chars[end..].iter().copied())
            .collect()
    }
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Route {
    /// Digits the called number starts with; empty matches every number.
    pub prefix: String,
    pub target: Target,
    pub transition: Option<Transition>,
    /// Analyse the number again after the transition.
    pub reanalyse: bool,
}

/// A caller/called rule refusing a share of the calls it matches.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct BlacklistRule {
    /// A caller prefix, `*` for any, or `anonymous` for callers that hide
    /// their identity (`Privacy: id`, `anonymous@`, no number).
    pub caller: String,
    /// A called prefix, or `*`.
    pub called: String,
    /// Percentage of matching calls refused, 0 to 100.
    pub rate: u8,
    pub status: u16,
}

/// The outcome of routing a number.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Decision {
    pub target: Target,
    /// The called number after the transitions.
    pub number: String,
    /// The prefix that matched: routes sharing it share a round-robin.
    pub prefix: String,
}

/// How often a route may send a number back for analysis before the plan
/// is considered to loop.
const MAX_REANALYSIS: usize = 8;

#[derive(Debug, Clone, Default)]
pub struct DialPlan {
    pub routes: Vec<Route>,
    pub blacklist: Vec<BlacklistRule>,
    /// Calls each blacklist rule has matched, for its rate.
    matched: HashMap<usize, u64>,
}

impl DialPlan {
    pub fn new(routes: Vec<Route>, blacklist: Vec<BlacklistRule>) -> Self {
        DialPlan {
            routes,
            blacklist,
            matched: HashMap::new(),
        }
    }

    /// Routes `called`: the routes sharing the longest matching prefix,
    /// each with its transition applied (several lines for one prefix are
    /// used round-robin by the caller of this). Empty when no route
    /// matches or the plan loops.
    pub fn route(&self, called: &str) -> Vec<Decision> {
        let mut number = called.to_string();
        for _ in 0..=MAX_REANALYSIS {
            let Some(longest) = self
                .routes
                .iter()
                .filter(|r| number.starts_with(&r.prefix))
                .map(|r| r.prefix.len())
                .max()
            else {
                return Vec::new();
            };
            let candidates: Vec<&Route> = self
                .routes
                .iter()
                .filter(|r| r.prefix.len() == longest && number.starts_with(&r.prefix))
                .collect();
            if let Some(again) = candidates.iter().find(|r| r.reanalyse) {
                if let Some(t) = &again.transition {
                    number = t.apply(&number);
                }
                continue;
            }
            return candidates
                .into_iter()
                .map(|r| Decision {
                    target: r.target.clone(),
                    number: r
                        .transition
                        .as_ref()
                        .map_or_else(|| number.clone(), |t| t.apply(&number)),
                    prefix: r.prefix.clone(),
                })
                .collect();
        }
        Vec::new()
    }

    /// The status to refuse a call with, if a blacklist rule takes it.
    /// `caller` is `None` for an anonymous caller. Rates are applied
    /// evenly (every n-th match), not by chance, so behaviour is
    /// reproducible.
    pub fn blocked(&mut self, caller: Option<&str>, called: &str) -> Option<u16> {
        for (i, rule) in self.blacklist.iter().enumerate() {
            let caller_matches = match (rule.caller.as_str(), caller) {
                ("*", _) => true,
                ("anonymous", c) => c.is_none(),
                (prefix, Some(c)) => c.starts_with(prefix),
                (_, None) => false,
            };
            let called_matches = rule.called == "*" || called.starts_with(&rule.called);
            if !(caller_matches && called_matches) {
                continue;
            }
            let n = self.matched.entry(i).or_insert(0);
            *n += 1;
            let rate = u64::from(rule.rate.min(100));
            // Refuse when the running share of refusals falls behind rate.
            if (*n * rate) / 100 > ((*n - 1) * rate) / 100 {
                return Some(rule.status);
            }
        }
        None
    }
}

#[cfg(test)]
pub(crate) mod tests {
    use super::*;

    /// A route from its parts, for tests here and in the gateway.
    pub(crate) fn route(
        prefix: &str,
        target: &str,
        transition: Option<Transition>,
        reanalyse: bool,
    ) -> Route {
        Route {
            prefix: prefix.into(),
            target: Target::parse(target).unwrap(),
            transition,
            reanalyse,
        }
    }

    #[test]
    fn longest_prefix_wins() {
        let plan = DialPlan::new(
            vec![
                route("", "line:default", None, false),
                route("0", "line:national", None, false),
                route("00", "line:international", None, false),
                route("1", "user:1", None, false),
            ],
            vec![],
        );
        assert_eq!(
            plan.route("0049301")[0].target,
            Target::Line("international".into())
        );
        assert_eq!(
            plan.route("030123")[0].target,
            Target::Line("national".into())
        );
        assert_eq!(plan.route("555")[0].target, Target::Line("default".into()));
        assert!(DialPlan::default().route("555").is_empty());
    }

    #[test]
    fn transitions_and_reanalysis() {
        // Delete the leading 9 (the office's "outside line" digit), then
        // analyse again: 0 goes to the national line.
        let plan = DialPlan::new(
            vec![
                route(
                    "9",
                    "user:unused",
                    Some(Transition::Delete { at: 0, len: 1 }),
                    true,
                ),
                route("0", "line:acme", None, false),
            ],
            vec![],
        );
        assert_eq!(
            plan.route("9030123"),
            [Decision {
                target: Target::Line("acme".into()),
                number: "030123".into(),
                prefix: "0".into(),
            }]
        );
        let replace = Transition::Replace {
            at: 0,
            len: 1,
            with: "0086".into(),
        };
        assert_eq!(replace.apply("010123"), "008610123");
        assert_eq!(
            Transition::Insert {
                at: 0,
                with: "0".into()
            }
            .apply("30123"),
            "030123"
        );
        assert_eq!(
            Transition::Delete { at: 5, len: 9 }.apply("123"),
            "123",
            "positions clamp"
        );
    }

    #[test]
    fn routes_sharing_the_longest_prefix_are_all_returned() {
        let plan = DialPlan::new(
            vec![
                route("0", "line:a", None, false),
                route(
                    "0",
                    "line:b",
                    Some(Transition::Insert {
                        at: 0,
                        with: "0086".into(),
                    }),
                    false,
                ),
                route("", "line:c", None, false),
            ],
            vec![],
        );
        let found: Vec<(Target, String)> = plan
            .route("010")
            .into_iter()
            .map(|d| (d.target, d.number))
            .collect();
        assert_eq!(
            found,
            [
                (Target::Line("a".into()), "010".into()),
                (Target::Line("b".into()), "0086010".into())
            ]
        );
    }

    #[test]
    fn a_looping_plan_is_refused() {
        let plan = DialPlan::new(vec![route("1", "user:x", None, true)], vec![]);
        assert!(plan.route("123").is_empty());
    }

    #[test]
    fn blacklist_blocks_anonymous_and_applies_rates_evenly() {
        let mut plan = DialPlan::new(
            vec![],
            vec![
                BlacklistRule {
                    caller: "anonymous".into(),
                    called: "*".into(),
                    rate: 100,
                    status: 433,
                },
                BlacklistRule {
                    caller: "0900".into(),
                    called: "1".into(),
                    rate: 50,
                    status: 603,
                },
            ],
        );
        assert_eq!(plan.blocked(None, "100"), Some(433));
        assert_eq!(plan.blocked(Some("4930"), "100"), None);
        let refused = (0..10)
            .filter(|_| plan.blocked(Some("0900123"), "100").is_some())
            .count();
        assert_eq!(refused, 5);
        assert_eq!(
            plan.blocked(Some("0900123"), "200"),
            None,
            "called prefix must match"
        );
    }
}
