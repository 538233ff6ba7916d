//! The password prompt of the command-line tools (the server's `user add`, the client's
//! `enroll`): from the environment for scripts, else one line of standard input, so that a
//! password never has to appear in a command line or the shell's history.

use std::io::BufRead;

/// The variable a script sets instead of typing the password.
pub const PASSWORD_VAR: &str = "ZOUFANG_PASSWORD";

/// `ZOUFANG_PASSWORD` if set, else the first line of standard input without its line ending.
pub fn read_password() -> std::io::Result<String> {
    if let Ok(p) = std::env::var(PASSWORD_VAR) {
        return Ok(p);
    }
    let mut line = String::new();
    std::io::stdin().lock().read_line(&mut line)?;
    Ok(line.trim_end_matches(['\r', '\n']).to_owned())
}
