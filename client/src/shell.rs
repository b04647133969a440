//! What the shell and `man` need from the command line: completion scripts (clap_complete)
//! and the manual page (clap_mangen), both made from cli.rs's clap types. Must not talk to
//! the daemon.

use clap::CommandFactory;

use crate::cli::Cli;

/// Writes the completion script for `shell` on stdout.
pub fn completions(shell: clap_complete::Shell) {
    clap_complete::generate(shell, &mut Cli::command(), "picket", &mut std::io::stdout());
}

/// The manual page, picket(1), as roff: the top page, then one section per command.
pub fn man_page() -> std::io::Result<Vec<u8>> {
    let cmd = Cli::command();
    let mut out = Vec::new();
    let man = clap_mangen::Man::new(cmd.clone());
    man.render_title(&mut out)?;
    man.render_name_section(&mut out)?;
    man.render_synopsis_section(&mut out)?;
    man.render_description_section(&mut out)?;
    man.render_options_section(&mut out)?;
    man.render_subcommands_section(&mut out)?;
    // Each command's own options, which the top page lists by name only.
    for sub in cmd.get_subcommands().filter(|s| s.get_name() != "help") {
        let name = format!("picket {}", sub.get_name());
        let sub = sub
            .clone()
            .display_name(name.clone())
            .bin_name(name.clone());
        out.extend_from_slice(format!(".SH \"{}\"\n", name.to_uppercase()).as_bytes());
        let page = clap_mangen::Man::new(sub);
        page.render_description_section(&mut out)?;
        page.render_synopsis_section(&mut out)?;
        page.render_options_section(&mut out)?;
    }
    man.render_version_section(&mut out)?;
    Ok(out)
}

#[cfg(test)]
mod tests {
    #[test]
    fn the_man_page_names_the_commands_and_their_options() {
        let page = String::from_utf8(super::man_page().unwrap()).unwrap();
        for word in [
            "picket",
            "scan",
            "follow",
            "findings",
            "completions",
            "\\-\\-follow",
        ] {
            assert!(page.contains(word), "{word} missing from the man page");
        }
    }
}
