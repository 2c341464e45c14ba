//! One self-contained HTML page per capture, to attach to a ticket: an
//! inline SVG ladder per group; a click on an arrow (or `#m-N` in the
//! address) shows the whole message. Written group by group, so a large
//! capture streams. No external resources: the page works offline.

use std::io::{self, Write};

use super::ladder::{is_retransmission, title};
use super::{is_failure, label, Group};

const COLUMN: usize = 210;
const ROW: usize = 26;
const LEFT: usize = 150;
const TOP: usize = 44;

const STYLE: &str = r#"
body { font: 14px/1.4 system-ui, sans-serif; margin: 0; display: flex; height: 100vh; }
main { flex: 3; overflow: auto; padding: 0 16px; }
aside { flex: 2; border-left: 1px solid #ccc; overflow: auto; padding: 0 16px; background: #fafafa; }
h1 { font-size: 18px; } h2 { font-size: 15px; margin: 24px 0 4px; font-family: monospace; }
pre { font: 12px/1.35 monospace; white-space: pre-wrap; word-break: break-all; }
svg text { font: 12px monospace; }
.host { font-weight: bold; }
.life { stroke: #999; stroke-dasharray: 4 3; }
.m { cursor: pointer; }
.m line { stroke: #245; stroke-width: 1.4; }
.m text { fill: #123; }
.m.fail line { stroke: #c00; } .m.fail text { fill: #c00; font-weight: bold; }
.m.again text { fill: #888; }
.m:hover text, .m.sel text { text-decoration: underline; }
.m.sel line { stroke-width: 3; }
.hit { fill: transparent; }
"#;

const SCRIPT: &str = r#"
function show(n) {
  var t = document.getElementById('m-' + n);
  if (!t) return false;
  document.getElementById('detail').textContent = t.content.textContent;
  document.getElementById('detail-title').textContent = t.dataset.title;
  document.querySelectorAll('.m.sel').forEach(function (e) { e.classList.remove('sel'); });
  document.querySelectorAll('.m[data-n="' + n + '"]').forEach(function (e) { e.classList.add('sel'); });
  return true;
}
document.addEventListener('click', function (e) {
  var g = e.target.closest('.m');
  if (g && show(g.dataset.n)) history.replaceState(null, '', '#m-' + g.dataset.n);
});
var wanted = /^#m-(\d+)$/.exec(location.hash);
if (wanted) show(wanted[1]);
document.body.dataset.ready = 'true';
"#;

/// Escapes text for HTML content and attribute values.
fn escape(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for c in s.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '"' => out.push_str("&quot;"),
            '\'' => out.push_str("&#39;"),
            c if c.is_control() && c != '\n' && c != '\r' && c != '\t' => out.push('\u{fffd}'),
            c => out.push(c),
        }
    }
    out
}

/// Writes the page: `start`, then each group, then `finish`.
pub struct HtmlReport<W: Write> {
    out: W,
    groups: usize,
}

impl<W: Write> HtmlReport<W> {
    pub fn start(mut out: W, capture: &str) -> io::Result<Self> {
        write!(
            out,
            "<!DOCTYPE html>\n<html lang=\"en\"><head><meta charset=\"utf-8\">\
             <title>quirkgate replay: {0}</title><style>{STYLE}</style></head>\n<body>\
             <main><h1>quirkgate replay: {0}</h1>\n",
            escape(capture)
        )?;
        Ok(HtmlReport { out, groups: 0 })
    }

    pub fn group(&mut self, group: &Group) -> io::Result<()> {
        self.groups += 1;
        let hosts = group.hosts();
        let width = LEFT + COLUMN * hosts.len().max(1);
        let height = TOP + ROW * group.messages.len() + 10;
        let x = |c: usize| LEFT + COLUMN * c + COLUMN / 2;
        let out = &mut self.out;
        writeln!(
            out,
            "<section><h2>{}</h2>\n<svg xmlns=\"http://www.w3.org/2000/svg\" width=\"{width}\" \
             height=\"{height}\" role=\"img\">",
            escape(&title(group))
        )?;
        writeln!(
            out,
            "<defs><marker id=\"a{0}\" viewBox=\"0 0 10 10\" refX=\"10\" refY=\"5\" \
             markerWidth=\"7\" markerHeight=\"7\" orient=\"auto-start-reverse\">\
             <path d=\"M0,0 L10,5 L0,10 z\" fill=\"context-stroke\"/></marker></defs>",
            self.groups
        )?;
        for (c, h) in hosts.iter().enumerate() {
            writeln!(
                out,
                "<text class=\"host\" x=\"{}\" y=\"18\" text-anchor=\"middle\">{}</text>\
                 <line class=\"life\" x1=\"{0}\" y1=\"26\" x2=\"{0}\" y2=\"{height}\"/>",
                x(c),
                escape(&h.to_string())
            )?;
        }
        let t0 = group.messages.first().map_or(0, |m| m.time_ns);
        for (i, m) in group.messages.iter().enumerate() {
            let y = TOP + ROW * i;
            let from = hosts.iter().position(|h| *h == m.src).unwrap_or(0);
            let to = hosts.iter().position(|h| *h == m.dst).unwrap_or(0);
            let (x1, x2) = (x(from), x(to));
            let again = is_retransmission(group, i);
            let mut class = String::from("m");
            if is_failure(&m.msg) {
                class.push_str(" fail");
            }
            if again {
                class.push_str(" again");
            }
            let text = label(&m.msg, &group.method);
            let text = if again {
                format!("{text} (again)")
            } else {
                text
            };
            let (lo, hi) = (x1.min(x2), x1.max(x2).max(x1.min(x2) + 40));
            writeln!(
                out,
                "<g class=\"{class}\" data-n=\"{n}\"><title>#{n} packet {packet}</title>\
                 <rect class=\"hit\" x=\"{lo}\" y=\"{ry}\" width=\"{w}\" height=\"{ROW}\"/>\
                 <text x=\"8\" y=\"{ty}\">#{n} {time:.3}</text>\
                 <line x1=\"{x1}\" y1=\"{y}\" x2=\"{x2e}\" y2=\"{y}\" marker-end=\"url(#a{g})\"/>\
                 <text x=\"{mid}\" y=\"{ty}\" text-anchor=\"middle\">{label}</text></g>",
                n = m.number,
                packet = m.packet,
                ry = y - ROW + 8,
                w = hi - lo,
                ty = y - 4,
                time = super::seconds_since(m.time_ns, t0),
                x2e = if x1 == x2 { x1 + 40 } else { x2 },
                g = self.groups,
                mid = (lo + hi) / 2,
                label = escape(&text),
            )?;
        }
        writeln!(out, "</svg>")?;
        for m in &group.messages {
            writeln!(
                out,
                "<template id=\"m-{n}\" data-title=\"#{n} packet {packet} {transport} {src} \u{2192} {dst}\">{text}</template>",
                n = m.number,
                packet = m.packet,
                transport = format!("{:?}", m.transport).to_uppercase(),
                src = m.src,
                dst = m.dst,
                text = escape(&String::from_utf8_lossy(&m.msg.to_bytes())),
            )?;
        }
        writeln!(out, "</section>")
    }

    pub fn finish(mut self, note: &str) -> io::Result<W> {
        if self.groups == 0 {
            writeln!(self.out, "<p>No SIP messages matched.</p>")?;
        }
        write!(
            self.out,
            "<p>{}</p></main>\n<aside><h2 id=\"detail-title\">Click an arrow to see its message</h2>\
             <pre id=\"detail\"></pre></aside>\n<script>{SCRIPT}</script></body></html>\n",
            escape(note)
        )?;
        Ok(self.out)
    }
}
