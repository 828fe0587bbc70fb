//! `warpdrive generate DIR` (hidden): manual pages and shell completions
//! made from the same clap definitions the program parses with, so they
//! cannot drift from it. `make install` runs it from the build.

use std::path::Path;

use clap_complete::Shell;

use crate::fail::Fail;

fn io(what: &Path) -> impl Fn(std::io::Error) -> Fail + '_ {
    move |e| Fail::new(format!("cannot write {}: {e}", what.display()))
}

/// DIR/man/warpdrive.1 and one page per subcommand (warpdrive-list.1, ...),
/// DIR/completions/{warpdrive.bash,_warpdrive,warpdrive.fish}.
pub fn write_all(cmd: clap::Command, dir: &Path) -> Result<(), Fail> {
    let man = dir.join("man");
    let comp = dir.join("completions");
    std::fs::create_dir_all(&man).map_err(io(&man))?;
    std::fs::create_dir_all(&comp).map_err(io(&comp))?;
    clap_mangen::generate_to(cmd.clone(), &man).map_err(io(&man))?;
    for shell in [Shell::Bash, Shell::Zsh, Shell::Fish] {
        let mut c = cmd.clone();
        clap_complete::generate_to(shell, &mut c, "warpdrive", &comp).map_err(io(&comp))?;
    }
    Ok(())
}
