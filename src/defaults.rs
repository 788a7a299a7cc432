//! The defaults of a settings group, exactly as clap would fill them in with nothing set.
//!
//! Every setting's default is written once, in the `#[arg(default_value_t = ...)]` of the
//! group that owns it. Tests and `Default` impls take their values from here instead of
//! repeating them, and never from the environment of the process running them.

use clap::{Args, Command, FromArgMatches};

/// A settings group with every field at its default, ignoring environment variables.
///
/// Panics only if a group has a required setting without a default, which is a bug that
/// every test run would show at once.
pub fn defaults<T: Args + FromArgMatches>() -> T {
    let command = T::augment_args(Command::new("defaults")).mut_args(|arg| arg.env(None::<&str>));
    let matches = command
        .try_get_matches_from(["defaults"])
        .expect("every setting has a default");
    T::from_arg_matches(&matches).expect("defaults parse")
}
