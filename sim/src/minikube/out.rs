//! minikube's console output: emoji-prefixed lines (`pkg/minikube/style/style.go`: prefix, two
//! spaces, text; steps on stdout, errors on stderr), the rounded boxes of box-cli-maker (padding 4×1),
//! the "Exiting due to" error block (`pkg/minikube/out/out_reason.go`, `pkg/minikube/exit`) and
//! tablewriter's Unicode tables (`profile list`).

use std::io::Write;

/// The emoji prefixes of minikube's styles (`pkg/minikube/style/style.go`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Style {
    /// 😄 `Happy`.
    Happy,
    /// ✨ `Sparkle`.
    Sparkle,
    /// 📌 `Pin`.
    Pin,
    /// 👍 `ThumbsUp`.
    ThumbsUp,
    /// 🚜 `Pulling`.
    Pulling,
    /// 🔥 `StartingVM` / `DeletingHost`.
    Fire,
    /// 📦 `Containerd`.
    Containerd,
    /// 🏄 `Ready`.
    Ready,
    /// 🔄 `Restarting`.
    Restarting,
    /// 🏃 `Running`.
    Running,
    /// ✋ `Stopping`.
    Stopping,
    /// 🛑 `Stopped` / `PowerOff`.
    Stopped,
    /// ✅ `Check`.
    Check,
    /// 💀 `Deleted`.
    Deleted,
    /// 🙄 `Meh`.
    Meh,
    /// 🤷 `Shrug`.
    Shrug,
    /// 👉 `Workaround` / `URL`.
    Pointer,
    /// ❌ `Failure`.
    Failure,
    /// 😿 `Sad`.
    Sad,
    /// 💡 `Tip`.
    Tip,
    /// ❗ `Warning`.
    Warning,
    /// No prefix.
    Empty,
}

impl Style {
    /// The prefix, including the two spaces.
    pub fn prefix(self) -> &'static str {
        match self {
            Style::Happy => "😄  ",
            Style::Sparkle => "✨  ",
            Style::Pin => "📌  ",
            Style::ThumbsUp => "👍  ",
            Style::Pulling => "🚜  ",
            Style::Fire => "🔥  ",
            Style::Containerd => "📦  ",
            Style::Ready => "🏄  ",
            Style::Restarting => "🔄  ",
            Style::Running => "🏃  ",
            Style::Stopping => "✋  ",
            Style::Stopped => "🛑  ",
            Style::Check => "✅  ",
            Style::Deleted => "💀  ",
            Style::Meh => "🙄  ",
            Style::Shrug => "🤷  ",
            Style::Pointer => "👉  ",
            Style::Failure => "❌  ",
            Style::Sad => "😿  ",
            Style::Tip => "💡  ",
            Style::Warning => "❗  ",
            Style::Empty => "",
        }
    }
}

/// A styled line.
pub fn styled(style: Style, text: &str) -> String {
    format!("{}{text}", style.prefix())
}

/// Terminal columns a character takes (emoji are wide; variation selectors and joiners take none).
fn char_width(c: char) -> usize {
    match c as u32 {
        0xFE00..=0xFE0F | 0x200B..=0x200D => 0,
        0x1F000..=0x1FAFF => 2,
        0x2705 | 0x270A | 0x270B | 0x2728 | 0x274C | 0x274E | 0x2753..=0x2755 | 0x2757 => 2,
        0x231A | 0x231B | 0x23E9..=0x23EC | 0x23F0 | 0x23F3 | 0x2B50 | 0x26A1 => 2,
        _ => 1,
    }
}

/// Terminal columns a string takes.
pub fn display_width(s: &str) -> usize {
    s.chars().map(char_width).sum()
}

/// A rounded box as box-cli-maker draws it for minikube (`Px: 4, Py: 1, Type: "Round"`): lines
/// left-aligned, an optional title centred above them with an empty line between, one empty line
/// of padding above and below. No colour (minikube drops it when not on a terminal).
pub fn rounded_box(title: Option<&str>, lines: &[&str]) -> String {
    let px = 4;
    let content = lines.iter().map(|l| display_width(l)).max().unwrap_or(0);
    let width = content.max(title.map(display_width).unwrap_or(0)) + 2 * px;
    let blank = format!("│{}│\n", " ".repeat(width));
    let mut out = format!("╭{}╮\n", "─".repeat(width));
    out.push_str(&blank);
    if let Some(t) = title {
        let tw = display_width(t);
        let left = (width - tw) / 2;
        out.push_str(&format!(
            "│{}{t}{}│\n",
            " ".repeat(left),
            " ".repeat(width - tw - left)
        ));
        out.push_str(&blank);
    }
    for l in lines {
        let lw = display_width(l);
        out.push_str(&format!(
            "│{}{l}{}│\n",
            " ".repeat(px),
            " ".repeat(width - px - lw)
        ));
    }
    out.push_str(&blank);
    out.push_str(&format!("╰{}╯\n", "─".repeat(width)));
    out
}

/// A table as tablewriter v1 draws it for `minikube profile list`: Unicode borders, headers in
/// capitals and centred, cells left-aligned, one space of padding.
pub fn table(headers: &[&str], rows: &[Vec<String>], row_prefix: &[Option<&str>]) -> String {
    let n = headers.len();
    let mut widths: Vec<usize> = headers.iter().map(|h| display_width(h)).collect();
    for r in rows {
        for (i, c) in r.iter().enumerate().take(n) {
            widths[i] = widths[i].max(display_width(c));
        }
    }
    let line = |l: &str, m: &str, r: &str| {
        let parts: Vec<String> = widths.iter().map(|w| "─".repeat(w + 2)).collect();
        format!("{l}{}{r}\n", parts.join(m))
    };
    let mut out = line("┌", "┬", "┐");
    let cells: Vec<String> = headers
        .iter()
        .zip(&widths)
        .map(|(h, w)| {
            let h = h.to_uppercase();
            let hw = display_width(&h);
            let left = (w - hw) / 2;
            format!(" {}{h}{} ", " ".repeat(left), " ".repeat(w - hw - left))
        })
        .collect();
    out.push_str(&format!("│{}│\n", cells.join("│")));
    out.push_str(&line("├", "┼", "┤"));
    for (ri, r) in rows.iter().enumerate() {
        let cells: Vec<String> = r
            .iter()
            .zip(&widths)
            .map(|(c, w)| format!(" {c}{} ", " ".repeat(w - display_width(c))))
            .collect();
        let body = format!("│{}│", cells.join("│"));
        match row_prefix.get(ri).copied().flatten() {
            Some(color) => out.push_str(&format!("{color}{body}\x1b[0m\n")),
            None => out.push_str(&format!("{body}\n")),
        }
    }
    out.push_str(&line("└", "┴", "┘"));
    out
}

/// Where minikube writes: stdout and stderr of this process.
#[derive(Debug, Default)]
pub struct Console;

impl Console {
    /// A step on stdout: `<emoji>  text`.
    pub fn step(&self, style: Style, text: &str) {
        self.out(&format!("{}\n", styled(style, text)));
    }

    /// A styled line on stderr.
    pub fn err_step(&self, style: Style, text: &str) {
        self.err(&format!("{}\n", styled(style, text)));
    }

    /// Raw text on stdout.
    pub fn out(&self, s: &str) {
        let mut o = std::io::stdout().lock();
        let _ = o.write_all(s.as_bytes());
        let _ = o.flush();
    }

    /// Raw text on stderr.
    pub fn err(&self, s: &str) {
        let mut e = std::io::stderr().lock();
        let _ = e.write_all(s.as_bytes());
        let _ = e.flush();
    }
}

/// The lines of the box minikube shows after an unexpected error (`displayGitHubIssueMessage` in
/// `pkg/minikube/out/out.go`); commands other than `start` also name their log file.
pub fn issue_box(command: &str, log_file: Option<&str>) -> String {
    let sad = styled(
        Style::Sad,
        "If the above advice does not help, please let us know:",
    );
    let url = styled(
        Style::Pointer,
        "https://github.com/kubernetes/minikube/issues/new/choose",
    );
    let mut lines = vec![
        sad.as_str(),
        url.as_str(),
        "",
        "Please run `minikube logs --file=logs.txt` and attach logs.txt to the GitHub issue.",
    ];
    let file_line;
    if command != "start" {
        lines.push("Please also attach the following file to the GitHub issue:");
        file_line = format!("- {}", log_file.unwrap_or(""));
        lines.push(&file_line);
    }
    rounded_box(None, &lines)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_no_kubernetes_box() {
        let b = rounded_box(
            Some(&styled(Style::Tip, "Things to try without Kubernetes ...")),
            &[
                "- \"minikube ssh\" to SSH into minikube's node.",
                "- \"minikube image\" to build images without docker.",
            ],
        );
        insta::assert_snapshot!(b, @r#"
        ╭──────────────────────────────────────────────────────────╮
        │                                                          │
        │         💡  Things to try without Kubernetes ...         │
        │                                                          │
        │    - "minikube ssh" to SSH into minikube's node.         │
        │    - "minikube image" to build images without docker.    │
        │                                                          │
        ╰──────────────────────────────────────────────────────────╯
        "#);
    }

    #[test]
    fn the_docker_runtime_box_matches_a_real_one() {
        // Published output of minikube v1.24 with the docker runtime (three lines).
        let real = "╭───────────────────────────────────────────────────────────────────────────────────────╮\n\
│                                                                                       │\n\
│                       💡  Things to try without Kubernetes ...                        │\n\
│                                                                                       │\n\
│    - \"minikube ssh\" to SSH into minikube's node.                                      │\n\
│    - \"minikube docker-env\" to point your docker-cli to the docker inside minikube.    │\n\
│    - \"minikube image\" to build images without docker.                                 │\n\
│                                                                                       │\n\
╰───────────────────────────────────────────────────────────────────────────────────────╯\n";
        let ours = rounded_box(
            Some(&styled(Style::Tip, "Things to try without Kubernetes ...")),
            &[
                "- \"minikube ssh\" to SSH into minikube's node.",
                "- \"minikube docker-env\" to point your docker-cli to the docker inside minikube.",
                "- \"minikube image\" to build images without docker.",
            ],
        );
        assert_eq!(ours, real);
    }

    #[test]
    fn the_issue_box_matches_a_real_one() {
        let real = "╭───────────────────────────────────────────────────────────────────────────────────────────╮\n\
│                                                                                           │\n\
│    😿  If the above advice does not help, please let us know:                             │\n\
│    👉  https://github.com/kubernetes/minikube/issues/new/choose                           │\n\
│                                                                                           │\n\
│    Please run `minikube logs --file=logs.txt` and attach logs.txt to the GitHub issue.    │\n\
│    Please also attach the following file to the GitHub issue:                             │\n\
│    - /tmp/minikube_stop_020cbdfafb3addd44ca10e374123151e03b1d8b9_0.log                    │\n\
│                                                                                           │\n\
╰───────────────────────────────────────────────────────────────────────────────────────────╯\n";
        assert_eq!(
            issue_box(
                "stop",
                Some("/tmp/minikube_stop_020cbdfafb3addd44ca10e374123151e03b1d8b9_0.log")
            ),
            real
        );
    }

    #[test]
    fn profile_table_matches_a_real_one() {
        let real = "┌──────────┬────────┬────────────┬──────────────┬─────────┬─────────┬───────┬────────────────┬────────────────────┐\n\
│ PROFILE  │ DRIVER │  RUNTIME   │      IP      │ VERSION │ STATUS  │ NODES │ ACTIVE PROFILE │ ACTIVE KUBECONTEXT │\n\
├──────────┼────────┼────────────┼──────────────┼─────────┼─────────┼───────┼────────────────┼────────────────────┤\n\
│ minikube │ docker │ containerd │ 192.168.49.2 │ v1.37.0 │ Stopped │ 2     │ *              │                    │\n\
└──────────┴────────┴────────────┴──────────────┴─────────┴─────────┴───────┴────────────────┴────────────────────┘\n";
        let row: Vec<String> = [
            "minikube",
            "docker",
            "containerd",
            "192.168.49.2",
            "v1.37.0",
            "Stopped",
            "2",
            "*",
            "",
        ]
        .iter()
        .map(|s| s.to_string())
        .collect();
        let t = table(
            &[
                "Profile",
                "Driver",
                "Runtime",
                "IP",
                "Version",
                "Status",
                "Nodes",
                "Active Profile",
                "Active Kubecontext",
            ],
            &[row],
            &[None],
        );
        assert_eq!(t, real);
    }
}
