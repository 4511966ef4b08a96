//! `vaultgate completions SHELL` and `vaultgate man`: shell completions and the man page,
//! generated from the same clap definitions that parse the command line, so neither drifts.

use std::io::Write;

use clap::CommandFactory;

use super::Cli;

/// The completion script for `shell`, as the shell sources it.
pub fn completions(shell: clap_complete::Shell, out: &mut impl Write) {
    clap_complete::generate(shell, &mut Cli::command(), "vaultgate", out);
}

/// The man page in roff: the main page, then a section per subcommand with its options, so
/// one `man vaultgate` holds the whole command line.
pub fn man(out: &mut impl Write) -> std::io::Result<()> {
    let command = Cli::command();
    clap_mangen::Man::new(command.clone()).render(out)?;
    for sub in command.get_subcommands().filter(|s| !s.is_hide_set()) {
        section(out, &format!("vaultgate {}", sub.get_name()), sub)?;
        for nested in sub.get_subcommands().filter(|s| !s.is_hide_set()) {
            let name = format!("vaultgate {} {}", sub.get_name(), nested.get_name());
            section(out, &name, nested)?;
        }
    }
    Ok(())
}

fn section(out: &mut impl Write, name: &str, command: &clap::Command) -> std::io::Result<()> {
    writeln!(out, ".SH \"{}\"", name.to_uppercase())?;
    if let Some(about) = command.get_long_about().or(command.get_about()) {
        writeln!(out, "{}", about.to_string().replace('\n', " "))?;
    }
    if command.get_arguments().any(|a| !a.is_hide_set()) {
        clap_mangen::Man::new(command.clone()).render_options_section(out)?;
    }
    Ok(())
}
