//! Quirk profiles: named sets of quirk settings (`profiles/*.toml`, built
//! into the binary, or a file a line or trunk names by path). A profile may
//! extend another; a line or trunk picks one and may override single keys.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use schemars::JsonSchema;
use serde::Deserialize;

use super::quirks::QuirkSettings;
use super::{line_column, ConfigError};

/// The profiles shipped with quirkgate, by name.
pub const BUILTIN: &[(&str, &str)] = &[
    ("rfc3261", include_str!("../../profiles/rfc3261.toml")),
    (
        "fresh-register-call-id",
        include_str!("../../profiles/fresh-register-call-id.toml"),
    ),
    ("no-prack", include_str!("../../profiles/no-prack.toml")),
    (
        "ims-user-phone",
        include_str!("../../profiles/ims-user-phone.toml"),
    ),
    (
        "pstn-tel-uri",
        include_str!("../../profiles/pstn-tel-uri.toml"),
    ),
    (
        "two-channel-trunk",
        include_str!("../../profiles/two-channel-trunk.toml"),
    ),
    (
        "no-answer-60s",
        include_str!("../../profiles/no-answer-60s.toml"),
    ),
    (
        "session-timer-required",
        include_str!("../../profiles/session-timer-required.toml"),
    ),
    (
        "china-mobile-ims",
        include_str!("../../profiles/china-mobile-ims.toml"),
    ),
];

/// A profile file.
#[derive(Debug, Clone, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct ProfileFile {
    pub description: String,
    /// The profile this one builds on.
    pub extends: Option<String>,
    #[serde(default)]
    pub quirks: QuirkSettings,
    /// Why each setting is there: a capture, a public thread, a date.
    #[serde(default)]
    pub why: BTreeMap<String, String>,
}

#[derive(Debug, Clone)]
pub struct Profile {
    pub name: String,
    /// Where it was read: `profiles/NAME.toml (built in)` or a path.
    pub origin: PathBuf,
    pub file: ProfileFile,
}

/// The effective quirk settings of a peer, with where each came from.
#[derive(Debug, Clone)]
pub struct Resolved {
    pub settings: QuirkSettings,
    /// Key → `default`, `profile NAME`, or `inline`.
    pub origins: BTreeMap<String, String>,
    pub why: BTreeMap<String, String>,
}

fn parse(name: &str, text: &str, origin: PathBuf) -> Result<Profile, ConfigError> {
    let error = |offset: Option<usize>, message: String| {
        let (line, column) = offset.map_or((0, 0), |o| line_column(text, o));
        ConfigError {
            file: origin.clone(),
            line,
            column,
            message,
        }
    };
    let file: ProfileFile = toml::from_str(text)
        .map_err(|e| error(e.span().map(|s| s.start), e.message().to_string()))?;
    let keys = QuirkSettings::all_keys();
    if let Some(stray) = file.why.keys().find(|k| !keys.contains(k)) {
        return Err(error(
            text.find(&format!("{stray} ="))
                .or_else(|| text.find(stray.as_str())),
            format!("why.{stray}: no quirk key '{stray}' to explain"),
        ));
    }
    Ok(Profile {
        name: name.to_string(),
        origin,
        file,
    })
}

/// A profile by built-in name, or by path (relative to `base`) when the
/// reference has a `/` or ends in `.toml`.
pub fn load(reference: &str, base: &Path) -> Result<Profile, String> {
    if reference.contains('/') || reference.ends_with(".toml") {
        let path = base.join(reference);
        let text = std::fs::read_to_string(&path)
            .map_err(|e| format!("cannot read profile {}: {e}", path.display()))?;
        let name = path
            .file_stem()
            .map_or(reference.to_string(), |s| s.to_string_lossy().into_owned());
        return parse(&name, &text, path).map_err(|e| e.to_string());
    }
    let (name, text) = BUILTIN
        .iter()
        .find(|(n, _)| *n == reference)
        .ok_or_else(|| {
            let names: Vec<&str> = BUILTIN.iter().map(|(n, _)| *n).collect();
            format!(
                "no profile '{reference}' (built in: {}; or a path to a .toml file)",
                names.join(", ")
            )
        })?;
    parse(
        name,
        text,
        PathBuf::from(format!("profiles/{name}.toml (built in)")),
    )
    .map_err(|e| e.to_string())
}

/// A profile and the ones it extends, base first.
pub fn chain(reference: &str, base: &Path) -> Result<Vec<Profile>, String> {
    let mut chain = Vec::new();
    let mut next = Some((reference.to_string(), base.to_path_buf()));
    while let Some((reference, dir)) = next.take() {
        let profile = load(&reference, &dir)?;
        if chain.iter().any(|p: &Profile| p.origin == profile.origin) {
            return Err(format!(
                "profile '{reference}' extends itself through {}",
                chain
                    .iter()
                    .map(|p| p.name.as_str())
                    .collect::<Vec<_>>()
                    .join(" → ")
            ));
        }
        let parent_dir = profile
            .origin
            .parent()
            .map_or(dir.clone(), Path::to_path_buf);
        next = profile.file.extends.clone().map(|e| (e, parent_dir));
        chain.push(profile);
    }
    chain.reverse();
    Ok(chain)
}

/// Defaults, then the profile chain, then the inline overrides.
pub fn resolve(
    profile: Option<&str>,
    inline: Option<&QuirkSettings>,
    base: &Path,
) -> Result<Resolved, String> {
    let mut settings = QuirkSettings::defaults();
    let mut origins: BTreeMap<String, String> = QuirkSettings::all_keys()
        .into_iter()
        .map(|k| (k, "default".to_string()))
        .collect();
    let mut why = BTreeMap::new();
    let mut layer = |settings: &mut QuirkSettings, set: &QuirkSettings, origin: String| {
        settings.overlay(set);
        for key in set.keys() {
            origins.insert(key, origin.clone());
        }
    };
    for p in chain_or_none(profile, base)? {
        layer(&mut settings, &p.file.quirks, format!("profile {}", p.name));
        why.extend(p.file.why.clone());
    }
    if let Some(inline) = inline {
        layer(&mut settings, inline, "inline".to_string());
    }
    Ok(Resolved {
        settings,
        origins,
        why,
    })
}

fn chain_or_none(profile: Option<&str>, base: &Path) -> Result<Vec<Profile>, String> {
    match profile {
        Some(p) => chain(p, base),
        None => Ok(Vec::new()),
    }
}

/// A settings key as TOML writes it: `100rel` must be quoted.
pub fn key_text(key: &str) -> String {
    if key.starts_with(|c: char| c.is_ascii_digit()) {
        format!("\"{key}\"")
    } else {
        key.to_string()
    }
}

impl Resolved {
    /// The settings as TOML lines, each with where it came from.
    pub fn describe(&self) -> String {
        let table = toml::Table::try_from(&self.settings).unwrap_or_default();
        let mut out = String::new();
        for (key, value) in &table {
            let origin = self.origins.get(key).map_or("default", String::as_str);
            out.push_str(&format!("{} = {value}  # {origin}\n", key_text(key)));
        }
        out
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_builtin_profile_parses_and_resolves() {
        for (name, _) in BUILTIN {
            let resolved = resolve(Some(name), None, Path::new(".")).unwrap();
            if let Err(e) = resolved.settings.resolve() {
                panic!("{name}: {}: {}", e.key, e.message);
            }
        }
    }

    #[test]
    fn every_profile_file_is_built_in() {
        let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("profiles");
        for entry in std::fs::read_dir(dir).unwrap() {
            let path = entry.unwrap().path();
            if path.extension().is_some_and(|e| e == "toml") {
                let stem = path.file_stem().unwrap().to_string_lossy().into_owned();
                assert!(
                    BUILTIN.iter().any(|(n, _)| *n == stem),
                    "profiles/{stem}.toml is not in BUILTIN"
                );
            }
        }
    }

    #[test]
    fn extends_composes_and_inline_wins() {
        let inline = QuirkSettings {
            max_calls: Some(super::super::quirks::Cap::Limit(4)),
            ..QuirkSettings::default()
        };
        let r = resolve(Some("china-mobile-ims"), Some(&inline), Path::new(".")).unwrap();
        assert_eq!(r.origins["request_uri_params"], "profile ims-user-phone");
        assert_eq!(r.origins["100rel"], "profile china-mobile-ims");
        assert_eq!(r.origins["max_calls"], "inline");
        assert_eq!(r.origins["to_params"], "profile china-mobile-ims");
        assert_eq!(r.origins["contact_user"], "default");
        let q = r.settings.resolve().unwrap();
        assert_eq!(q.request_uri_params, ["user=phone"]);
        assert_eq!(q.caps.total, Some(4));
    }

    #[test]
    fn a_typo_in_a_profile_names_its_line() {
        let text = "description = \"x\"\n[quirks]\nregister_callid = \"per-request\"\n";
        let err = parse("typo", text, PathBuf::from("typo.toml")).unwrap_err();
        assert_eq!((err.line, err.column), (3, 1));
        assert!(
            err.message.contains("unknown field `register_callid`"),
            "{}",
            err.message
        );
    }

    #[test]
    fn a_loop_of_extends_is_refused() {
        let dir =
            std::env::temp_dir().join(format!("quirkgate-profile-loop-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        std::fs::write(
            dir.join("a.toml"),
            "description = \"a\"\nextends = \"b.toml\"\n",
        )
        .unwrap();
        std::fs::write(
            dir.join("b.toml"),
            "description = \"b\"\nextends = \"a.toml\"\n",
        )
        .unwrap();
        let err = chain("a.toml", &dir).unwrap_err();
        std::fs::remove_dir_all(&dir).unwrap();
        assert!(err.contains("extends itself"), "{err}");
    }
}
