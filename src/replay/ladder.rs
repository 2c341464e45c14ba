//! The ladder of a group in the terminal: one column per host, one row per
//! message, failures marked with `!` (and red on a colour terminal).

use std::fmt::Write;

use super::{is_failure, label, printable, Group, Kind};

const MIN_COLUMN: usize = 18;
const MAX_COLUMN: usize = 34;

/// Whether an earlier message of the group is this one sent again.
pub fn is_retransmission(group: &Group, index: usize) -> bool {
    let m = &group.messages[index];
    group.messages[..index]
        .iter()
        .any(|e| e.src == m.src && e.dst == m.dst && e.msg.to_bytes() == m.msg.to_bytes())
}

/// A group's title line.
pub fn title(group: &Group) -> String {
    let kind = match group.kind {
        Kind::Registration => "registration",
        Kind::Call => "call",
        Kind::Other => "transaction",
    };
    let forks = if group.dialogs > 1 {
        format!(", {} dialogs", group.dialogs)
    } else {
        String::new()
    };
    format!(
        "{kind} {}  Call-ID {}  ({} messages, {:.3} s{forks})",
        printable(&group.method),
        printable(&group.call_id),
        group.messages.len(),
        group.duration_ns() as f64 / 1e9
    )
}

/// Draws a group; `colour` adds ANSI red to failures.
pub fn draw(group: &Group, colour: bool) -> String {
    let hosts = group.hosts();
    let labels: Vec<String> = (0..group.messages.len())
        .map(|i| {
            let l = label(&group.messages[i].msg, &group.method);
            if is_retransmission(group, i) {
                format!("{l} (again)")
            } else {
                l
            }
        })
        .collect();
    let host_names: Vec<String> = hosts.iter().map(ToString::to_string).collect();
    // Host names are never cut (an IPv6 address is long); labels may be.
    let hosts_width = host_names.iter().map(|h| h.len() + 2).max().unwrap_or(0);
    let labels_width = labels.iter().map(|l| l.len() + 4).max().unwrap_or(0);
    let width = labels_width.clamp(MIN_COLUMN, MAX_COLUMN).max(hosts_width);
    let centre = |column: usize| column * width + width / 2;
    let line_len = centre(hosts.len().saturating_sub(1)) + 1;
    // The width of "!  #1234   0.000  " before the ladder.
    let gutter = 20;
    let mut out = String::new();
    let _ = writeln!(out, "== {}", title(group));
    let mut header = vec![b' '; line_len + width];
    for (i, name) in host_names.iter().enumerate() {
        let name = truncate(name, width);
        let start = centre(i).saturating_sub(name.len() / 2);
        header[start..start + name.len()].copy_from_slice(name.as_bytes());
    }
    let _ = writeln!(
        out,
        "{:gutter$}{}",
        "",
        String::from_utf8_lossy(&header).trim_end()
    );
    let t0 = group.messages.first().map_or(0, |m| m.time_ns);
    for (m, text) in group.messages.iter().zip(&labels) {
        let from = hosts.iter().position(|h| *h == m.src).unwrap_or(0);
        let to = hosts.iter().position(|h| *h == m.dst).unwrap_or(0);
        let mut row = vec![b' '; line_len];
        for c in 0..hosts.len() {
            row[centre(c)] = b'|';
        }
        let (a, b) = (centre(from.min(to)), centre(from.max(to)));
        if a == b {
            // A message to itself: a short loop beside the column.
            row.extend_from_slice(b"<-'");
        } else {
            for cell in &mut row[a + 1..b] {
                *cell = b'-';
            }
            if to > from {
                row[b - 1] = b'>';
            } else {
                row[a + 1] = b'<';
            }
            let room = b - a - 3;
            let text = truncate(text, room);
            let start = a + 2 + (room - text.len()) / 2;
            row[start..start + text.len()].copy_from_slice(text.as_bytes());
        }
        if a == b {
            row.extend_from_slice(text.as_bytes());
        }
        let failure = is_failure(&m.msg);
        let mark = if failure { '!' } else { ' ' };
        let gap = if m.after_gap {
            "  (bytes lost before)"
        } else {
            ""
        };
        let time = super::seconds_since(m.time_ns, t0);
        let row = String::from_utf8_lossy(&row).trim_end().to_string();
        let row = if failure && colour {
            format!("\x1b[31m{row}\x1b[0m")
        } else {
            row
        };
        let _ = writeln!(
            out,
            "{mark}{:>6} {:>10.3}  {row}{gap}",
            format!("#{}", m.number),
            time
        );
    }
    out
}

/// Shortens to at most `max` characters (ASCII-safe), marking the cut.
fn truncate(s: &str, max: usize) -> String {
    let s: String = s
        .chars()
        .map(|c| {
            if c.is_ascii_graphic() || c == ' ' {
                c
            } else {
                '?'
            }
        })
        .collect();
    if s.len() <= max {
        s
    } else if max <= 1 {
        s[..max].to_string()
    } else {
        format!("{}~", &s[..max - 1])
    }
}
